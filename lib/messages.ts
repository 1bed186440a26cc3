// design: every message that crosses a thread boundary outside the rings is typed here. The
// request path never uses these (it goes through the rings); this is the control plane: boot,
// readiness, stats, drain and hooks (WorkerApi, over comlink), and the blocking shims' ports.
import type { MessagePort } from 'node:worker_threads';
import type { ErrorData } from './errors.js';

export type AppInterface = 'auto' | 'node' | 'fetch';

/**
 * The end of a worker's app detail when the app called listen() itself (lib/worker/listen.ts),
 * after `; it calls listen(...): `: the main thread logs it once (lib/server.ts).
 */
export const LISTEN_IGNORED = 'its own address is ignored, greenserve serves it on --bind';

/** workerData of a request worker. */
export interface WorkerInit {
  slot: number;
  /** The code generation it belongs to (0 at start, +1 per reload): the app hooks' ctx.generation. */
  cohort: number;
  /** The app module as a file: URL (or other importable URL), and the export to use. */
  appUrl: string;
  appExport: string | null;
  interface: AppInterface;
  /** --bind, as given: what an app's own listen()ed server reports as its address (lib/worker/listen.ts). */
  bind: readonly string[];
  /** --boot-timeout in ms (0: none): how long an app that exports nothing may take to call listen(). */
  bootTimeoutMs: number;
  control: SharedArrayBuffer;
  requestRing: SharedArrayBuffer;
  responseRing: SharedArrayBuffer;
  /** Spill ports: requestSpill receives oversized request frames, responseSpill sends responses. */
  requestSpill: MessagePort;
  responseSpill: MessagePort;
  /** Max bytes of a request head the worker's parser must accept (as the acceptor framed it). */
  maxHeaderSize: number;
  keepAliveMs: number;
  /** Add `Server: greenserve` to responses that do not set their own. */
  serverHeader: boolean;
  /** Lower-case header the app sees a request id in (frames whose sub-header carries one). */
  requestIdHeader: string;
  threadConcurrency: number;
  /** Heartbeat period (ms) of a thread asleep in the event loop (long idle): well under --timeout's unresponsive limit. */
  idleBeatMs: number;
  logLevel: string;
  /** Where this thread's log records go (lib/log.ts reads it from workerData). */
  errorLog?: WorkerLogInit;
  /** The worker's line to the I/O helper thread that runs the blocking shims (native-shims/). */
  shims?: ShimChannel | null;
  /** The worker's end of its control port (comlink, WorkerApi). */
  controlPort: MessagePort;
}

/**
 * A worker thread's log destination (--error-log, --capture-output). lib/log.ts finds it in the
 * thread's workerData under `errorLog` when it loads, before the app does.
 */
export interface WorkerLogInit {
  /** `-` for standard error, or a file path (appended to). */
  target: string;
  /** Int32 [0]: bumped by the acceptor on SIGUSR1; a thread that sees a new value reopens the file before its next line. */
  reopen: SharedArrayBuffer;
  /** --capture-output: console calls become log records. */
  captureOutput: boolean;
  /** Write records as text, not JSON (--log-format, as the main thread resolved `auto`). */
  text?: boolean;
}


// ── the control plane (comlink, lib/worker/control.ts) ─────────────────────────────────────────
// Each worker exposes a WorkerApi with comlink on its own control port (never the spill ports,
// never the request path): the supervisor asks it whether it booted, how it is doing, to drain,
// and to run the app's teardown before it stops. A stuck worker does not answer it: its event
// loop does not turn.

/** The app hooks a worker may find in the app module (docs/signals.md, "App hooks"). */
export type AppHookName = 'setup' | 'teardown' | 'onTimeout';

/** What the app's setup(ctx) and teardown(ctx) get (frozen): the same object for both. */
export interface HookContext {
  /** The worker's slot (the `worker` of log lines and `slot` of stats). */
  worker: number;
  /** The worker thread's threadId. */
  threadId: number;
  /** The code generation (0 at start, +1 per reload), as `generation` in stats(). */
  generation: number;
}

/** What `WorkerApi.close()` resolves with: how the app's teardown went. */
export interface TeardownResult {
  /** It returned (or its promise fulfilled) within the bound. */
  ok: boolean;
  /** Why not: the error's stack (or message), or that it did not settle within the bound. */
  error?: string;
  /** It did not settle within the bound. */
  timedOut?: boolean;
  /** How long it ran, ms. */
  ms: number;
}

/** What `WorkerApi.ready()` resolves with once the app loaded. */
export interface WorkerReady {
  interface: 'node' | 'fetch';
  /** What was found, for the startup banner. */
  detail: string;
  /** The hooks the app exports. */
  hooks: AppHookName[];
}

/** What `WorkerApi.report()` answers (per-worker stats). */
export interface WorkerReport {
  /** V8 heap: in use, reserved, and the limit (--max-worker-memory, else node's default), MiB. */
  heapUsedMb: number;
  heapTotalMb: number;
  heapLimitMb: number;
  /** Share of the time since the previous report (or the boot) the thread was busy, 0..1: its event loop's utilization, counting the blocking idle sleep as idle. */
  utilization: number;
  /** Requests the worker has taken and not answered (async handlers in flight). */
  inflight: number;
  /** drain() was called. */
  draining: boolean;
}

