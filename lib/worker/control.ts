// design: the worker's end of the control plane (comlink, never the request path). The
// worker exposes a WorkerApi with comlink on its own control port, separate from the ring spill
// ports and the shim ports: the supervisor awaits ready() (it rejects with the boot error as
// plain data), asks report() for stats, calls drain() on a worker it retires, and close() (the
// app's teardown, bounded) on a drained worker it is about to terminate. Everything here
// runs on the worker's event loop between requests; a worker whose handler holds the thread does
// not answer, which is how the acceptor tells it is unresponsive. The app's onTimeout hook cannot
// be called this way (the worker is stuck when it is needed): it is installed as a global that
// the supervisor calls through the inspector while the worker is paused (control-hooks.ts).
import { expose } from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { MessagePort } from 'node:worker_threads';
import { errorToData } from '../errors.js';
import type { TeardownResult, WorkerApi, WorkerReady, WorkerReport } from '../messages.js';

const MB = 1048576;

/** What the control plane reads from the worker's loop (main.ts). */
export interface ControlSource {
  /** Requests taken and not answered. */
  inflight(): number;
  /** Publish the DRAINING state. */
  publishDraining(): void;
  /** Run the app's teardown for at most `timeoutMs` (resolves at once when it has none). */
  teardown(timeoutMs: number): Promise<TeardownResult>;
}

export class WorkerControlPlane implements WorkerApi {
  /** drain() was called: main.ts publishes DRAINING at every loop turn and calls idle() when nothing is in flight. */
  draining = false;
  /** close() was called: main.ts stops its ring loop (nothing is dispatched to it any more). */
  closing = false;
  /** Milliseconds the thread spent in its blocking idle sleep (main.ts adds to it). */
  sleptMs = 0;
  private source: ControlSource | null = null;
  private readonly booted: Promise<WorkerReady>;
  private settleBoot!: { resolve(r: WorkerReady): void; reject(err: unknown): void };
  private drainWaiters: Array<() => void> = [];
  private closeResult: Promise<TeardownResult> | null = null;
  private lastElu = performance.eventLoopUtilization();
  private lastSlept = 0;

  constructor() {
    this.booted = new Promise((resolve, reject) => (this.settleBoot = { resolve, reject }));
    this.booted.catch(() => {}); // reported when ready() is called
  }

  /** The app loaded: ready() resolves. */
  bootDone(ready: WorkerReady, source: ControlSource): void {
    this.source = source;
    this.lastElu = performance.eventLoopUtilization();
    this.lastSlept = this.sleptMs;
    this.settleBoot.resolve(ready);
  }

  /** The app did not load: ready() rejects with the error as plain data (errors cross threads as plain data). */
  bootFailed(err: unknown): void {
    this.settleBoot.reject(errorToData(err));
  }

  ready(): Promise<WorkerReady> {
    return this.booted;
  }

  report(): WorkerReport {
    const heap = getHeapStatistics();
    // The idle worker sleeps in Atomics.wait inside a loop callback, which the event loop counts
    // as busy: take that sleep back out of the active time.
    const elu = performance.eventLoopUtilization(this.lastElu);
    const slept = this.sleptMs - this.lastSlept;
    this.lastElu = performance.eventLoopUtilization();
    this.lastSlept = this.sleptMs;
    const total = elu.idle + elu.active;
    const busy = Math.max(0, elu.active - slept);
    return {
      heapUsedMb: round1(heap.used_heap_size / MB),
      heapTotalMb: round1(heap.total_heap_size / MB),
      heapLimitMb: round1(heap.heap_size_limit / MB),
      utilization: total > 0 ? Math.round((busy / total) * 1000) / 1000 : 0,
      inflight: this.source?.inflight() ?? 0,
      draining: this.draining,
    };
  }

  drain(): Promise<void> {
    this.draining = true;
    this.source?.publishDraining();
    if ((this.source?.inflight() ?? 0) === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  close(timeoutMs: number): Promise<TeardownResult> {
    if (this.closeResult !== null) return this.closeResult; // asked twice (retired, then the shutdown): one teardown
    this.closing = true;
    this.closeResult = this.source === null ? Promise.resolve({ ok: true, ms: 0 }) : this.source.teardown(timeoutMs);
    return this.closeResult;
  }

  /** main.ts: nothing is in flight any more; settle drain() callers. */
  idle(): void {
    const waiters = this.drainWaiters;
    if (waiters.length === 0) return;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** Expose `plane` on the worker's control port. Its listener also keeps the thread alive while it waits with Atomics.waitAsync. */
export function serveControlPlane(port: MessagePort, plane: WorkerControlPlane): void {
  const api: WorkerApi = {
    ready: () => plane.ready(),
    report: () => plane.report(),
    drain: () => plane.drain(),
    close: (timeoutMs) => plane.close(timeoutMs),
  };
  expose(api, nodeEndpoint(port));
}
