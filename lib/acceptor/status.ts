// design: what the live status dashboard (--status-bind) shows, kept by the acceptor. Like
// Metrics, the board is a RequestSink: a response start bumps a status-class counter and a
// response end a latency bucket, nothing else happens per request. Once a second an unref'd timer
// turns the counters into rates (requests per second over the last minute, the latency histogram
// of the last ten seconds) with a few subtractions. Gauges (workers, connections, queue) are read
// from the server only when a snapshot is taken: once per tick while a dashboard listens, and once
// per GET /status.json. The listener and the event stream are in ./status-server.ts, the per-worker
// reading in ./status-workers.ts. With --status-bind unset none of this exists.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { DURATION_BOUNDS_MS, durationBucket } from './metrics.js';
import type { RequestSink } from './observe.js';
import type { RequestRecord } from './request-record.js';
import type { WorkerStatus } from './status-workers.js';

/** Snapshot interval of the event stream, and the resolution of the rate history (ms). */
export const TICK_MS = 1000;
/** Seconds of requests-per-second history a snapshot carries (the dashboard's sparkline). */
export const RATE_HISTORY = 60;
/** Seconds the "recent" latency histogram covers. */
export const LATENCY_WINDOW = 10;
/** Upper bounds of the latency buckets (ms); one more bucket past the last holds everything slower. */
export const LATENCY_BOUNDS_MS = DURATION_BOUNDS_MS;
/** Resolution of the acceptor's event-loop delay monitor (ms). */
const LOOP_RESOLUTION_MS = 20;

/** What the server reports when a snapshot is taken. */
export interface StatusGauges {
  /** what the workers detected the app to be */
  app: string;
  /** workers wanted (--threads, changed by scaling) */
  threads: number;
  /** the elastic ceiling (--max-threads) */
  maxThreads: number;
  connections: number;
  /** requests accepted and not yet answered */
  inflight: number;
  /** requests waiting in the acceptor's queue for a worker */
  queued: number;
  workers: WorkerStatus[];
}

/** One snapshot, as /status.json and each event of /events carry it (docs/dashboard.md). */
export interface StatusSnapshot {
  version: 1;
  /** epoch ms when the snapshot was taken */
  time: number;
  startedAt: number;
  uptimeSeconds: number;
  pid: number;
  node: string;
  app: string;
  threads: { target: number; max: number; live: number; elastic: number };
  connections: number;
  inflight: number;
  queued: number;
  requests: { total: number; rate: number; byClass: Record<string, number>; rateHistory: number[] };
  latency: { boundsMs: readonly number[]; recent: number[]; total: number[]; recentPercentilesMs: Percentiles | null };
  workers: WorkerStatus[];
  restarts: Record<string, number>;
  memory: { rssBytes: number; acceptorHeapBytes: number; workersHeapMb: number };
  acceptor: { loopDelayP99Ms: number; loopDelayMaxMs: number };
  stream: { clients: number; dropped: number };
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
}

const CLASS_NAMES = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

export class StatusBoard implements RequestSink {
  readonly startedAt = Date.now();
  /** responses started, by status class: index 1..5 (1xx..5xx); 0 for anything else */
  private readonly classes = [0, 0, 0, 0, 0, 0];
  /** responses ended, by latency bucket (cumulative since start) */
  private readonly buckets = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  private completed = 0;
  private readonly restarts = new Map<string, number>();
  /** requests per second of the last RATE_HISTORY ticks, a ring; `rateAt` is the next write */
  private readonly rates = new Array<number>(RATE_HISTORY).fill(0);
  private rateAt = 0;
  /** copies of `buckets` at the last LATENCY_WINDOW + 1 ticks, a ring; `bucketsAt` is the next write */
  private readonly bucketHistory: number[][];
  private bucketsAt = 0;
  private lastCompleted = 0;
  private lastTick = performance.now();
  private loopP99 = 0;
  private loopMax = 0;
  private readonly loopDelay: IntervalHistogram;
  private readonly gauges: () => StatusGauges;
  private readonly timer: NodeJS.Timeout;
  /** Called after every tick (the event stream sends a snapshot then). */
  onTick: (() => void) | null = null;
  /** The event stream, once it is served: clients connected, snapshots skipped for slow ones. */
  stream: { readonly size: number; readonly dropped: number } | null = null;