/** The API a worker exposes on its control port (lib/worker/control.ts). */
export interface WorkerApi {
  /** Resolves once the app loaded; rejects with the load error as ErrorData. */
  ready(): Promise<WorkerReady>;
  report(): WorkerReport;
  /** Publish DRAINING (the worker takes no new request) and resolve once nothing is in flight. */
  drain(): Promise<void>;
  /**
   * The worker is about to be terminated after it drained: stop its ring loop and run the app's
   * teardown(ctx), for at most `timeoutMs`; resolves with how it went (never rejects).
   */
  close(timeoutMs: number): Promise<TeardownResult>;
}

/** The WorkerApi as the acceptor calls it through comlink: every method answers asynchronously. */
export type WorkerApiRemote = { [K in keyof WorkerApi]: (...args: Parameters<WorkerApi[K]>) => Promise<Awaited<ReturnType<WorkerApi[K]>>> };

/**
 * The global (a Symbol.for key) under which a worker keeps a caller for the app's onTimeout hook,
 * evaluated through the inspector while the worker is paused (lib/supervisor/inspect.ts). It takes
 * the TimeoutInfo as JSON and returns a TimeoutHookResult as JSON.
 */
export const TIMEOUT_HOOK_GLOBAL = 'greenserve.onTimeout';

/** What the app's onTimeout(info) gets. */
export interface TimeoutInfo {
  /** 'timeout' (a handler past --timeout) or 'unresponsive' (the event loop stuck outside any request). */
  reason: string;
  method: string | null;
  path: string | null;
  /** The request id (--request-id-header) when requests carry one, else null. */
  requestId: string | null;
  elapsedMs: number;
  /** The worker's threadId and slot. */
  thread: number;
  slot: number;
}

export type TimeoutHookResult = { ok: true; value: unknown; note?: string } | { ok: false; error: string };

// ── blocking shims (native-shims/) ──────────────────────────────────────────────────────────────
// A worker talks to the I/O helper thread over its own shim port (requests out, replies read back
// with receiveMessageOnPort while parked). The port itself arrives on the broker port, so that a
// replaced helper can hand out a new one; see the SHIM SIGNAL in lib/ring/layout.ts.

/** What a request worker gets to reach the I/O helper. */
export interface ShimChannel {
  /** Receives `ShimPortOffer`s (read with receiveMessageOnPort, never a listener). */
  broker: MessagePort;
  /** SHIM_SIGNAL_BYTES: S_REPLY, S_HELPER_RESTARTS. */
  signal: SharedArrayBuffer;
  /** --jobs-timeout in ms (0 = none): jobs.runSync waits a little longer than this by default. */
  jobsTimeoutMs: number;
}

/** Main thread -> worker, on the broker port: the shim port of the current helper. */
export interface ShimPortOffer {
  type: 'shim-port';
  /** The helper's restart count this port belongs to (S_HELPER_RESTARTS). */
  restarts: number;
  port: MessagePort;
}

/** workerData of the I/O helper thread. */
export interface IoHelperInit {
  /** Heavy-job modules by name (file: URLs), run by the helper's piscina pool. */
  jobs: Array<{ name: string; url: string }>;
  jobsThreads: number;
  /** Per-job time limit (ms); 0 = none. */
  jobsTimeoutMs: number;
  logLevel: string;
}

/** Main thread -> I/O helper: serve a worker's shim port. */
export type MainToHelper = { type: 'attach'; slot: number; port: MessagePort; signal: SharedArrayBuffer } | { type: 'close' };

/** The operations a shim asks the helper for. Bodies travel as transferred ArrayBuffers. */
export type ShimOp =
  | { op: 'fn'; module: string; name: string; args: unknown[] }
  | { op: 'fetch'; url: string; method: string; headers: Array<[string, string]>; body: ArrayBuffer | Uint8Array | string | null; redirect: string; maxBytes: number }
  | { op: 'lookup'; host: string; options: { family?: number; all?: boolean; verbatim?: boolean } }
  | { op: 'exec'; file: string; args: string[]; options: ShimExecOptions }
  | { op: 'job'; name: string; input: unknown };

export interface ShimExecOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string | ArrayBuffer;
  maxBuffer?: number;
  killSignal?: string;
}

/** Worker -> I/O helper, on the shim port (or the async port for `async: true` calls). */
export type WorkerToHelper =
  | { kind: 'call'; id: number; timeoutMs: number; call: ShimOp; async?: boolean }
  | { kind: 'cancel'; id: number }
  | { kind: 'async-port'; port: MessagePort };

/** An error as it crosses from the helper: ErrorData plus its other plain own properties. */
export interface ShimErrorData {
  error: ErrorData;
  /** Whether the original had a `code` (ErrorData always carries one). */
  hadCode: boolean;
  /** errno, syscall, hostname, status, stdout..., as long as they are plain values. */
  props: Record<string, unknown>;
}

/** I/O helper -> worker. */
export type HelperToWorker = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: ShimErrorData };

/** What the fetch op returns (the body is a transferred ArrayBuffer). */
export interface ShimFetchResult {
  status: number;
  statusText: string;
  url: string;
  redirected: boolean;
  headers: Array<[string, string]>;
  body: ArrayBuffer;
}
