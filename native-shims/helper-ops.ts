// The operations the I/O helper thread runs for parked workers: each takes the op's arguments and
// an AbortSignal (fired at the caller's timeout, or when it cancels), and resolves with the value
// to post back plus the ArrayBuffers to transfer with it (never copied a second time).
import { execFile } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { BodyTooLargeError, JobTimeoutError, UnknownJobError } from '../lib/errors.js';
import type { IoHelperInit, ShimErrorData, ShimExecOptions, ShimFetchResult, ShimOp } from '../lib/messages.js';
import type { JobOutcome } from './job-runner.js';
import { J_STARTED, JOB_START_BYTES } from '../lib/ring/layout.js';
import { transferablesOf } from './wire.js';

const JOB_RUNNER = new URL('./job-runner.js', import.meta.url).href;

/** An error that already is ShimErrorData (a job's, from its pool thread): passed on as it is. */
export class RemoteError extends Error {
  readonly data: ShimErrorData;
  constructor(data: ShimErrorData) {
    super(data.error.message);
    this.data = data;
  }
}

export interface OpResult {
  value: unknown;
  transfer: ArrayBuffer[];
}

const modules = new Map<string, Promise<Record<string, unknown>>>();

/** createSyncFn: the module is imported once per helper thread, on its first call. */
async function runFn(module: string, name: string, args: unknown[]): Promise<OpResult> {
  let mod = modules.get(module);
  if (mod === undefined) {
    mod = import(module) as Promise<Record<string, unknown>>;
    modules.set(module, mod);
    mod.catch(() => modules.delete(module)); // a module that failed to load is retried next call
  }
  const fn = (await mod)[name];
  if (typeof fn !== 'function') {
    const err = new TypeError(`createSyncFn: ${module} has no function export "${name}" (found ${typeof fn})`);
    (err as { code?: string }).code = 'ERR_INVALID_ARG_VALUE';
    throw err;
  }
  const value: unknown = await (fn as (...a: unknown[]) => unknown)(...args);
  return { value, transfer: transferablesOf(value) };
}

async function runFetch(op: Extract<ShimOp, { op: 'fetch' }>, signal: AbortSignal): Promise<OpResult> {
  let res: Response;
  try {
    res = await fetch(op.url, { method: op.method, headers: op.headers, body: op.body, redirect: op.redirect as 'follow' | 'error' | 'manual', signal });
  } catch (err) {
    // undici says "fetch failed" and puts the reason (ECONNREFUSED, ENOTFOUND...) in `cause`.
    const cause = (err as { cause?: { code?: unknown } }).cause;
    if (typeof cause?.code === 'string' && (err as { code?: unknown }).code === undefined) (err as { code?: string }).code = cause.code;
    throw err;
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > op.maxBytes) {
    void res.body?.cancel();
    throw new BodyTooLargeError(`fetchSync: the response body of ${op.url} is ${declared} bytes, over maxBodySize (${op.maxBytes})`);
  }
  const body = await readBody(res, op.maxBytes, op.url, Number.isFinite(declared) ? declared : -1);
  const value: ShimFetchResult = {
    status: res.status,
    statusText: res.statusText,
    url: res.url,
    redirected: res.redirected,
    headers: [...res.headers],
    body,
  };
  return { value, transfer: [body] };
}

/** The whole body in one ArrayBuffer (one copy out of the stream's chunks, none when it came in one). */
async function readBody(res: Response, max: number, url: string, declared: number): Promise<ArrayBuffer> {
  if (res.body === null) return new ArrayBuffer(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > max) {
      void res.body.cancel().catch(() => {});
      throw new BodyTooLargeError(`fetchSync: the response body of ${url} is over maxBodySize (${max} bytes)`);
    }
    chunks.push(chunk);
  }
  if (chunks.length === 1 && transferablesOf(chunks[0]).length === 1) return chunks[0]!.buffer as ArrayBuffer;
  const out = new Uint8Array(declared === total ? declared : total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out.buffer;
}