  constructor(gauges: () => StatusGauges) {
    this.gauges = gauges;
    this.bucketHistory = Array.from({ length: LATENCY_WINDOW + 1 }, () => this.buckets.slice());
    this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.loopDelay.enable();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  status(status: number): void {
    const c = (status / 100) | 0;
    this.classes[c >= 1 && c <= 5 ? c : 0]!++;
  }

  end(_rec: RequestRecord, ms: number): void {
    this.buckets[durationBucket(ms)]!++;
    this.completed++;
  }

  workerRestart(reason: string): void {
    this.restarts.set(reason, (this.restarts.get(reason) ?? 0) + 1);
  }

  /** Once a second: the rate of the interval, a copy of the histogram, the loop delay; then notify. */
  tick(): void {
    const now = performance.now();
    const seconds = Math.max(0.001, (now - this.lastTick) / 1000);
    this.lastTick = now;
    this.rates[this.rateAt] = (this.completed - this.lastCompleted) / seconds;
    this.rateAt = (this.rateAt + 1) % RATE_HISTORY;
    this.lastCompleted = this.completed;
    const copy = this.bucketHistory[this.bucketsAt]!;
    for (let i = 0; i < copy.length; i++) copy[i] = this.buckets[i]!;
    this.bucketsAt = (this.bucketsAt + 1) % this.bucketHistory.length;
    const h = this.loopDelay;
    // The histogram records whole timer intervals: the delay is what exceeds the resolution.
    const ms = (ns: number): number => (Number.isFinite(ns) && h.count > 0 ? Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS) : 0);
    this.loopP99 = round3(ms(h.percentile(99)));
    this.loopMax = round3(ms(h.max));
    h.reset();
    this.onTick?.();
  }

  /** Everything the dashboard shows, now. */
  snapshot(): StatusSnapshot {
    const g = this.gauges();
    const now = Date.now();
    let live = 0;
    let elastic = 0;
    let workersHeapMb = 0;
    for (const w of g.workers) {
      if (w.state !== 'dead') live++;
      if (w.elastic && !w.retiring) elastic++;
      workersHeapMb += w.heapMb;
    }
    const recent = this.recentBuckets();
    const mem = process.memoryUsage();
    return {
      version: 1,
      time: now,
      startedAt: this.startedAt,
      uptimeSeconds: Math.round((now - this.startedAt) / 1000),
      pid: process.pid,
      node: process.version,
      app: g.app,
      threads: { target: g.threads, max: g.maxThreads, live, elastic },
      connections: g.connections,
      inflight: g.inflight,
      queued: g.queued,
      requests: {
        total: this.completed,
        rate: round3(this.rates[(this.rateAt + RATE_HISTORY - 1) % RATE_HISTORY]!),
        byClass: Object.fromEntries(CLASS_NAMES.map((n, i) => [n, this.classes[i]!])),
        rateHistory: this.rateHistory(),
      },
      latency: {
        boundsMs: LATENCY_BOUNDS_MS,
        recent,
        total: this.buckets.slice(),
        recentPercentilesMs: percentiles(recent),
      },
      workers: g.workers,
      restarts: Object.fromEntries(this.restarts),
      memory: { rssBytes: mem.rss, acceptorHeapBytes: mem.heapUsed, workersHeapMb },
      acceptor: { loopDelayP99Ms: this.loopP99, loopDelayMaxMs: this.loopMax },
      stream: { clients: this.stream?.size ?? 0, dropped: this.stream?.dropped ?? 0 },
    };
  }

  /** Oldest first. */
  private rateHistory(): number[] {
    const out = new Array<number>(RATE_HISTORY);
    for (let i = 0; i < RATE_HISTORY; i++) out[i] = round3(this.rates[(this.rateAt + i) % RATE_HISTORY]!);
    return out;
  }

  /** Requests per latency bucket that ended in the last LATENCY_WINDOW ticks (and since). */
  private recentBuckets(): number[] {
    const then = this.bucketHistory[this.bucketsAt]!; // the oldest copy: LATENCY_WINDOW ticks ago
    return this.buckets.map((n, i) => n - then[i]!);
  }

  close(): void {
    clearInterval(this.timer);
    this.loopDelay.disable();
  }
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * Percentiles estimated from bucket counts: linear inside the bucket that holds the rank (the
 * first bucket starts at 0; the open-ended last one reports its lower bound). Null when empty.
 */
export function percentiles(counts: readonly number[]): Percentiles | null {
  let total = 0;
  for (const n of counts) total += n;
  if (total === 0) return null;
  const at = (q: number): number => {
    const rank = q * total;
    let seen = 0;
    for (let i = 0; i < counts.length; i++) {
      const n = counts[i]!;
      if (n > 0 && seen + n >= rank) {
        const lo = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!;
        if (i >= LATENCY_BOUNDS_MS.length) return lo;
        return round3(lo + ((LATENCY_BOUNDS_MS[i]! - lo) * (rank - seen)) / n);
      }
      seen += n;
    }
    return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
  };
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}
