// design: the worker pool, as the supervisor sees it. Each worker thread gets a free slot (a line
// of the control block) and its own pair of rings and spill channels; a WorkerHandle
// (lib/acceptor/worker-handle.ts) is how the acceptor and the supervisor see it; of it, the pool
// writes only its life (WorkerLife, here: booting, ready, stopping, exited). A slot is free again
// only once its thread has exited, and a new worker always gets fresh rings, so nothing stale can
// be read from the old ones. The pool only reports: ready, boot
// failure and exit are events for the supervisor (./arbiter.ts), which decides what to do.
// Readiness, per-worker reports, drain and close go over each worker's control port with comlink
// (lib/worker/control.ts), never over the rings; a call that does not come back in time means
// the worker's event loop is not turning. A worker stopped on purpose (retire, stop) whose app
// has a teardown hook is asked to close() first, bounded by TEARDOWN_MS and a timer here (a thread
// stuck in its teardown never answers), then terminated; any other is terminated at once.
import { MessageChannel, Worker } from 'node:worker_threads';
import { WorkerHandle, type ExitReason, type FateView, type LifeView } from '../acceptor/worker-handle.js';
import { BootTimeoutError, errorFromData, WorkerCrashedError, type ErrorData } from '../errors.js';
import type { Logger } from '../log.js';
import type { AppHookName, AppInterface, TeardownResult, WorkerInit, WorkerReport } from '../messages.js';
import { ControlBlock, epochNow } from '../ring/control.js';
import { DEFAULT_RING_CAPACITY, WORKER_STATE_NAMES, WorkerState } from '../ring/layout.js';
import { createRingBuffer } from '../ring/ring.js';

// The supervisor's modules name the handle and exit reasons through the pool that makes them.
export { WorkerHandle, type ExitReason };

export interface PoolOptions {
  threads: number;
  appUrl: string;
  appExport: string | null;
  interface: AppInterface;
  /** --bind, for the address an app's own listen()ed server reports. */
  bind: readonly string[];
  maxHeaderSize: number;
  keepAliveMs: number;
  serverHeader: boolean;
  requestIdHeader: string;
  threadConcurrency: number;
  /** --timeout in ms (0 = off): a long-idle worker beats often enough not to look unresponsive. */
  timeoutMs?: number;
  logLevel: string;
  /** Where each worker's log records go (--error-log, --capture-output; lib/log.ts). */
  errorLog?: import('../messages.js').WorkerLogInit;
  /** ms a worker may take to load the app (0 = no limit). */
  bootTimeoutMs: number;
  /** The V8 old-generation limit each worker is started with (MiB; ./memory.ts), or null: node's --max-old-space-size decides. */
  v8OldGenerationMb: number | null;
  /** --max-requests and --max-requests-jitter: each worker draws its own limit. */
  maxRequests: number;
  maxRequestsJitter: number;
  ringCapacity?: number;
  /** Hands each new worker its line to the I/O helper thread (blocking shims, native-shims/). */
  ioHelper?: { attach(slot: number): import('../messages.js').ShimChannel } | null;
  /** Where a teardown that failed or overran is reported (one line per worker). */
  log?: Logger;
}

/**
 * The longest an app's teardown(ctx) may run (ms) when a worker stops on purpose; less when the
 * worker's --graceful-timeout deadline is closer. Past it the worker is terminated anyway.
 */
export const TEARDOWN_MS = 5000;
/** How much longer than the bound the supervisor waits for close() to answer (the reply's own trip). */
const CLOSE_ANSWER_MS = 250;
/**
 * The least time stop() waits for a terminated worker's thread to exit (what is left of
 * --graceful-timeout when that is longer). terminate() stops JavaScript, a busy loop or an
 * Atomics.wait within milliseconds; only a thread blocked in a native call takes longer, and it
 * takes as long as that call (measured: an execSync('sleep 3') took 2.9 s to die).
 */
export const EXIT_WAIT_MS = 1000;

/**
 * The heartbeat period of a worker asleep in its event loop (long idle): a quarter of --timeout
 * (the supervisor calls a worker unresponsive after a whole --timeout without a beat), at most
 * 5 s: with the default --timeout (30 s), 100 idle threads wake 20 times a second in all.
 */
export function idleBeatMs(timeoutMs: number): number {
  return timeoutMs === 0 ? 5000 : Math.max(10, Math.min(5000, Math.floor(timeoutMs / 4)));
}

