// design: Prometheus metrics (--metrics-bind), kept by the acceptor. Counters are plain numbers
// bumped from ObservedConnection (status class when a response starts, duration when it ends);
// gauges are read from the server at scrape time, so nothing is computed between scrapes. The
// scrape listener is a node:http server on its own address: it runs on the acceptor thread but is
// not the request path, and one scrape costs a few hundred lines of text. With metrics off the
// server holds NO_METRICS, whose methods do nothing, and the request path never reaches them.
import type http from 'node:http';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { RequestSink } from './observe.js';
import type { RequestRecord } from './request-record.js';
import { listenSide } from './side-listener.js';

/** Upper bounds of the request duration histogram, in seconds. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** The same bounds in ms (the metrics histogram and the dashboard's latency distribution). */
export const DURATION_BOUNDS_MS: readonly number[] = DURATION_BUCKETS.map((s) => s * 1000);

/** The histogram bucket of a duration: the first bound it does not exceed, or the last (+Inf) one. */
export function durationBucket(ms: number): number {
  let i = 0;
  while (i < DURATION_BOUNDS_MS.length && ms > DURATION_BOUNDS_MS[i]!) i++;
  return i;
}
/** Sampling interval of the event-loop delay monitor (one timer on the acceptor). */
const LOOP_RESOLUTION_MS = 20;

export interface WorkerSample {
  slot: number;
  state: string;
  served: number;
  /** V8 heap in use, in bytes, as the worker last published it; -1 when unknown */
  heapBytes: number;
}

/** What the server reports at scrape time. */
export interface MetricsSnapshot {
  connections: number;
  /** requests accepted and not yet answered */
  inflight: number;
  /** requests waiting for a worker */
  queued: number;
  workers: WorkerSample[];
  /** every worker state name, so each shows up (as 0) even when no worker is in it */
  states: readonly string[];
}

/** The metrics a supervisor may bump, whether metrics are on or not. */
export interface MetricsHooks {
  /** A worker was replaced; `reason` is what ended it (crashed, exited, timeout, max-requests, memory, reload...). */
  workerRestart(reason: string): void;
}

export const NO_METRICS: MetricsHooks = { workerRestart: () => {} };

export class Metrics implements RequestSink, MetricsHooks {
  /** responses started, by status class: index 1..5 (1xx..5xx); 0 for anything else */
  private readonly classes = [0, 0, 0, 0, 0, 0];
  private readonly buckets = new Array<number>(DURATION_BOUNDS_MS.length + 1).fill(0);
  private durationSum = 0;
  private readonly restarts = new Map<string, number>();
  private readonly loopDelay: IntervalHistogram;
  private readonly snapshot: () => MetricsSnapshot;
  private server: http.Server | null = null;

  constructor(snapshot: () => MetricsSnapshot) {
    this.snapshot = snapshot;
    this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    this.loopDelay.enable();
  }

  status(status: number): void {
    const c = (status / 100) | 0;
    this.classes[c >= 1 && c <= 5 ? c : 0]!++;
  }

  end(_rec: RequestRecord, ms: number): void {
    this.buckets[durationBucket(ms)]!++;
    this.durationSum += ms;
  }

  workerRestart(reason: string): void {
    this.restarts.set(reason, (this.restarts.get(reason) ?? 0) + 1);
  }

  /** The Prometheus text exposition (format 0.0.4). */
  render(): string {
    const s = this.snapshot();
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, lines: string[]): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    const names = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'];
    metric('greenserve_requests_total', 'counter', 'Responses started, by status class.',
      names.map((n, i) => `greenserve_requests_total{class="${n}"} ${this.classes[i]}`));
    metric('greenserve_request_duration_seconds', 'histogram', 'Time from a request being framed to the end of its response.',
      this.histogramLines('greenserve_request_duration_seconds'));
    metric('greenserve_requests_in_flight', 'gauge', 'Requests accepted and not yet answered.', [`greenserve_requests_in_flight ${s.inflight}`]);
    metric('greenserve_queue_depth', 'gauge', 'Requests waiting for a worker.', [`greenserve_queue_depth ${s.queued}`]);
    metric('greenserve_connections_open', 'gauge', 'Client connections open.', [`greenserve_connections_open ${s.connections}`]);
    const byState = new Map<string, number>(s.states.map((n) => [n, 0]));
    for (const w of s.workers) byState.set(w.state, (byState.get(w.state) ?? 0) + 1);
    metric('greenserve_workers', 'gauge', 'Worker threads, by state.',
      [...byState].map(([state, n]) => `greenserve_workers{state="${state}"} ${n}`));
    metric('greenserve_worker_restarts_total', 'counter', 'Workers replaced, by reason.',
      [...this.restarts].map(([reason, n]) => `greenserve_worker_restarts_total{reason="${escapeLabel(reason)}"} ${n}`));
    metric('greenserve_worker_requests_served_total', 'counter', 'Responses completed by the worker now in each slot.',
      s.workers.map((w) => `greenserve_worker_requests_served_total{slot="${w.slot}"} ${w.served}`));
    metric('greenserve_worker_heap_bytes', 'gauge', 'V8 heap in use by the worker in each slot.',
      s.workers.filter((w) => w.heapBytes >= 0).map((w) => `greenserve_worker_heap_bytes{slot="${w.slot}"} ${w.heapBytes}`));
    metric('process_resident_memory_bytes', 'gauge', 'Resident set size of the process.', [`process_resident_memory_bytes ${process.memoryUsage.rss()}`]);
    out.push(...this.loopDelayLines());
    return `${out.join('\n')}\n`;
  }

  private histogramLines(name: string): string[] {
    const lines: string[] = [];
    let cumulative = 0;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      cumulative += this.buckets[i]!;
      lines.push(`${name}_bucket{le="${DURATION_BUCKETS[i]}"} ${cumulative}`);
    }
    cumulative += this.buckets[DURATION_BUCKETS.length]!;
    lines.push(`${name}_bucket{le="+Inf"} ${cumulative}`, `${name}_sum ${this.durationSum / 1000}`, `${name}_count ${cumulative}`);
    return lines;
  }

  /** Acceptor event-loop delay since the previous scrape (then reset), in seconds. */
  private loopDelayLines(): string[] {
    const h = this.loopDelay;
    // The histogram records whole timer intervals: the delay is what exceeds the resolution.
    const sec = (ns: number): number => (Number.isFinite(ns) && h.count > 0 ? Math.max(0, ns - LOOP_RESOLUTION_MS * 1e6) / 1e9 : 0);
    const lines = [
      '# HELP greenserve_acceptor_event_loop_delay_seconds Event-loop delay of the acceptor thread since the previous scrape.',
      '# TYPE greenserve_acceptor_event_loop_delay_seconds gauge',
      `greenserve_acceptor_event_loop_delay_seconds{stat="p50"} ${sec(h.percentile(50))}`,
      `greenserve_acceptor_event_loop_delay_seconds{stat="p99"} ${sec(h.percentile(99))}`,
      `greenserve_acceptor_event_loop_delay_seconds{stat="max"} ${sec(h.max)}`,
    ];
    h.reset();
    return lines;
  }

  /** Serve GET /metrics on `address` (a --bind form); resolves with the URL. */
  async listen(address: string): Promise<string> {
    const { server, url } = await listenSide(address, '/metrics', (req, res) => {
      if (req.url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found\n');
        return;
      }
      const body = this.render();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    this.server = server;
    return url;
  }

  close(): void {
    this.loopDelay.disable();
    this.server?.close();
    this.server?.closeAllConnections();
  }
}

function escapeLabel(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}
