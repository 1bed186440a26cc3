// design: the parking mechanism of the blocking shims. A shim call in a request worker
// publishes PARKED in its control-block line (the acceptor then dispatches elsewhere), posts the
// operation to the I/O helper thread on the worker's own shim port, and sleeps in Atomics.wait on
// its SHIM SIGNAL word (always with a timeout). The helper posts the reply, then bumps the word;
// the worker drains its port with receiveMessageOnPort (no 'message' listener: its event loop is
// frozen while parked, and a listener would race the synchronous read), keeps the reply with its
// call id, discards any other (late answers to calls that timed out), restores its previous state
// and returns the value or throws the error with the caller's stack. Layout and invariants of the
// signal words: lib/ring/layout.ts. Message types: lib/messages.ts.
import { isMainThread, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { ShimHelperError, ShimThreadError, ShimTimeoutError } from '../lib/errors.js';
import type { HelperToWorker, ShimOp, ShimPortOffer, WorkerToHelper } from '../lib/messages.js';
import { WorkerControl } from '../lib/ring/control.js';
import { S_HELPER_RESTARTS, S_REPLY, WorkerState } from '../lib/ring/layout.js';
import { shimContext, type ShimContext } from './context.js';
import { shimErrorFromData } from './wire.js';

/** This thread's state (module state is per thread). */
interface Line {
  ctx: ShimContext;
  /** This worker's line of the control block. */
  ctl: WorkerControl;
  sig: Int32Array | null;
  port: MessagePort | null;
  /** The helper restart count (S_HELPER_RESTARTS) `port` belongs to. */
  restarts: number;
  seq: number;
  warned: boolean;
  asyncPort: MessagePort | null;
  asyncRestarts: number;
  pendingAsync: Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout; caller: Function; site: Error }>;
}

let line: Line | null | undefined;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function lineOf(): Line | null {
  if (line !== undefined) return line;
  const ctx = shimContext();
  if (ctx === null) return (line = null);
  line = {
    ctx,
    ctl: new WorkerControl(ctx.control, ctx.slot),
    sig: ctx.shims === null ? null : new Int32Array(ctx.shims.signal),
    port: null,
    restarts: -1,
    seq: 0,
    warned: false,
    asyncPort: null,
    asyncRestarts: -1,
    pendingAsync: new Map(),
  };
  return line;
}

function mainThreadError(what: string, caller: Function): ShimThreadError {
  const err = new ShimThreadError(
    `${what} cannot be called on the main thread: a blocking shim parks the calling thread, and in ` +
      'greenserve the main thread is the acceptor that serves every client. Call it from a request ' +
      'handler (a worker thread); on the main thread use the async API instead.',
  );
  Error.captureStackTrace(err, caller);
  return err;
}

/** Throws on the main thread. */
export function assertWorkerThread(what: string, caller: Function): void {
  if (isMainThread) throw mainThreadError(what, caller);
}

/** The current line, with its helper port up to date; throws when there is no helper to ask. */
function helperLine(what: string, caller: Function): Line & { sig: Int32Array; port: MessagePort } {
  assertWorkerThread(what, caller);
  const l = lineOf();
  if (l === null || l.sig === null) {
    const err = new ShimThreadError(
      `${what} needs greenserve's I/O helper thread, and this thread is not a greenserve request ` +
        'worker (sleep() works in any worker thread; the other shims only inside a greenserve app).',
    );
    Error.captureStackTrace(err, caller);
    throw err;
  }
  const restarts = Atomics.load(l.sig, S_HELPER_RESTARTS);
  if (restarts !== l.restarts || l.port === null) takeOffer(l, restarts);
  return l as Line & { sig: Int32Array; port: MessagePort };
}

/** Read the newest shim port the main thread offered on the broker port. */
function takeOffer(l: Line, restarts: number): void {
  let offer: ShimPortOffer | null = null;
  for (let m = receiveMessageOnPort(l.ctx.shims!.broker); m !== undefined; m = receiveMessageOnPort(l.ctx.shims!.broker)) {
    offer = m.message as ShimPortOffer;
  }
  if (offer !== null) {
    l.port?.close();
    l.port = offer.port;
    l.restarts = offer.restarts;
    return;
  }
  if (l.port === null) throw new ShimHelperError('the I/O helper thread has not offered a shim port (is the server shutting down?)');
  l.restarts = restarts;
}

/** Publish PARKED; returns the state to restore. */
function park(l: Line, what: string): WorkerState {
  const prev = l.ctl.state();
  // A shim called after an await (not inside a handler's synchronous part) while other requests
  // are in flight on this worker freezes them all until it returns.
  if (!l.warned && l.ctl.currentRequest() === 0 && l.ctl.inflight() > 1) {
    l.warned = true;
    l.ctx.warn(
      { shim: what, inflight: l.ctl.inflight() },
      `${what} was called from an async handler while other requests were in flight on this worker: ` +
        'a blocking shim parks the whole thread, so they wait until it returns. Use the async API in ' +
        'async handlers (this warning is logged once per worker). See docs/shims.md.',
    );
  }
  l.ctl.setState(WorkerState.PARKED);
  l.ctx.beforePark();
  return prev;
}

function unpark(l: Line, prev: WorkerState): void {
  l.ctl.setState(prev);
}

