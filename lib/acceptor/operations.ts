// design: the operability features of the acceptor in one place, so the server wires them with a
// few calls: health and readiness (--health-path, --ready-path), the access log (--access-log)
// with request ids, metrics (--metrics-bind) and the status dashboard (--status-bind). Each is
// decided once, at construction: with all of them off the server keeps its plain submit and opens
// plain Connections, so the request path
// does no work at all for them (a disabled feature costs nothing per request). With any on, submit is wrapped once and
// connections are ObservedConnections.
import type { Socket } from 'node:net';
import type { Config } from '../config/resolve.js';
import { AccessLog } from './access-log.js';
import { Connection, type ConnectionHost, type ConnectionOptions, type Exchange } from './connection.js';
import type { FramedRequest } from './framer.js';
import { healthPathsOf, healthResponder, type HealthPaths } from './health.js';
import { Metrics, NO_METRICS, type MetricsHooks, type MetricsSnapshot } from './metrics.js';
import { ObservedConnection, Observer, type RequestSink } from './observe.js';
import { StatusBoard, type StatusGauges } from './status.js';
import { StatusServer } from './status-server.js';

export type Submit = (ex: Exchange, req: FramedRequest) => void;

export interface OperationsSource {
  /** gauges for a metrics scrape */
  snapshot(): MetricsSnapshot;
  /** a worker can take work and the server is not draining */
  ready(): boolean;
  /** gauges for a status dashboard snapshot */
  status(): StatusGauges;
}

export class Operations {
  /** Worker restart counts and the like; a no-op object when metrics are off. */
  readonly metrics: MetricsHooks;
  readonly health: HealthPaths | null;
  /** Flags every request frame carries from this server's settings (none today: ids travel in the frame's sub-header). */
  readonly frameFlags: number;
  /** Where metrics are served, once started. */
  metricsUrl: string | null = null;
  /** Where the status dashboard is served, once started. */
  statusUrl: string | null = null;
  private readonly config: Config;
  private readonly source: OperationsSource;
  private readonly metricsImpl: Metrics | null;
  private readonly statusBoard: StatusBoard | null;
  private statusServer: StatusServer | null = null;
  private readonly accessLog: AccessLog | null;
  private readonly observer: Observer | null;

  constructor(config: Config, source: OperationsSource) {
    this.config = config;
    this.source = source;
    this.health = healthPathsOf(config);
    this.metricsImpl = config.metricsBind === '' ? null : new Metrics(() => source.snapshot());
    this.statusBoard = config.statusBind === '' ? null : new StatusBoard(() => source.status());
    this.metrics = restartHooks(this.metricsImpl, this.statusBoard);
    this.accessLog = config.accessLog === '' ? null : new AccessLog(config.accessLog, config.accessLogFormat);
    const sinks: RequestSink[] = [];
    if (this.metricsImpl !== null) sinks.push(this.metricsImpl);
    if (this.statusBoard !== null) sinks.push(this.statusBoard);
    if (this.accessLog !== null) sinks.push(this.accessLog);
    this.observer = sinks.length === 0 ? null : new Observer({
      sinks,
      requestIdHeader: this.accessLog === null ? null : config.requestIdHeader,
      wantAgent: this.accessLog?.combined === true,
    });
    this.frameFlags = 0;
  }

  /** `submit` wrapped with what is on (record, then health), or null when nothing is. */
  wrapSubmit(submit: Submit): Submit | null {
    let s: Submit | null = null;
    if (this.health !== null) {
      const answer = healthResponder(this.health, () => this.source.ready());
      s = (ex, req) => {
        if (!answer(ex, req)) submit(ex, req);
      };
    }
    const observer = this.observer;
    if (observer !== null) {
      const inner = s ?? submit;
      s = (ex, req) => {
        observer.begin(ex, req);
        inner(ex, req);
      };
    }
    return s;
  }

  /** Header fields the framer is to capture for the access log (FramerLimits.capture); empty: none. */
  get capture(): readonly string[] {
    return this.observer === null ? [] : this.observer.capture;
  }

  /** A connection of the kind this server uses. */
  connection(id: number, socket: Socket, opts: ConnectionOptions, host: ConnectionHost): Connection {
    return this.observer === null
      ? new Connection(id, socket, opts, host)
      : new ObservedConnection(id, socket, opts, host, this.observer);
  }

  /** Start the metrics and status listeners. */
  async start(): Promise<void> {
    if (this.metricsImpl !== null) this.metricsUrl = await this.metricsImpl.listen(this.config.metricsBind);
    if (this.statusBoard !== null) {
      this.statusServer = new StatusServer(this.statusBoard);
      this.statusUrl = await this.statusServer.listen(this.config.statusBind);
    }
  }

  /** Reopen log files (SIGUSR1). */
  reopenLogs(): void {
    this.accessLog?.reopen();
  }

  /** Stop the metrics and status listeners and flush the access log. */
  async close(): Promise<void> {
    this.metricsImpl?.close();
    if (this.statusServer !== null) this.statusServer.close();
    else this.statusBoard?.close();
    await this.accessLog?.close();
  }
}

/** The restart hook of whichever of metrics and the status board are on (a no-op with neither). */
function restartHooks(metrics: Metrics | null, board: StatusBoard | null): MetricsHooks {
  if (metrics === null) return board ?? NO_METRICS;
  if (board === null) return metrics;
  return {
    workerRestart: (reason) => {
      metrics.workerRestart(reason);
      board.workerRestart(reason);
    },
  };
}
