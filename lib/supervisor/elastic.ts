// design: the elastic-threads policy, driven by the supervisor's loop (./arbiter.ts).
// While requests wait because workers are blocked (parked in a shim, or in a long synchronous
// handler: saturated() in ./sensors.ts), add workers up to --max-threads: first the pre-warmed spare,
// ready at once, then new ones. New workers boot ELASTIC_BOOTING at a time, the next as soon as
// one is ready (the loop runs on every ready event, and at once when a request has to wait:
// onWait): a worker's start is mostly CPU (~50 ms here), so booting all that are needed at once
// would make the first one ready no sooner than the last. And only for requests that would still
// wait when the new worker is ready (measure()): the last ones started after a burst would find
// nothing to do, their starts taking CPU from the requests. When nothing waits, keep one spare
// booted in the background (it takes no requests), once a worker has been seen blocked. An extra
// worker idle for ELASTIC_IDLE_MS retires. The arbiter owns spawning and retiring (ElasticHost);
// this class only decides. docs/decisions/0009-elastic-threads.md has the measurements.
import { availableParallelism, totalmem } from 'node:os';
import type { Dispatcher } from '../acceptor/dispatcher.js';
import type { Logger } from '../log.js';
import type { Pool, WorkerHandle } from './pool.js';
import { anyBlocked, saturated } from './sensors.js';

/**
 * Elastic workers booting at once, at most: one per core. Measured on 2 cores (load average
 * 5-12), 64 requests parked on 100 ms took 1.2-1.4 s with 1 or 2 at a time, 1.6-1.7 s with 4,
 * 1.8-2.2 s with 8, and 5-7 s with all that were needed at once.
 */
const ELASTIC_BOOTING = Math.max(1, availableParallelism());
/** An extra worker idle this long is retired. */
const ELASTIC_IDLE_MS = 30_000;
/** The dispatcher's "a request waits" calls run the elastic check this often at most (ms). */
const WAIT_CHECK_MS = 10;
/** The queue's drain rate is measured over windows this long at least (ms). */
const RATE_WINDOW_MS = 100;
/** An elastic worker's start (spawn to ready) is taken to last this long until one is measured (ms). */
const ELASTIC_BOOT_GUESS_MS = 100;

/** What the default elastic ceiling plans per thread: a parked thread's RSS under load is 11-14 MiB. */
const THREAD_BUDGET_BYTES = 16 * 1048576;
/** The default ceiling's bounds: at least this many times --threads, at most ELASTIC_MAX_DEFAULT. */
const ELASTIC_MIN_FACTOR = 4;
const ELASTIC_MAX_DEFAULT = 128;

/**
 * The most worker threads (--max-threads; 0 = the default). The default is bounded by memory, not
 * by a multiple of the cores: a quarter of the memory the process may use (a container's limit
 * where one is set, else the machine's), at THREAD_BUDGET_BYTES a thread, at least four times
 * --threads and at most 128 (docs/decisions/0017-elastic-ceiling.md).
 */
export function elasticCeiling(maxThreads: number, threads: number, memoryBytes = memoryLimit()): number {
  if (maxThreads !== 0) return maxThreads;
  const byMemory = Math.floor(memoryBytes / 4 / THREAD_BUDGET_BYTES);
  return Math.max(ELASTIC_MIN_FACTOR * threads, Math.min(ELASTIC_MAX_DEFAULT, byMemory));
}

/** Bytes of memory this process may use: its cgroup limit where one is set, else the machine's. */
function memoryLimit(): number {
  const total = totalmem();
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.() ?? 0;
  return constrained > 0 && constrained < total ? constrained : total;
}

/** What the policy needs from the supervisor. */
export interface ElasticHost {
  /** Workers wanted (--threads, as scaled). */
  target(): number;
  /** The code generation new workers belong to. */
  cohort(): number;
  /** Whether a worker may be started now (no crash backoff, no reload under way). */
  mayStart(now: number): boolean;
  /** Start an elastic worker (null: it could not be started). */
  startElastic(): WorkerHandle | null;
  retire(h: WorkerHandle, now: number, why: string): void;
  /** Run the supervisor's loop soon (it calls check()), unless it is not running. */
  wake(): void;
}

export class ElasticThreads {
  /**
   * The pre-warmed spare: a started worker with the app loaded that is given no
   * requests until every worker is blocked, then joins at once; null while there is none.
   */
  spare: WorkerHandle | null = null;
  private readonly maxThreads: number;
  private readonly pool: Pool;
  private readonly dispatcher: Dispatcher;
  private readonly log: Logger;
  private readonly host: ElasticHost;
  /**
   * A worker has been seen blocked (sampled in check(): every tick and when a request waits).
   * Only then is a spare kept: an app that never blocks never needs one, and each costs a
   * thread's memory (9-13 MB) and start (50 ms of CPU; 650 ms under tap's loader hooks).
   */
  private blockSeen = false;
  private lastWaitCheck = 0;
  /** Answers minus arrivals per ms over the last RATE_WINDOW_MS or more (how fast the queue drains), at least 0. */
  private drainPerMs = 0;
  private rateAt = 0;
  private rateSubmitted = 0;
  private rateCompleted = 0;
  /** How long an elastic worker takes from spawn to ready (ms, moving average), and those booting since when. */
  private bootMs = ELASTIC_BOOT_GUESS_MS;
  private readonly booting = new Map<WorkerHandle, number>();
  /** Since when each ready extra worker has had nothing to do (epoch ms), for retiring it. */
  private readonly idleSince = new Map<WorkerHandle, number>();