function checkTimeout(timeoutMs: number, what: string): void {
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > 2 ** 31 - 1) {
    const err = new RangeError(`${what}: timeout must be a number of milliseconds from 1 to 2147483647 (got ${String(timeoutMs)})`);
    (err as { code?: string }).code = 'ERR_OUT_OF_RANGE';
    throw err;
  }
}

/** Park this thread for `ms` milliseconds (no helper involved). */
export function parkFor(ms: number, caller: Function): void {
  assertWorkerThread('sleep()', caller);
  if (typeof ms !== 'number' || Number.isNaN(ms) || ms < 0) {
    const err = new RangeError(`sleep(): ms must be a number of milliseconds, 0 or more (got ${String(ms)})`);
    (err as { code?: string }).code = 'ERR_OUT_OF_RANGE';
    throw err;
  }
  if (ms === 0) return;
  const l = lineOf();
  const prev = l === null ? 0 : park(l, 'sleep()');
  try {
    // Nobody notifies this word: the wait always runs its full time (terminate() interrupts it).
    Atomics.wait(sleeper, 0, 0, Math.min(ms, 2 ** 31 - 1));
  } finally {
    if (l !== null) unpark(l, prev);
  }
}

/**
 * Run `call` in the I/O helper and wait for its answer, parked. `transfer` moves ArrayBuffers
 * instead of copying them (they are detached here). Throws the operation's error, or
 * ShimTimeoutError after `timeoutMs`.
 */
export function callHelper(what: string, call: ShimOp, timeoutMs: number, transfer: readonly ArrayBuffer[], caller: Function): unknown {
  checkTimeout(timeoutMs, what);
  const l = helperLine(what, caller);
  const { sig, port } = l;
  const id = (l.seq = (l.seq + 1) & 0x3fffffff);
  const restarts = l.restarts;
  const prev = park(l, what);
  try {
    port.postMessage({ kind: 'call', id, timeoutMs, call } satisfies WorkerToHelper, transfer as ArrayBuffer[]);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = Atomics.load(sig, S_REPLY);
      const reply = take(port, id);
      if (reply !== null) {
        if (reply.ok) return reply.value;
        throw shimErrorFromData(reply.error, caller);
      }
      if (Atomics.load(sig, S_HELPER_RESTARTS) !== restarts) {
        throw stamp(new ShimHelperError(`${what}: the I/O helper thread exited while this call waited (it has been restarted)`), caller);
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        port.postMessage({ kind: 'cancel', id } satisfies WorkerToHelper);
        throw stamp(new ShimTimeoutError(`${what} got no answer within ${timeoutMs} ms`), caller);
      }
      Atomics.wait(sig, S_REPLY, seen, left);
    }
  } finally {
    unpark(l, prev);
  }
}

function stamp<E extends Error>(err: E, caller: Function): E {
  Error.captureStackTrace(err, caller);
  return err;
}

/** The reply to call `id`, or null; replies to other ids (late, timed out) are dropped. */
function take(port: MessagePort, id: number): HelperToWorker | null {
  for (;;) {
    const m = receiveMessageOnPort(port);
    if (m === undefined) return null;
    const reply = m.message as HelperToWorker;
    if (reply.id === id) return reply;
  }
}

/**
 * Run `call` in the I/O helper without parking: for async handlers. Replies come back on a second
 * port that has a listener (ref'd only while calls are pending).
 */
export function callHelperAsync(what: string, call: ShimOp, timeoutMs: number, transfer: readonly ArrayBuffer[], caller: Function): Promise<unknown> {
  checkTimeout(timeoutMs, what);
  const l = helperLine(what, caller);
  if (l.asyncPort === null || l.asyncRestarts !== l.restarts) openAsyncPort(l);
  const id = (l.seq = (l.seq + 1) & 0x3fffffff);
  const site = new Error();
  Error.captureStackTrace(site, caller);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      l.pendingAsync.delete(id);
      l.port!.postMessage({ kind: 'cancel', id } satisfies WorkerToHelper);
      if (l.pendingAsync.size === 0) l.asyncPort?.unref();
      const err = new ShimTimeoutError(`${what} got no answer within ${timeoutMs} ms`);
      err.stack = `${err.name}: ${err.message}\n${String(site.stack).split('\n').slice(1).join('\n')}`;
      reject(err);
    }, timeoutMs);
    l.pendingAsync.set(id, { resolve, reject, timer, caller, site });
    l.asyncPort!.ref();
    l.port!.postMessage({ kind: 'call', id, timeoutMs, call, async: true } satisfies WorkerToHelper, transfer as ArrayBuffer[]);
  });
}

function openAsyncPort(l: Line): void {
  l.asyncPort?.close();
  const { port1, port2 } = new MessageChannel();
  l.port!.postMessage({ kind: 'async-port', port: port2 } satisfies WorkerToHelper, [port2]);
  port1.on('message', (reply: HelperToWorker) => {
    const p = l.pendingAsync.get(reply.id);
    if (p === undefined) return;
    l.pendingAsync.delete(reply.id);
    clearTimeout(p.timer);
    if (l.pendingAsync.size === 0) port1.unref();
    if (reply.ok) p.resolve(reply.value);
    else p.reject(shimErrorFromData(reply.error, p.caller, p.site.stack));
  });
  port1.unref();
  l.asyncPort = port1;
  l.asyncRestarts = l.restarts;
}
