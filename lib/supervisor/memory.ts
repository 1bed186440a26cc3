// design: the memory limits greenserve enforces, and the V8 heap limit each worker is started
// with (docs/decisions/0028-memory-limits.md).
//
// A worker's memory is its V8 old generation in use plus the memory outside the V8 heap that its
// objects hold (Buffers, ArrayBuffers, what native addons report to V8): the limit greenserve
// enforces per worker (--max-worker-memory, or by default node's own heap limit for the machine)
// counts both. V8's own old-generation limit is kept well above it, so that one large
// allocation past greenserve's limit fits and the supervisor stops the worker, instead of V8's
// fatal out-of-memory error, which aborts the whole process. The whole process's resident memory
// is checked against --max-server-memory (by default 90 % of the container's memory limit, where
// there is one): what a container's OOM killer counts.
import { getHeapStatistics } from 'node:v8';
import { totalmem } from 'node:os';

const MB = 1048576;

export interface MemoryLimits {
  /** greenserve's limit per worker (MiB): V8 old generation in use + external memory. */
  workerMb: number;
  /** Where workerMb comes from: 'setting' (--max-worker-memory), 'node-default' or 'max-old-space-size'. */
  workerSource: 'setting' | 'node-default' | 'max-old-space-size';
  /** The resourceLimits.maxOldGenerationSizeMb each worker is started with, or null: node's --max-old-space-size decides (it overrides resourceLimits). */
  v8OldMb: number | null;
  /** V8's old-generation limit a worker really has (MiB). */
  v8EffectiveMb: number;
  /** greenserve's limit for the whole process's resident memory (MiB), 0 = none. */
  serverMb: number;
  /** Where serverMb comes from: 'setting', 'container' (90 % of the cgroup's limit) or 'none'. */
  serverSource: 'setting' | 'container' | 'none';
}

/**
 * The V8 old-generation limit a worker is started with for greenserve's limit `maxMb`: twice it,
 * and at least 512 MiB above it. The supervisor recycles a worker above 80 % of `maxMb` and
 * terminates one above `maxMb` (./arbiter.ts); V8's own limit is only the last resort, because
 * at it node gives a worker 16 MiB more to terminate in, and an allocation larger than what is
 * left then is V8's fatal out-of-memory error, which aborts the whole process.
 */
export function workerHeapLimitMb(maxMb: number): number {
  return Math.max(2 * maxMb, maxMb + 512);
}

/**
 * node's --max-old-space-size as the process was given it (command line or NODE_OPTIONS), MiB,
 * or null. It is every worker's V8 limit: it overrides resourceLimits.maxOldGenerationSizeMb.
 */
export function processOldSpaceMb(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env['NODE_OPTIONS'] ?? ''): number | null {
  let found: number | null = null;
  // NODE_OPTIONS as node reads it: words apart by spaces, a word in double quotes taken whole.
  const words = [...nodeOptions.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
  const args = [...words, ...execArgv];
  for (let i = 0; i < args.length; i++) {
    const m = /^--max[-_]old[-_]space[-_]size(?:=(\d+))?$/.exec(args[i]!);
    if (m === null) continue;
    const v = Number(m[1] ?? args[i + 1]);
    if (Number.isFinite(v) && v > 0) found = v;
  }
  return found;
}

/** The container's memory limit (cgroup), MiB, or null where the process has none below the machine's memory. */
export function containerMemoryMb(): number | null {
  const c = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  if (c === undefined || !Number.isFinite(c) || c <= 0 || c >= totalmem()) return null;
  return Math.floor(c / MB);
}

/** Resolve the limits from --max-worker-memory and --max-server-memory (MiB, 0 = the default). */
export function memoryLimits(maxWorkerMemory: number, maxServerMemory: number): MemoryLimits {
  const flag = processOldSpaceMb();
  let workerMb: number;
  let workerSource: MemoryLimits['workerSource'];
  if (maxWorkerMemory > 0) {
    workerMb = maxWorkerMemory;
    workerSource = 'setting';
  } else if (flag !== null) {
    // V8's limit is fixed at the flag's value: greenserve's own stays below it, with room for
    // one large step (512 MiB, or half of it for a smaller heap).
    workerMb = Math.max(1, flag - Math.min(512, Math.floor(flag / 2)));
    workerSource = 'max-old-space-size';
  } else {
    // node's own default for this machine (V8 sizes it from the physical memory): what a worker
    // died at before. The young generation is counted in; close enough for a limit this size.
    workerMb = Math.floor(getHeapStatistics().heap_size_limit / MB);
    workerSource = 'node-default';
  }
  const v8OldMb = flag === null ? workerHeapLimitMb(workerMb) : null;
  const container = containerMemoryMb();
  const serverMb = maxServerMemory > 0 ? maxServerMemory : container !== null ? Math.floor(container * 0.9) : 0;
  const serverSource = maxServerMemory > 0 ? 'setting' : container !== null ? 'container' : 'none';
  return { workerMb, workerSource, v8OldMb, v8EffectiveMb: v8OldMb ?? flag!, serverMb, serverSource };
}