  constructor(maxThreads: number, pool: Pool, dispatcher: Dispatcher, log: Logger, host: ElasticHost) {
    this.maxThreads = maxThreads;
    this.pool = pool;
    this.dispatcher = dispatcher;
    this.log = log;
    this.host = host;
  }

  /** One pass of the policy (every supervisor loop). */
  check(now: number): void {
    const cap = this.maxThreads - this.host.target();
    this.measure(now);
    this.checkSpare(now, cap);
    if (this.spare?.life.ready === true && saturated(this.dispatcher, this.pool.control)) this.promoteSpare();
    const extras = this.pool.live().filter((h) => h.elastic && !h.channel.retiring && !h.life.stopping && h !== this.spare);
    if (cap > 0 && this.host.mayStart(now)) {
      const spare = this.spare === null ? 0 : 1; // still booting, if any: a ready one was just promoted
      if (!this.blockSeen) this.blockSeen = anyBlocked(this.dispatcher, this.pool.control);
      if (saturated(this.dispatcher, this.pool.control)) this.grow(now, cap, extras, spare);
      else if (spare === 0 && extras.length < cap && this.blockSeen) this.spare = this.host.startElastic();
    }
    // Extras no longer among them (retired, stopped) are forgotten.
    for (const h of this.idleSince.keys()) if (!extras.includes(h)) this.idleSince.delete(h);
    for (const h of extras) {
      if (!h.life.ready) continue;
      const since = this.idleSince.get(h);
      if (h.channel.outstanding > 0) this.idleSince.delete(h);
      else if (since === undefined) this.idleSince.set(h, now);
      else if (now - since >= ELASTIC_IDLE_MS) this.host.retire(h, now, 'elastic worker idle');
    }
  }

  /** The dispatcher queued a request (at most once per pump turn): run check() soon, 100 times a second at most. */
  waited(): void {
    const now = performance.now();
    if (now - this.lastWaitCheck < WAIT_CHECK_MS) return;
    this.lastWaitCheck = now;
    this.host.wake();
  }

  /** Start workers for the requests that would still wait when they are ready. */
  private grow(now: number, cap: number, extras: WorkerHandle[], spare: number): void {
    const booting = extras.filter((h) => !h.life.ready).length + spare;
    // Only requests still waiting when a worker started now is ready need one: the queue
    // drains at the rate answers outpace arrivals (none after a burst, all of a steady load).
    const later = Math.ceil(this.dispatcher.waitingCount - this.drainPerMs * this.bootMs);
    const n = Math.min(ELASTIC_BOOTING - booting, cap - extras.length - spare, later - booting);
    for (let i = 0; i < n; i++) {
      const h = this.host.startElastic();
      if (h === null) break;
      this.booting.set(h, now);
    }
  }

  /** Update the queue's drain rate and the elastic workers' start time. */
  private measure(now: number): void {
    const d = this.dispatcher;
    const dt = now - this.rateAt;
    if (dt >= RATE_WINDOW_MS) {
      const drained = d.completed - this.rateCompleted - (d.submitted - this.rateSubmitted);
      this.drainPerMs = this.rateAt === 0 ? 0 : Math.max(0, drained / dt);
      this.rateAt = now;
      this.rateSubmitted = d.submitted;
      this.rateCompleted = d.completed;
    }
    for (const [h, since] of this.booting) {
      if (h.life.ready) this.bootMs = 0.7 * this.bootMs + 0.3 * (now - since);
      if (h.life.ready || h.life.dead || h.life.stopping) this.booting.delete(h);
    }
  }

  /** Forget a spare that died or was stopped; retire one with stale code (a reload) or no room left (scaled up). */
  private checkSpare(now: number, cap: number): void {
    const s = this.spare;
    if (s === null) return;
    if (s.life.dead || s.life.stopping || s.fate.killReason !== null) this.spare = null;
    else if (s.channel.retiring || s.fate.recycle !== null || s.cohort !== this.host.cohort() || cap <= 0) {
      this.spare = null;
      if (!s.channel.retiring) this.host.retire(s, now, cap <= 0 ? 'no room for a spare' : 'spare of an older generation');
    }
  }

  private promoteSpare(): void {
    const s = this.spare!;
    this.spare = null;
    this.log.debug({ slot: s.slot }, `requests wait on blocked workers: the spare worker ${s.slot} takes them`);
    this.dispatcher.add(s);
  }
}
