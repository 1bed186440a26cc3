// design: the supervisor (gunicorn's arbiter), on the acceptor thread. A queue and a
// loop. Signals, library calls and worker events (ready, boot failure, exit) only enqueue; one
// loop (run) handles the queue in order, then does its verbs on what the workers publish in the
// control block: murder (a handler past --timeout, a heartbeat that stopped), recycle
// (--max-requests, --max-worker-memory), reap (retiring workers that finished their work), and
// manage (spawn up to the thread count, with backoff when failures repeat: ./backoff.ts; retire extras), then
// the elastic-threads policy (./elastic.ts: it decides, this loop spawns and retires). A 100 ms
// ticker enqueues a 'tick', so deadlines are checked at that grain. Nothing here blocks.
//
// A worker is replaced replacement-first: one that is recycled or reloaded keeps serving until
// enough workers of the current generation are ready, then it is marked retiring (the dispatcher
// sends it nothing more), finishes what it has, and is stopped. A worker that is killed or dies
// is settled: the requests it had started are answered (504 for the one past its deadline, 502
// for the others, 503 when a drain ran out of time) unless their response was under way (the
// connection is cut; a WebSocket is told "going away"); those it never read go elsewhere.
//
// Before a timeout or unresponsive kill, the stuck worker's call frames are taken through the
// inspector (./inspect.ts), and the app's onTimeout hook runs in it: the client has its 504 and
// the replacement is starting already; only the terminate (and the log line, which carries the
// stack) waits for the capture, at most CAPTURE_MS. Its result comes back as a 'captured' event.
import type { Exchange } from '../acceptor/connection.js';
import type { Dispatcher } from '../acceptor/dispatcher.js';
import { WorkerCrashedError, WorkerTimeoutError } from '../errors.js';
import { Throttle, type Logger } from '../log.js';
import type { TimeoutInfo } from '../messages.js';
import { epochNow, type ControlBlock } from '../ring/control.js';
import { crashCause, RestartBackoff } from './backoff.js';
import { ElasticThreads } from './elastic.js';
import { StackInspector, type StuckReport } from './inspect.js';
import type { FateView } from '../acceptor/worker-handle.js';
import type { ExitReason, Pool, WorkerHandle } from './pool.js';
import { waitingOnFullWorkers } from './sensors.js';

/** The signals the supervisor acts on (docs/signals.md). */
export const SUPERVISOR_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTTIN', 'SIGTTOU'] as const;
export type SupervisorSignal = (typeof SUPERVISOR_SIGNALS)[number];

interface Settle {
  resolve(): void;
  reject(err: Error): void;
}

export type SupervisorEvent =
  | { type: 'signal'; signal: SupervisorSignal }
  | { type: 'reload'; done?: Settle }
  | { type: 'scale'; threads: number; done?: Settle }
  | { type: 'ready'; handle: WorkerHandle }
  | { type: 'boot-failed'; handle: WorkerHandle; error: Error }
  | { type: 'exited'; handle: WorkerHandle; reason: ExitReason; error: Error | null }
  | { type: 'zombie'; handle: WorkerHandle }
  | { type: 'captured'; handle: WorkerHandle; kill: KillNote; report: StuckReport }
  | { type: 'tick' };

/** A kill decided, waiting for the stuck worker's stack before its log line and terminate(). */
export interface KillNote {
  msg: string;
  fields: Record<string, unknown>;
}

export interface ArbiterOptions {
  threads: number;
  /** --timeout in ms (0 = off): the request deadline and the heartbeat limit. */
  timeoutMs: number;
  /** --graceful-timeout in ms: how long a retiring worker may take to finish. */
  gracefulMs: number;
  /** greenserve's memory limit per worker in MiB (old generation + external; ./memory.ts), 0 = off. */
  maxWorkerMemoryMb: number;
  /** Where it comes from: the setting, or a default (named in the out-of-memory line). */
  workerMemorySource?: string;
  /** --max-server-memory in MiB, resolved (the whole process's resident memory), 0 = off. */
  maxServerMemoryMb?: number;
  /** --max-threads: the most workers in all while every one is blocked (elastic); <= threads: off. */
  maxThreads: number;
  /** --worker-connections (at least --thread-concurrency): named in the warning when every worker is full. */
  workerConnections: number;
}

export interface ArbiterHost {
  /** Stop the server: graceful (drain within --graceful-timeout) or at once. */
  shutdown(graceful: boolean): void;
}

