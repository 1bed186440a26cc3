// design: what the dashboard shows of each worker thread, read on the acceptor when a status
// snapshot is taken (never per request). State, served count, heap and the request a handler is
// running now come from the control block (lib/ring/control.ts), which each worker writes for its
// own line; the exchange behind that request id, and the requests a worker owes (async handlers,
// requests in its ring), come from the worker's handle (its dispatcher's channel), which only the acceptor touches. A snapshot
// is a best-effort picture: a worker may change state between two loads, which the next one shows.
import { epochNow, type ControlBlock } from '../ring/control.js';
import { WORKER_STATE_NAMES } from '../ring/layout.js';
import type { WorkerHandle } from './worker-handle.js';
import type { Exchange } from './connection.js';

/** Longest request path a snapshot carries (longer ones are cut and end with `…`). */
export const MAX_PATH_CHARS = 200;

export interface WorkerRequest {
  method: string;
  /** the request target without its query string (which may carry secrets), cut to MAX_PATH_CHARS */
  path: string;
  /** how long it has run (running) or been owed (not running), ms; -1 when unknown */
  ageMs: number;
  /** a handler is running it synchronously now; false: the oldest request the worker owes (async in flight, or not read yet) */
  running: boolean;
}

export interface WorkerStatus {
  slot: number;
  /** starting, idle, running, parked, draining or dead, as the worker publishes it */
  state: string;
  /** code generation (0 at start, +1 per reload) */
  generation: number;
  /** started beyond --threads because every worker was blocked */
  elastic: boolean;
  /** takes no new requests (recycled, reloaded, scaled down or killed) */
  retiring: boolean;
  /** responses completed by this worker */
  served: number;
  /** requests dispatched to it and not answered yet */
  inflight: number;
  /** V8 heap in use (MiB), as it last published it */
  heapMb: number;
  request: WorkerRequest | null;
}

/** The status of every live worker, in slot order. */
export function readWorkers(handles: ReadonlyArray<WorkerHandle | null>, control: ControlBlock): WorkerStatus[] {
  const out: WorkerStatus[] = [];
  const epoch = epochNow();
  const now = performance.now();
  for (let i = 0; i < handles.length; i++) {
    const h = handles[i];
    if (h === null || h === undefined) continue;
    const slot = h.slot;
    out.push({
      slot,
      state: WORKER_STATE_NAMES[control.state(slot)] ?? 'unknown',
      generation: h.cohort,
      elastic: h.elastic,
      retiring: h.channel.retiring || h.fate.recycle !== null,
      served: control.served(slot),
      inflight: h.channel.outstanding,
      heapMb: control.heapMb(slot),
      request: requestOf(h, control, epoch, now),
    });
  }
  return out;
}

function requestOf(h: WorkerHandle, control: ControlBlock, epoch: number, now: number): WorkerRequest | null {
  const id = control.currentRequest(h.slot);
  if (id !== 0) {
    const ex = h.channel.exchange(id);
    // The handler of `id` runs now; its exchange may already be answered (the worker published the
    // response and has not stored W_CUR_REQ = 0 yet): then it is shown without a method or path.
    return describe(ex, Math.round(control.runningFor(h.slot, epoch)), true);
  }
  if (h.channel.outstanding === 0) return null;
  const first = h.channel.inFlight().next();
  if (first.done === true) return null;
  const rec = first.value.rec;
  return describe(first.value, rec === null ? -1 : Math.round(now - rec.start), false);
}

function describe(ex: Exchange | undefined, ageMs: number, running: boolean): WorkerRequest {
  if (ex === undefined) return { method: '', path: '', ageMs, running };
  return { method: ex.method, path: pathOf(ex.target), ageMs, running };
}

/** The target without its query string, cut to MAX_PATH_CHARS. */
export function pathOf(target: string): string {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  return path.length <= MAX_PATH_CHARS ? path : `${path.slice(0, MAX_PATH_CHARS - 1)}…`;
}