function runExec(file: string, args: string[], o: ShimExecOptions, signal: AbortSignal): Promise<OpResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { cwd: o.cwd, env: o.env, maxBuffer: o.maxBuffer ?? 64 * 1024 * 1024, killSignal: (o.killSignal ?? 'SIGTERM') as NodeJS.Signals, signal, encoding: 'buffer' },
      (err, stdout, stderr) => {
        if (err === null) {
          const out = new Uint8Array(stdout);
          const errOut = new Uint8Array(stderr);
          resolve({ value: { stdout: out, stderr: errOut }, transfer: [] });
          return;
        }
        const e = err as Error & { code?: unknown; status?: number; stdout?: unknown; stderr?: unknown };
        if (typeof e.code === 'number') {
          e.status = e.code;
          delete e.code;
        }
        e.stdout = new Uint8Array(stdout);
        e.stderr = new Uint8Array(stderr);
        reject(e);
      },
    );
    if (o.input !== undefined) child.stdin?.end(typeof o.input === 'string' ? o.input : Buffer.from(o.input));
  });
}

// ── heavy jobs (piscina) ─────────────────────────────────────────────────────────────────────────
type PiscinaPool = { run(task: unknown, opts: { filename: string; signal?: AbortSignal }): Promise<unknown>; destroy(): Promise<void> };
let pool: Promise<PiscinaPool> | null = null;

function jobPool(init: IoHelperInit): Promise<PiscinaPool> {
  pool ??= import('piscina').then(({ Piscina }) => new Piscina({ maxThreads: init.jobsThreads, minThreads: 0, idleTimeout: 30_000 }) as unknown as PiscinaPool);
  return pool;
}

async function runJob(init: IoHelperInit, name: string, input: unknown, signal: AbortSignal): Promise<OpResult> {
  const job = init.jobs.find((j) => j.name === name);
  if (job === undefined) {
    const known = init.jobs.map((j) => j.name).join(', ') || 'none';
    throw new UnknownJobError(`no job named "${name}" (declared with --jobs: ${known})`);
  }
  const p = await jobPool(init);
  const started = new SharedArrayBuffer(JOB_START_BYTES);
  const limit = new AbortController();
  let timer: NodeJS.Timeout | null = null;
  if (init.jobsTimeoutMs > 0) {
    // --jobs-timeout counts from the moment a pool thread starts the job (see layout.ts).
    const w = Atomics.waitAsync(new Int32Array(started), J_STARTED, 0);
    void Promise.resolve(w.value).then(() => {
      if (!signal.aborted) timer = setTimeout(() => limit.abort(), init.jobsTimeoutMs);
    });
  }
  const both = AbortSignal.any([signal, limit.signal]);
  try {
    const outcome = (await p.run({ url: job.url, input, started }, { filename: JOB_RUNNER, signal: both })) as JobOutcome;
    if (!outcome.ok) throw new RemoteError(outcome.error);
    return { value: outcome.value, transfer: transferablesOf(outcome.value) };
  } catch (err) {
    if (limit.signal.aborted && !signal.aborted) {
      throw new JobTimeoutError(`job "${name}" ran past --jobs-timeout (${init.jobsTimeoutMs / 1000} s) and was stopped`);
    }
    throw err;
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}

export function destroyJobPool(): Promise<void> {
  return pool === null ? Promise.resolve() : pool.then((p) => p.destroy());
}

export function perform(init: IoHelperInit, call: ShimOp, signal: AbortSignal): Promise<OpResult> {
  switch (call.op) {
    case 'fn':
      return runFn(call.module, call.name, call.args);
    case 'fetch':
      return runFetch(call, signal);
    case 'lookup':
      return lookup(call.host, call.options as { all?: boolean }).then((value: unknown) => ({ value, transfer: [] }));
    case 'exec':
      return runExec(call.file, call.args, call.options, signal);
    case 'job':
      return runJob(init, call.name, call.input, signal);
  }
}