const TICK_MS = 100;
/** At most one 'every worker is full' warning per this many ms. */
const FULL_WARN_EVERY_MS = 60_000;
/** Ticks in a row that must find every worker full before that warning (not a passing moment). */
const FULL_WARN_TICKS = 3;
/** A terminated worker that has not exited after this long (a native call) is settled anyway. */
const ZOMBIE_SETTLE_MS = 1000;
/** The stack capture (and the app's onTimeout) before a timeout kill takes at most this long (ms). */
const CAPTURE_MS = 1000;
/** Workers recycled (--max-requests, memory) at the same time, at most. */
const MAX_RECYCLING = 1;
/**
 * An old generation above this share of --max-worker-memory for HEAP_HIGH_MS recycles the worker
 * (V8 thrashes, then fails, close to the limit). The old generation, not the whole heap: the limit
 * caps only it, and the young generation's garbage (tens of MiB on node 24) would make an idle
 * worker look full, or a full one empty right after a scavenge.
 */
const HEAP_HIGH_SHARE = 0.8;
const HEAP_HIGH_MS = 1000;
/** After the supervisor acted on --max-server-memory, it waits this long for the memory to be given back (ms). */
const SERVER_MEMORY_SETTLE_MS = 2000;
const MB = 1048576;

/**
 * The arbiter's part of a worker's handle (FateView, which everyone else reads): what the
 * supervisor decided about the worker, and what it watches. Written here only.
 */
class WorkerFate implements FateView {
  recycle: string | null = null;
  killReason: ExitReason | null = null;
  retireBy = 0;
  settledExchanges: ReadonlyMap<number, Exchange> | null = null;
  /** Its exchanges were answered or sent elsewhere (a zombie is settled before it exits). */
  settled = false;
  /** Heartbeat last seen, and when (epoch ms). */
  lastBeat = -1;
  lastBeatAt = 0;
  /** Since when its memory has been above the recycle threshold (0 = it is not). */
  heapHighSince = 0;
  /** Settles a terminated worker that has not exited after ZOMBIE_SETTLE_MS. */
  zombieTimer: NodeJS.Timeout | null = null;
}

/** `h`'s fate, writable: the handle shows it to everyone else read-only. */
function fateOf(h: WorkerHandle): WorkerFate {
  const f = h.fate;
  if (!(f instanceof WorkerFate)) throw new TypeError(`worker ${h.slot} was not started by the arbiter`);
  return f;
}

export class Arbiter {
  /** Workers wanted (--threads, changed by scale / TTIN / TTOU). */
  target: number;
  /** The code generation new workers belong to (bumped by every reload). */
  cohort = 0;
  private readonly o: ArbiterOptions;
  private readonly pool: Pool;
  private readonly dispatcher: Dispatcher;
  private readonly control: ControlBlock;
  private readonly log: Logger;
  private readonly host: ArbiterHost;
  private queue: SupervisorEvent[] = [];
  private scheduled = false;
  private ticker: NodeJS.Timeout | null = null;
  /** Shutting down: no more spawns or recycling; exits are only settled. */
  private stopping = false;
  private shutdownRequested = false;
  /** The first workers are up (Pool.start reports boot failures before that). */
  private started = false;
  private reloadState: { cohort: number; previous: number; waiters: Settle[] } | null = null;
  /**
   * Reloads asked for while one ran (their callers, possibly none: a SIGHUP), or null. The running
   * one's workers may have read the code before it changed: one more reload runs for all of them
   * once it ends, whether it succeeded or failed.
   */
  private reloadAgain: Settle[] | null = null;
  private scaleWaiters: Array<{ threads: number; done: Settle }> = [];
  /** No worker starts before this (epoch ms): a start that threw (no free slot). */
  private spawnNotBefore = 0;
  /** Boot failures and crashes that repeat: when a replacement may start (./backoff.ts). */
  private readonly backoff: RestartBackoff;
  /** Takes a stuck worker's stack before a timeout kill (attaches the inspector only then). */
  private readonly inspector = new StackInspector();
  /** The elastic-threads policy (./elastic.ts): it decides, this class spawns and retires. */
  private readonly elasticThreads: ElasticThreads;
  /** The 'every worker is full' warning: at most once a minute (epoch ms). */
  private readonly fullWarn = new Throttle(FULL_WARN_EVERY_MS);
  /** Consecutive ticks on which every worker was full while requests waited. */
  private fullTicks = 0;
  /** Since when the process's resident memory has been above 80 % of --max-server-memory (0 = it is not). */
  private serverHighSince = 0;
  /** No --max-server-memory action before this (epoch ms): the last one's memory is being given back. */
  private serverActAfter = 0;
  private readonly onRun = (): void => this.run();