/** What `stats({ detail: true })` adds to a worker: its own report over the control plane, and the request it runs. */
export interface WorkerDetail {
  /**
   * It answered the control plane within the timeout. False: its event loop is not turning (a
   * handler holds the thread, it is parked in a blocking shim, or it is stuck), or it is not
   * ready yet or exiting.
   */
  responsive: boolean;
  /** The worker's own report (heap used, reserved and limit, utilization, in flight), or null when it did not answer. */
  report: WorkerReport | null;
  /** The handler running on the thread now, as the acceptor knows it (also for a stuck worker), or null. */
  current: { reqId: number; method: string; path: string; runningMs: number } | null;
  /** The app hooks its ready() reported (e.g. onTimeout). */
  hooks: AppHookName[];
}

export interface PoolEvents {
  /** A worker loaded the app and can serve. */
  ready(handle: WorkerHandle): void;
  /** A worker did not become ready (the app did not load, boot timeout, died while booting). */
  bootFailed(handle: WorkerHandle, error: Error): void;
  /** A worker that was ready is gone; its exchanges must be answered or re-dispatched. */
  exited(handle: WorkerHandle, reason: ExitReason, error: Error | null): void;
}

/** The pool's part of a worker's handle (LifeView): written here only. */
class WorkerLife implements LifeView {
  ready = false;
  dead = false;
  stopping = false;
  interface: 'node' | 'fetch' | null = null;
  detail = '';
  hooks: AppHookName[] = [];
  booted!: Promise<WorkerHandle>;
  closing: Promise<void> | null = null;
}

/** `h`'s life, writable: the handle shows it to everyone else read-only. */
function lifeOf(h: WorkerHandle): WorkerLife {
  const life = h.life;
  if (!(life instanceof WorkerLife)) throw new TypeError(`worker ${h.slot} was not started by a pool`);
  return life;
}

export class Pool {
  readonly control: ControlBlock;
  readonly handles: Array<WorkerHandle | null>;
  private readonly o: PoolOptions;
  private readonly events: PoolEvents;
  private stopping = false;
  /** close(false) / SIGQUIT: teardowns running now are cut short, none start. */
  private cut = false;
  private readonly cutWaiters = new Set<() => void>();
  /** live()'s list; null once a worker started or exited since it was built. */
  private liveList: WorkerHandle[] | null = null;

  constructor(o: PoolOptions, control: ControlBlock, events: PoolEvents) {
    this.o = o;
    this.control = control;
    this.events = events;
    this.handles = new Array<WorkerHandle | null>(control.slots).fill(null);
  }