  constructor(o: ArbiterOptions, pool: Pool, dispatcher: Dispatcher, control: ControlBlock, log: Logger, host: ArbiterHost) {
    this.o = o;
    this.target = o.threads;
    this.pool = pool;
    this.dispatcher = dispatcher;
    this.control = control;
    this.log = log;
    this.host = host;
    this.backoff = new RestartBackoff(log, (ms) => setTimeout(() => this.enqueue({ type: 'tick' }), ms).unref());
    this.elasticThreads = new ElasticThreads(o.maxThreads, pool, dispatcher, log, {
      target: () => this.target,
      cohort: () => this.cohort,
      mayStart: (now) => now >= this.spawnNotBefore && this.backoff.mayStart(now) && this.reloadState === null,
      startElastic: () => this.spawnOne(true),
      retire: (h, now, why) => this.retire(h, now, why),
      wake: () => {
        if (this.started && !this.stopping) this.enqueue({ type: 'tick' });
      },
    });
    // A request had to wait: check for elastic threads now rather than at the next tick.
    if (o.maxThreads > o.threads) dispatcher.onWait = () => this.elasticThreads.waited();
  }

  /** The pre-warmed spare worker (not serving yet), or null. */
  get spare(): WorkerHandle | null {
    return this.elasticThreads.spare;
  }

  /** Start the first --threads workers (Pool.start): resolves once all are ready, rejects with the first boot error. */
  startWorkers(): Promise<void> {
    return this.pool.start(() => new WorkerFate());
  }

  /** Start the ticker (after the first workers are up). */
  start(): void {
    this.started = true;
    this.ticker = setInterval(() => this.enqueue({ type: 'tick' }), TICK_MS);
    this.ticker.unref();
  }

  /** The only way in: signal handlers, library calls, pool events and tests push events here. */
  enqueue(ev: SupervisorEvent): void {
    this.queue.push(ev);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.onRun);
    }
  }

  /**
   * The server is stopping its workers: settle exits, start nothing; the dispatcher sends them
   * nothing more.
   */
  stop(): void {
    this.stopping = true;
    for (const h of this.pool.live()) this.dispatcher.retire(h);
    if (this.ticker !== null) clearInterval(this.ticker);
    const err = new WorkerCrashedError('the server is shutting down');
    if (this.reloadState !== null) for (const w of this.reloadState.waiters) w.reject(err);
    for (const w of this.reloadAgain ?? []) w.reject(err);
    for (const w of this.scaleWaiters) w.done.reject(err);
    this.reloadState = null;
    this.reloadAgain = null;
    this.scaleWaiters = [];
  }

  /**
   * A graceful shutdown ran out of --graceful-timeout with requests still owed: each worker's are
   * answered now, as when a retiring worker runs out of it (503, or the connection cut when the
   * response had begun; one error line per worker naming them), before the connections close.
   * The workers take nothing more (what they had not read waits, it goes to no other worker) and
   * are stopped without their teardown, since they did not drain. Call after stop().
   */
  expireShutdown(): void {
    // (stop() has told the dispatcher to send them nothing more.)
    for (const h of this.pool.live()) {
      const f = fateOf(h);
      if (f.settled || h.channel.owed === 0) continue;
      f.killReason = 'graceful-timeout';
      this.settle(h, 'graceful-timeout', null);
    }
  }

  private run(): void {
    this.scheduled = false;
    const q = this.queue;
    this.queue = [];
    for (const ev of q) this.handle(ev);
    if (this.stopping || !this.started) return;
    const now = epochNow();
    this.murder(now);
    this.recycle(now);
    this.reap(now);
    this.manage(now);
    this.dispatcher.unpinRetiring();
    this.elasticThreads.check(now);
    this.settleWaiters();
    this.noteFull(now);
  }

  /**
   * Requests wait because every worker is at --worker-connections (not blocked, only full): say
   * so, at most once a minute. Without it a server of WebSockets or long streams that reached
   * threads x --worker-connections would hold the next upgrades with nothing in the log.
   */
  private noteFull(now: number): void {
    if (!this.fullWarn.ready(now)) return;
    if (!waitingOnFullWorkers(this.dispatcher, this.control)) {
      this.fullTicks = 0;
      return;
    }
    if (++this.fullTicks < FULL_WARN_TICKS) return;
    this.fullTicks = 0;
    this.fullWarn.take(now);
    const cap = this.o.workerConnections;
    this.log.warn({ waiting: this.dispatcher.waitingCount, workerConnections: cap },
      `${this.dispatcher.waitingCount} request(s) wait because every worker holds --worker-connections ${cap} requests ` +
      '(async handlers in flight, streams and WebSockets count); raise --worker-connections if this is the expected load');
  }

  private handle(ev: SupervisorEvent): void {
    switch (ev.type) {
      case 'signal': return this.onSignal(ev.signal);
      case 'reload': return this.startReload(ev.done);
      case 'scale': return this.scale(ev.threads, ev.done);
      case 'ready': return this.onReady(ev.handle);
      case 'boot-failed': return this.onBootFailed(ev.handle, ev.error);
      case 'exited': return this.onExited(ev.handle, ev.reason, ev.error);
      case 'zombie': return this.onZombie(ev.handle);
      case 'captured': return this.onCaptured(ev.handle, ev.kill, ev.report);
      case 'tick': return;
    }
  }

  private onSignal(signal: SupervisorSignal): void {
    this.log.info({ signal }, `${signal} received`);
    switch (signal) {
      case 'SIGTERM':
      case 'SIGINT':
        // A second TERM/INT while draining: stop at once (like gunicorn's second SIGINT).
        this.host.shutdown(!this.shutdownRequested);
        this.shutdownRequested = true;
        return;
      case 'SIGQUIT':
        this.shutdownRequested = true;
        return this.host.shutdown(false);
      case 'SIGHUP': return this.startReload(undefined);
      case 'SIGTTIN': return this.scale(this.target + 1, undefined);
      case 'SIGTTOU': return this.scale(Math.max(1, this.target - 1), undefined);
    }
  }

  // ── worker events ────────────────────────────────────────────────────────────────────────────
  private onReady(h: WorkerHandle): void {
    if (this.stopping || h.life.stopping || h.life.dead) return;
    fateOf(h).lastBeatAt = epochNow();
    this.backoff.booted();
    if (h === this.spare) {
      // The pre-warmed spare gets work only when the elastic policy promotes it.
      this.log.debug({ slot: h.slot }, `spare worker ${h.slot} ready: it takes requests once requests wait on blocked workers`);
      return;
    }
    // Retired while it booted (scaled down, or recycled by a reload that has already finished):
    // it takes nothing, and reap() stops it (its teardown runs) since it owes nothing.
    if (h.channel.retiring) return;
    // A generation given up while it booted (a failed reload): never serves. (A worker of the
    // previous generation that a reload under way marked recycle = 'reload' serves until the new
    // generation is ready; manage() then retires it with a graceful deadline.)
    if (h.cohort !== this.cohort && h.fate.recycle === null) return this.retire(h, epochNow(), 'its generation was given up');
    this.dispatcher.add(h);
  }

  private onBootFailed(h: WorkerHandle, err: Error): void {
    if (this.stopping || h.life.stopping || !this.started) return;
    const reload = this.reloadState;
    if (reload !== null && h.cohort === reload.cohort) return this.abortReload(err);
    this.backoff.bootFailed(epochNow(), h.slot, `failed to start: ${err.message}`, { err });
  }

  private onExited(h: WorkerHandle, reason: ExitReason, err: Error | null): void {
    const f = fateOf(h);
    if (f.zombieTimer !== null) clearTimeout(f.zombieTimer);
    // Before settle(): the request its thread was running, if any, names the cause.
    const failed = !this.stopping && (reason === 'crashed' || reason === 'exited' || reason === 'out-of-memory');
    const cur = this.control.currentRequest(h.slot);
    const running = cur === 0 ? undefined : (h.channel.exchange(cur) ?? f.settledExchanges?.get(cur));
    const tookNone = h.channel.owed === 0 && this.control.served(h.slot) === 0;
    if (!f.settled) this.settle(h, reason, err);
    if (!failed) return;
    const now = epochNow();
    // One that dies before it took a request dies of the app itself, as one that does not start.
    if (tookNone) this.backoff.bootFailed(now, h.slot, `${reason} before it took a request`, { err, reason });
    else this.backoff.crashed(now, h.slot, crashCause(running ?? null, reason, err), this.target);
  }

  private onZombie(h: WorkerHandle): void {
    if (fateOf(h).settled || h.life.dead) return;
    this.log.warn({ slot: h.slot, reason: h.fate.killReason }, `worker ${h.slot} has not exited ${ZOMBIE_SETTLE_MS} ms after terminate() ` +
      '(blocked in a native call?): its requests are settled now; its slot stays taken until it exits');
    this.settle(h, h.fate.killReason ?? 'timeout', null);
  }

  /** Answer what a dead (or killed) worker owed; what it never read goes to other workers. */
  private settle(h: WorkerHandle, reason: ExitReason, err: Error | null): void {
    const f = fateOf(h);
    f.settled = true;
    const now = epochNow();
    const cur = this.control.currentRequest(h.slot);
    const ranMs = cur !== 0 ? Math.round(this.control.runningFor(h.slot, now)) : 0;
    f.settledExchanges = h.channel.snapshot();
    const owed = this.dispatcher.remove(h);
    if (reason === 'stopped' && owed.length === 0) return;
    const status = reason === 'stopped' || reason === 'graceful-timeout' ? 503 : 502;
    // What each client gets (Connection.respond): the status while nothing of its response has
    // gone to the socket; a response under way is cut off, and a WebSocket is told "going away".
    const requests = owed.map((ex) => {
      const r = describe(ex, ex.id === cur ? ranMs : undefined);
      const outcome = ex.tunnel ? 'going-away' : ex.streamed ? 'cut' : status;
      return { text: r.text, outcome, data: { ...r.data, outcome } };
    });
    const list = (outcome: number | string): string[] => requests.filter((r) => r.outcome === outcome).map((r) => r.text);
    const groups = [
      { items: list(status), say: `request(s) in flight get ${status}` },
      { items: list('cut'), say: 'request(s) whose response had started: connection cut' },
      { items: list('going-away'), say: 'WebSocket(s) closed as going away' },
    ].filter((g) => g.items.length > 0);
    const what = owed.length === 0 ? 'no request in flight' : groups.map((g) => `${g.items.length} ${g.say}: ${g.items.join('; ')}`).join('; ');
    this.log.error(
      { err, code: WorkerCrashedError.code, reason, slot: h.slot, thread: h.threadId, requests: requests.map((r) => r.data) },
      `worker ${h.slot} ${reason}: ${what}`,
    );
    // A 502 keeps the connection when the request is whole (nothing of it is left to read) and it
    // is not the last one: what the client pipelined behind it is served by other workers.
    for (const ex of owed) this.dispatcher.fail(ex, status, status !== 502 || ex.close || !ex.received);
  }

  // ── verbs ────────────────────────────────────────────────────────────────────────────────────
  /** Terminate workers whose handler ran past --timeout, or whose event loop stopped turning. */
  private murder(now: number): void {
    const limit = this.o.timeoutMs;
    if (limit === 0) return;
    for (const h of this.pool.live()) {
      if (!h.life.ready || h.fate.killReason !== null || h.life.stopping) continue;
      const f = fateOf(h);
      const cur = this.control.currentRequest(h.slot);
      if (cur !== 0) {
        f.lastBeatAt = now; // in a request: the deadline covers it
        const ran = this.control.runningFor(h.slot, now);
        if (ran > limit) this.kill(h, 'timeout', cur, ran);
        continue;
      }
      const beat = this.control.heartbeat(h.slot);
      if (beat !== f.lastBeat) {
        f.lastBeat = beat;
        f.lastBeatAt = now;
      } else if (now - f.lastBeatAt > limit) {
        this.kill(h, 'unresponsive', 0, now - f.lastBeatAt);
      }
    }
  }

  private kill(h: WorkerHandle, reason: ExitReason, reqId: number, ranMs: number, why?: string): void {
    fateOf(h).killReason = reason;
    this.dispatcher.retire(h);
    const ex = reqId !== 0 ? h.channel.exchange(reqId) : undefined;
    const ms = Math.round(ranMs);
    const limitS = this.o.timeoutMs / 1000;
    const req = ex !== undefined ? describe(ex, undefined) : null;
    const msg = reason === 'timeout'
      ? `worker ${h.slot} timeout: ${req?.text ?? `request ${reqId}`} ran ${ms} ms, past --timeout ${limitS} s; terminating the worker`
      : reason === 'unresponsive'
        ? `worker ${h.slot} unresponsive: no heartbeat for ${ms} ms outside any request (--timeout ${limitS} s); terminating the worker`
        : reason === 'out-of-memory'
          ? `worker ${h.slot} out-of-memory: ${why ?? this.overLimit(h)}; terminating the worker`
          : `worker ${h.slot} ${reason}: terminating the worker`;
    const code = reason === 'timeout' || reason === 'unresponsive' ? WorkerTimeoutError.code : WorkerCrashedError.code;
    const kill: KillNote = { msg, fields: { code, reason, slot: h.slot, thread: h.threadId, request: req?.data, ranMs: ms } };
    if (ex !== undefined) {
      this.dispatcher.take(ex);
      // The handler was still in its first synchronous run, so nothing of its response went out:
      // the connection may go on (a request pipelined behind it is served by another worker).
      this.dispatcher.fail(ex, 504, ex.close);
    }
    if (reason !== 'timeout' && reason !== 'unresponsive') return this.terminate(h, kill);
    // Where was it stuck? The capture always resolves, within CAPTURE_MS and a detach.
    const hookInfo: TimeoutInfo | null = !h.life.hooks.includes('onTimeout') ? null : {
      reason,
      method: ex?.method ?? null,
      path: req === null ? null : String(req.data['path']),
      requestId: ex?.rec?.requestId || null,
      elapsedMs: ms,
      thread: h.threadId,
      slot: h.slot,
    };
    void this.inspector.capture(h.threadId, { budgetMs: CAPTURE_MS, hookInfo })
      .then((report) => this.enqueue({ type: 'captured', handle: h, kill, report }));
  }

  /** Why a worker is past --max-worker-memory, for its out-of-memory line. */
  private overLimit(h: WorkerHandle): string {
    const src = this.o.workerMemorySource === undefined || this.o.workerMemorySource === 'setting' ? '' : ` (${this.o.workerMemorySource})`;
    return `its memory in use, ${this.control.memoryMb(h.slot)} MiB (V8 old generation ${this.control.heapOldMb(h.slot)} MiB, ` +
      `outside the V8 heap ${this.control.externalMb(h.slot)} MiB), is past --max-worker-memory ${this.o.maxWorkerMemoryMb} MiB${src}`;
  }

  /** The stuck worker's stack (and its onTimeout's answer) is in: log the kill, then terminate. */
  private onCaptured(h: WorkerHandle, kill: KillNote, report: StuckReport): void {
    const where = report.top === null ? '' : ` (stuck in ${report.top})`;
    const fields: Record<string, unknown> = { ...kill.fields, stack: report.stack, captureMs: report.ms };
    if (report.stack === null) fields['stackUnavailable'] = report.unavailable;
    if (report.hook !== null) fields['onTimeout'] = report.hook;
    else if (report.hookUnavailable !== null) fields['onTimeout'] = { ok: false, error: report.hookUnavailable };
    this.terminate(h, { msg: kill.msg.replace(/; terminating the worker$/, `${where}; terminating the worker`), fields });
  }

  /** Write the kill's error line and terminate the worker (settled at exit, or by the zombie timer). */
  private terminate(h: WorkerHandle, kill: KillNote): void {
    this.log.error(kill.fields, kill.msg);
    void h.thread.terminate();
    const f = fateOf(h);
    f.zombieTimer = setTimeout(() => this.enqueue({ type: 'zombie', handle: h }), ZOMBIE_SETTLE_MS);
    f.zombieTimer.unref();
  }

  /**
   * Mark workers past --max-requests or near --max-worker-memory for replacement; terminate one
   * whose memory is past --max-worker-memory (its V8 limit is well above: see
   * workerHeapLimitMb in ./memory.ts), as V8 itself would have at its limit.
   */
  private recycle(now: number): void {
    const maxMb = this.o.maxWorkerMemoryMb;
    if (maxMb > 0) {
      for (const h of this.pool.live()) {
        if (!h.life.ready || h.life.dead || h.fate.killReason !== null || h.life.stopping) continue;
        if (this.control.memoryMb(h.slot) > maxMb) this.kill(h, 'out-of-memory', 0, 0);
      }
    }
    this.serverMemory(now);
    let recycling = 0;
    for (const h of this.pool.live()) if (h.fate.recycle !== null && h.fate.recycle !== 'reload' && !h.life.dead) recycling++;
    for (const h of this.pool.live()) {
      if (!h.life.ready || h.channel.retiring || h.fate.recycle !== null || h.fate.killReason !== null || h.life.stopping) continue;
      const f = fateOf(h);
      let why: string | null = null;
      const served = this.control.served(h.slot);
      // The replacement starts once the worker has had 90 % of its share, so that it is often
      // ready by the time the worker has had all of it and takes no more (the dispatcher stops there).
      if (h.maxRequests > 0 && h.channel.given >= h.maxRequests - Math.floor(h.maxRequests / 10)) why = 'max-requests';
      if (why === null && maxMb > 0) {
        if (this.control.memoryMb(h.slot) < maxMb * HEAP_HIGH_SHARE) f.heapHighSince = 0;
        else if (f.heapHighSince === 0) f.heapHighSince = now;
        else if (now - f.heapHighSince >= HEAP_HIGH_MS) why = 'memory';
      }
      if (why === null || recycling >= MAX_RECYCLING) continue;
      recycling++;
      f.recycle = why;
      this.log.info({ slot: h.slot, reason: why, served, heapMb: this.control.heapMb(h.slot), oldGenerationMb: this.control.heapOldMb(h.slot), externalMb: this.control.externalMb(h.slot) }, `worker ${h.slot} will be recycled (${why}); starting its replacement`);
    }
  }

  /**
   * --max-server-memory: the whole process's resident memory (what a container's OOM killer
   * counts). Above 80 % of it for a second, the worker that holds the most memory is recycled
   * (replacement first, no failed request); above it, that worker is terminated (its requests in
   * flight get 502). Then nothing more for SERVER_MEMORY_SETTLE_MS, while the memory is given back.
   */
  private serverMemory(now: number): void {
    const cap = this.o.maxServerMemoryMb ?? 0;
    if (cap === 0) return;
    const rssMb = Math.round(process.memoryUsage.rss() / MB);
    if (rssMb < cap * HEAP_HIGH_SHARE) {
      this.serverHighSince = 0;
      return;
    }
    if (this.serverHighSince === 0) this.serverHighSince = now;
    if (now < this.serverActAfter) return;
    let top: WorkerHandle | null = null;
    for (const h of this.pool.live()) {
      if (!h.life.ready || h.life.dead || h.fate.killReason !== null || h.life.stopping) continue;
      if (top === null || this.control.memoryMb(h.slot) > this.control.memoryMb(top.slot)) top = h;
    }
    if (top === null) return;
    const mb = this.control.memoryMb(top.slot);
    const fields = { slot: top.slot, rssMb, maxServerMemoryMb: cap, workerMemoryMb: mb };
    if (rssMb > cap) {
      this.serverActAfter = now + SERVER_MEMORY_SETTLE_MS;
      this.kill(top, 'out-of-memory', 0, 0, `the server's resident memory, ${rssMb} MiB, is past --max-server-memory ${cap} MiB, ` +
        `and this worker holds the most (${mb} MiB: V8 old generation ${this.control.heapOldMb(top.slot)} MiB, outside the V8 heap ${this.control.externalMb(top.slot)} MiB)`);
      return;
    }
    if (now - this.serverHighSince < HEAP_HIGH_MS || top.fate.recycle !== null || top.channel.retiring) return;
    for (const h of this.pool.live()) if (h.fate.recycle !== null && h.fate.recycle !== 'reload' && !h.life.dead) return; // one at a time
    this.serverActAfter = now + SERVER_MEMORY_SETTLE_MS;
    fateOf(top).recycle = 'server-memory';
    this.log.info({ ...fields, reason: 'server-memory' }, `worker ${top.slot} will be recycled (server-memory): the server's resident memory, ` +
      `${rssMb} MiB, is above 80 % of --max-server-memory ${cap} MiB and this worker holds the most (${mb} MiB); starting its replacement`);
  }

  /** Stop retiring workers that have finished their work (or ran out of --graceful-timeout). */
  private reap(now: number): void {
    for (const h of this.pool.live()) {
      if (!h.channel.retiring || h.fate.killReason !== null || h.life.stopping) continue;
      // exchanges, not outstanding: a finished response still sending to a slow client counts here.
      if (h.channel.owed === 0 && h.channel.unsent === 0) this.pool.retire(h);
      else if (now > h.fate.retireBy) this.kill(h, 'graceful-timeout', 0, 0);
    }
  }

  /** Spawn up to the target; retire recycled workers once replaced; retire extras. */
  private manage(now: number): void {
    const live = this.pool.live();
    const serving = live.filter((h) => !h.channel.retiring && !h.life.stopping && h.fate.killReason === null && h.fate.recycle === null && !h.elastic);
    // Replacements held back by a cause that keeps killing workers wait (at most half of the target).
    let missing = this.target - serving.length - this.backoff.delayed(now, this.target);
    while (missing > 0 && now >= this.spawnNotBefore && this.backoff.mayStart(now) && this.spawnOne()) missing--;
    const ready = serving.filter((h) => h.life.ready).length;
    if (ready >= this.target) {
      for (const h of live) if (h.fate.recycle !== null && !h.channel.retiring) this.retire(h, now, `recycled (${h.fate.recycle})`);
      this.finishReload();
    }
    if (serving.length > this.target) {
      // Scale down: booting ones first, then the most recently started.
      const extra = serving.sort((a, b) => Number(a.life.ready) - Number(b.life.ready) || b.slot - a.slot).slice(0, serving.length - this.target);
      for (const h of extra) this.retire(h, now, 'scaled down');
    }
  }

  private spawnOne(elastic = false): WorkerHandle | null {
    try {
      return this.pool.spawn(this.cohort, new WorkerFate(), elastic);
    } catch (err) {
      this.log.error({ err }, `cannot start a worker: ${(err as Error).message}`);
      this.spawnNotBefore = epochNow() + 1000;
      return null;
    }
  }

  private retire(h: WorkerHandle, now: number, why: string): void {
    this.dispatcher.retire(h);
    fateOf(h).retireBy = now + this.o.gracefulMs;
    this.log.info({ slot: h.slot, reason: why }, `worker ${h.slot} retiring (${why}): finishing ${h.channel.outstanding} request(s)`);
    // Over the control plane: the worker shows DRAINING (stats, metrics) and says when it has
    // nothing in flight, so that reap() stops it then rather than at the next tick. reap() still
    // decides from what the acceptor owes; a worker that never answers is stopped all the same.
    if (h.life.ready) h.api.drain().then(() => this.enqueue({ type: 'tick' }), () => {});
  }

  // ── reload and scale ─────────────────────────────────────────────────────────────────────────
  private startReload(done: Settle | undefined): void {
    if (this.stopping) return done?.reject(new WorkerCrashedError('the server is shutting down'));
    if (this.reloadState !== null) {
      this.reloadAgain ??= [];
      if (done !== undefined) this.reloadAgain.push(done);
      return;
    }
    const previous = this.cohort;
    this.cohort = previous + 1;
    this.reloadState = { cohort: this.cohort, previous, waiters: done === undefined ? [] : [done] };
    for (const h of this.pool.live()) {
      if (!h.channel.retiring && !h.life.stopping && h.fate.killReason === null) fateOf(h).recycle = 'reload';
    }
    this.spawnNotBefore = 0; // a reload is asked for: no backoff
    this.backoff.reset();
    this.log.info({ generation: this.cohort, threads: this.target }, `reloading: starting ${this.target} worker(s) with the app loaded afresh`);
  }

  private finishReload(): void {
    const r = this.reloadState;
    if (r === null) return;
    this.reloadState = null;
    this.log.info({ generation: r.cohort }, `reload done: generation ${r.cohort} is serving; the old workers finish their requests`);
    for (const w of r.waiters) w.resolve();
    this.reloadOnceMore();
  }

  /** Reloads were asked for while the one that just ended ran: run one more for them. */
  private reloadOnceMore(): void {
    const again = this.reloadAgain;
    if (again === null) return;
    this.reloadAgain = null;
    this.log.info({ requests: Math.max(1, again.length) }, 'reloading again: asked for while the previous reload ran (the code may have changed since it began)');
    this.startReload(undefined);
    this.reloadState!.waiters.push(...again);
    this.enqueue({ type: 'tick' }); // its workers start at the next turn of the loop, not the next tick
  }

  private abortReload(err: Error): void {
    const r = this.reloadState!;
    this.reloadState = null;
    this.cohort = r.previous;
    this.log.error({ err, generation: r.cohort }, `reload failed: the new app code did not load (${err.message}); still serving with the old workers`);
    const now = epochNow();
    for (const h of this.pool.live()) {
      if (h.cohort === r.cohort && !h.channel.retiring) this.retire(h, now, 'reload failed');
      else if (h.fate.recycle === 'reload') fateOf(h).recycle = null;
    }
    for (const w of r.waiters) w.reject(err);
    this.reloadOnceMore();
  }

  private scale(threads: number, done: Settle | undefined): void {
    if (this.stopping) return done?.reject(new WorkerCrashedError('the server is shutting down'));
    this.log.info({ from: this.target, to: threads }, `scaling to ${threads} worker(s)`);
    this.target = threads;
    if (done !== undefined) this.scaleWaiters.push({ threads, done });
  }

  private settleWaiters(): void {
    if (this.scaleWaiters.length === 0) return;
    // Elastic workers and the spare come and go on their own: scale counts the --threads ones.
    const ready = this.pool.live().filter((h) => h.life.ready && !h.channel.retiring && h.fate.recycle === null && !h.elastic).length;
    this.scaleWaiters = this.scaleWaiters.filter((w) => {
      if (w.threads !== this.target) {
        w.done.resolve(); // superseded by a later scale
        return false;
      }
      if (ready !== w.threads) return true;
      w.done.resolve();
      return false;
    });
  }
}

/** A request as log lines name it. */
function describe(ex: Exchange, ranMs: number | undefined): { text: string; data: Record<string, unknown> } {
  const path = ex.target.length > 200 ? `${ex.target.slice(0, 200)}...` : ex.target;
  const ran = ranMs === undefined ? '' : ` after ${ranMs} ms`;
  return {
    text: `${ex.method} ${path} (request ${ex.id})${ran}`,
    data: { method: ex.method, path, reqId: ex.id, ...(ranMs === undefined ? {} : { ranMs }) },
  };
}