  /**
   * Start --threads workers; resolves when all are ready, rejects with the first boot error.
   * `fate` makes each one's supervisor part (the arbiter's: see spawn).
   */
  async start(fate: () => FateView): Promise<void> {
    const boots: Array<Promise<WorkerHandle>> = [];
    for (let i = 0; i < this.o.threads; i++) boots.push(this.spawn(0, fate()).life.booted);
    const results = await Promise.allSettled(boots);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.stop(TEARDOWN_MS); // the workers whose setup ran get their teardown
      throw failed.reason;
    }
  }

  /**
   * Live workers (ready, booting, retiring, or terminated and not exited yet), in slot order. The
   * supervisor asks several times per tick, and readiness probes ask too: the list is built again
   * only when a worker starts or exits (a new array then, so one being iterated stays as it was).
   */
  live(): readonly WorkerHandle[] {
    return (this.liveList ??= this.handles.filter((h): h is WorkerHandle => h !== null));
  }

  /**
   * Start a worker in the first free slot; `handle.booted` settles once it is ready (its app
   * loaded) or failed. Every worker imports the app afresh (the ESM cache is per thread), so a
   * worker started after the code changed runs the new code. `fate` is the supervisor's part of
   * its handle (the arbiter makes it and alone writes it).
   */
  spawn(cohort: number, fate: FateView, elastic = false): WorkerHandle {
    const slot = this.handles.indexOf(null);
    if (slot < 0) throw new WorkerCrashedError(`no free worker slot (${this.handles.length} in use)`);
    this.control.resetSlot(slot);
    const capacity = this.o.ringCapacity ?? DEFAULT_RING_CAPACITY;
    const reqRing = createRingBuffer(capacity);
    const resRing = createRingBuffer(capacity);
    const reqChannel = new MessageChannel();
    const resChannel = new MessageChannel();
    const ctlChannel = new MessageChannel();
    const shims = this.o.ioHelper?.attach(slot) ?? null;
    const init: WorkerInit = {
      slot,
      cohort,
      appUrl: this.o.appUrl,
      appExport: this.o.appExport,
      interface: this.o.interface,
      bind: this.o.bind,
      bootTimeoutMs: this.o.bootTimeoutMs,
      control: this.control.i32.buffer as SharedArrayBuffer,
      requestRing: reqRing,
      responseRing: resRing,
      requestSpill: reqChannel.port2,
      responseSpill: resChannel.port1,
      maxHeaderSize: this.o.maxHeaderSize,
      keepAliveMs: this.o.keepAliveMs,
      serverHeader: this.o.serverHeader,
      requestIdHeader: this.o.requestIdHeader,
      threadConcurrency: this.o.threadConcurrency,
      idleBeatMs: idleBeatMs(this.o.timeoutMs ?? 0),
      logLevel: this.o.logLevel,
      ...(this.o.errorLog === undefined ? {} : { errorLog: this.o.errorLog }),
      shims,
      controlPort: ctlChannel.port2,
    };
    const thread = new Worker(new URL('../worker/main.js', import.meta.url), {
      workerData: init,
      transferList: shims === null
        ? [reqChannel.port2, resChannel.port1, ctlChannel.port2]
        : [reqChannel.port2, resChannel.port1, ctlChannel.port2, shims.broker],
      name: `greenserve-worker-${slot}`,
      ...(this.o.v8OldGenerationMb !== null ? { resourceLimits: { maxOldGenerationSizeMb: this.o.v8OldGenerationMb } } : {}),
    });
    const { maxRequests, maxRequestsJitter } = this.o;
    const life = new WorkerLife();
    const handle = new WorkerHandle({
      slot,
      thread,
      cohort,
      elastic,
      maxRequests: maxRequests > 0 ? maxRequests + Math.floor(Math.random() * (maxRequestsJitter + 1)) : 0,
      reqRing,
      resRing,
      reqSpill: reqChannel.port1,
      resSpill: resChannel.port2,
      controlPort: ctlChannel.port1,
      life,
      fate,
    });
    this.handles[slot] = handle;
    this.liveList = null;
    life.booted = this.watch(handle, life);
    life.booted.catch(() => {}); // reported through events.bootFailed; start() awaits it too
    return handle;
  }

  private watch(handle: WorkerHandle, life: WorkerLife): Promise<WorkerHandle> {
    return new Promise((resolve, reject) => {
      let lastError: Error | null = null;
      const bootMs = this.o.bootTimeoutMs;
      const bootTimer = bootMs > 0 ? setTimeout(() => {
        lastError = new BootTimeoutError(`worker ${handle.slot} did not load the app within --boot-timeout ${bootMs / 1000} s`);
        void handle.thread.terminate();
      }, bootMs) : null;
      bootTimer?.unref();
      handle.api.ready().then(
        (ready) => {
          if (life.dead) return;
          if (bootTimer !== null) clearTimeout(bootTimer);
          life.ready = true;
          life.interface = ready.interface;
          life.detail = ready.detail;
          life.hooks = ready.hooks;
          resolve(handle);
          this.events.ready(handle);
        },
        (data: unknown) => {
          lastError = bootError(data);
          void handle.thread.terminate();
        },
      );
      handle.thread.on('error', (err) => {
        lastError = err;
      });
      handle.thread.on('exit', (code) => {
        if (bootTimer !== null) clearTimeout(bootTimer);
        handle.controlPort.close(); // a call still pending never settles; nothing waits on it unbounded
        const wasReady = life.ready;
        life.dead = true;
        life.ready = false;
        this.control.setState(handle.slot, WorkerState.DEAD);
        if (this.handles[handle.slot] === handle) {
          this.handles[handle.slot] = null;
          this.liveList = null;
        }
        if (!wasReady) {
          const err = lastError ?? new WorkerCrashedError(`worker ${handle.slot} exited with code ${code} while booting`);
          reject(err);
          this.events.bootFailed(handle, err);
          return;
        }
        this.events.exited(handle, this.exitReason(handle, lastError), lastError);
      });
    });
  }

  private exitReason(h: WorkerHandle, err: Error | null): ExitReason {
    if (h.fate.killReason !== null) return h.fate.killReason;
    if (h.life.stopping || this.stopping) return 'stopped';
    if ((err as NodeJS.ErrnoException | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY') return 'out-of-memory';
    return err !== null ? 'crashed' : 'exited';
  }

  /**
   * Ask a worker for its report over the control plane; null when it does not answer within
   * `timeoutMs` (a handler holds its thread, it is parked in a blocking shim, or it is exiting).
   */
  report(h: WorkerHandle, timeoutMs: number): Promise<WorkerReport | null> {
    if (!h.life.ready || h.life.dead) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      timer.unref();
      h.api.report().then(
        (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        () => {
          clearTimeout(timer);
          resolve(null);
        },
      );
    });
  }

  /** The detail of each worker in `handles`, by slot; every call is bounded by `timeoutMs`. */
  async details(handles: WorkerHandle[], timeoutMs: number): Promise<Map<number, WorkerDetail>> {
    const reports = await Promise.all(handles.map((h) => this.report(h, timeoutMs)));
    const out = new Map<number, WorkerDetail>();
    const now = epochNow();
    handles.forEach((h, i) => {
      const report = reports[i] ?? null;
      out.set(h.slot, { responsive: report !== null, report, current: this.current(h, now), hooks: [...h.life.hooks] });
    });
    return out;
  }

  private current(h: WorkerHandle, now: number): WorkerDetail['current'] {
    const reqId = this.control.currentRequest(h.slot);
    if (reqId === 0) return null;
    const ex = h.channel.exchange(reqId) ?? h.fate.settledExchanges?.get(reqId);
    const runningMs = Math.round(this.control.runningFor(h.slot, now));
    const path = ex === undefined ? '' : ex.target.length > 200 ? `${ex.target.slice(0, 200)}...` : ex.target;
    return { reqId, method: ex?.method ?? '', path, runningMs };
  }

  /**
   * Stop one worker on purpose (it has drained: nothing left to do): its exit is reported as
   * 'stopped'. Its teardown runs first, within TEARDOWN_MS or what is left of its --graceful-timeout
   * (its fate's retireBy), whichever is shorter.
   */
  retire(h: WorkerHandle): void {
    const life = lifeOf(h);
    if (life.stopping) return;
    life.stopping = true;
    const retireBy = h.fate.retireBy;
    const left = retireBy > 0 ? retireBy - epochNow() : TEARDOWN_MS;
    void this.finish(h, Math.min(TEARDOWN_MS, left));
  }

  /** Whether the pool is shutting down (no respawns). */
  get isStopping(): boolean {
    return this.stopping;
  }

  /**
   * Stop every worker. A ready worker with nothing owed whose app has a teardown hook runs it first,
   * for at most min(TEARDOWN_MS, `teardownMs`); the others are terminated at once. `teardownMs` 0:
   * no teardown (an immediate stop). Resolves once every worker has exited, or once one that was
   * told to terminate has not exited within `teardownMs` of the call (at least EXIT_WAIT_MS after
   * its terminate(); EXIT_WAIT_MS after a cut): a thread blocked in a native call cannot be stopped
   * until the call returns. Each such worker gets an error line; it stays in live() until it exits.
   * (The dispatcher has been told to send them nothing more: Arbiter.stop.)
   */
  async stop(teardownMs = 0): Promise<void> {
    this.stopping = true;
    const bound = this.cut ? 0 : Math.min(TEARDOWN_MS, teardownMs);
    const exitBy = performance.now() + teardownMs;
    await Promise.all(this.live().map(async (h) => {
      lifeOf(h).stopping = true;
      // Requests still owed (the drain ran out of --graceful-timeout): it did not drain, no teardown.
      await this.finish(h, h.channel.outstanding === 0 && h.channel.unsent === 0 ? bound : 0);
      const waitMs = Math.max(EXIT_WAIT_MS, exitBy - performance.now());
      if (!(await this.exited(h, waitMs))) this.reportStuck(h, waitMs);
    }));
  }

  /** Whether the (terminated) worker's thread exits within `ms`, or EXIT_WAIT_MS after a cut. */
  private exited(h: WorkerHandle, ms: number): Promise<boolean> {
    if (h.life.dead) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer = setTimeout(() => done(false), ms);
      // close(false) during a graceful stop: wait no longer than an immediate stop would.
      const cut = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => done(false), EXIT_WAIT_MS);
      };
      const onExit = (): void => done(true);
      const done = (exited: boolean): void => {
        clearTimeout(timer);
        this.cutWaiters.delete(cut);
        h.thread.off('exit', onExit);
        resolve(exited);
      };
      if (!this.cut) this.cutWaiters.add(cut);
      h.thread.once('exit', onExit);
    });
  }

  /** One error line for a worker whose thread did not exit when told to: what it runs, as far as the acceptor knows. */
  private reportStuck(h: WorkerHandle, waitedMs: number): void {
    const current = this.current(h, epochNow());
    const what = current === null
      ? 'it runs no request (blocked outside a handler)'
      : `it runs ${current.method === '' ? 'request' : `${current.method} ${current.path}, request`} ${current.reqId}, for ${current.runningMs} ms`;
    this.o.log?.error(
      { slot: h.slot, thread: h.threadId, state: WORKER_STATE_NAMES[this.control.state(h.slot)], current, waitedMs: Math.round(waitedMs) },
      `worker ${h.slot} (thread ${h.threadId}) did not exit ${Math.round(waitedMs)} ms after terminate(): ${what}; ` +
        'blocked in a native call (execSync, a synchronous native addon), which cannot be interrupted: ' +
        'stopping without it; the thread lives on until the call returns',
    );
  }

  /** close(false) / SIGQUIT: cut the teardowns running now short (their workers are terminated), start none. */
  stopNow(): void {
    this.cut = true;
    for (const wake of this.cutWaiters) wake();
    this.cutWaiters.clear();
  }

  /** Run the worker's teardown if it has one (bounded by `boundMs`), then terminate it. Idempotent. */
  private finish(h: WorkerHandle, boundMs: number): Promise<void> {
    const life = lifeOf(h);
    if (life.closing !== null) return life.closing;
    const tearDown = life.ready && !life.dead && h.fate.killReason === null && life.hooks.includes('teardown') && boundMs > 0 && !this.cut;
    life.closing = (tearDown ? this.tearDown(h, Math.round(boundMs)) : Promise.resolve()).then(() => {
      void h.thread.terminate();
    });
    return life.closing;
  }

  /** Ask the worker to close() and wait for its answer, its exit, the bound (plus the reply's trip) or a cut. */
  private async tearDown(h: WorkerHandle, boundMs: number): Promise<void> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let wake: () => void = () => {};
    const result = await new Promise<TeardownResult | 'exited' | 'unanswered' | 'cut'>((resolve) => {
      timer = setTimeout(() => resolve('unanswered'), boundMs + CLOSE_ANSWER_MS);
      wake = () => resolve('cut');
      this.cutWaiters.add(wake);
      h.thread.once('exit', () => resolve('exited'));
      h.api.close(boundMs).then(resolve, (err: unknown) => resolve({ ok: false, error: String((err as Error | null)?.message ?? err), ms: 0 }));
    });
    clearTimeout(timer);
    this.cutWaiters.delete(wake);
    const ms = Math.round(performance.now() - started);
    const fields = { slot: h.slot, thread: h.threadId, teardownMs: ms };
    if (result === 'unanswered' || (typeof result === 'object' && result.timedOut === true)) {
      const how = result === 'unanswered' ? ' (its thread did not answer)' : '';
      this.o.log?.warn({ ...fields, boundMs }, `worker ${h.slot} teardown() did not finish within ${boundMs} ms${how}; terminating the worker`);
    } else if (result === 'cut') {
      this.o.log?.warn(fields, `worker ${h.slot} teardown() cut short by an immediate stop; terminating the worker`);
    } else if (result === 'exited') {
      this.o.log?.warn(fields, `worker ${h.slot} exited during its teardown()`);
    } else if (!result.ok) {
      this.o.log?.error({ ...fields, error: result.error }, `worker ${h.slot} teardown() failed: ${firstLine(result.error)}; terminating the worker`);
    } else {
      this.o.log?.debug(fields, `worker ${h.slot} teardown() done in ${result.ms} ms`);
    }
  }
}

function firstLine(text: string | undefined): string {
  return (text ?? 'unknown error').split('\n', 1)[0]!;
}

/** A boot error as the worker's ready() rejected with it: plain ErrorData (errors cross threads as plain data). */
function bootError(data: unknown): Error {
  if (typeof data === 'object' && data !== null && typeof (data as ErrorData).code === 'string') return errorFromData(data as ErrorData);
  return new WorkerCrashedError(`worker failed to start: ${String((data as Error | null)?.message ?? data)}`);
}
