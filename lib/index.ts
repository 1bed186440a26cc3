// design: the library entry. `serve()` resolves the options once (defaults < GREENSERVE_* env <
// options), starts the workers (the app is a module path or URL: functions cannot cross threads),
// listens, and returns a handle.
import { configFileOf, loadConfigFile, resolveConfig, type Config, type ConfigOptions } from './config/resolve.js';
import type { Logger } from './log.js';
import { Server, type BoundAddress, type InheritedListener, type ServerStats } from './server.js';

export type { Config, ConfigOptions } from './config/resolve.js';
export type { BoundAddress, ServerStats, WorkerStats } from './server.js';
export type { WorkerDetail } from './supervisor/pool.js';
export type { TimeoutInfo, WorkerReport } from './messages.js';
export type { SupervisorEvent, SupervisorSignal } from './supervisor/arbiter.js';
export { SUPERVISOR_SIGNALS } from './supervisor/arbiter.js';
export { GreenserveError, ConfigError, AppLoadError, AppShapeError } from './errors.js';
/** The app logger: records in the error log with the id of the request they were written for. */
export { logger } from './app-log.js';
import type { SupervisorEvent, SupervisorSignal } from './supervisor/arbiter.js';

export interface ServeOptions extends ConfigOptions {
  /** The app module: a path (relative to the working directory), or a file: URL; `path:export` picks an export. */
  app: string | URL;
  /** Environment to read GREENSERVE_* settings from (default: process.env; pass {} to ignore it). */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface ServerHandle {
  /** The resolved, frozen configuration. */
  readonly config: Config;
  /** Every address listened on, with a ready-made URL (`http://127.0.0.1:PORT`, `unix:/path`). */
  readonly addresses: readonly BoundAddress[];
  /** The first address's URL. */
  readonly url: string;
  /** What the workers detected the app to be. */
  readonly app: string;
  /**
   * Graceful stop: stop accepting, finish owed requests (up to gracefulTimeout; later requests on
   * open connections are answered with Connection: close), stop the workers. `{ graceful: false }`
   * stops at once, as SIGQUIT does. See docs/signals.md.
   */
  close(options?: { graceful?: boolean }): Promise<void>;
  /** Zero-downtime reload (SIGHUP): resolves once the new generation serves; rejects, old workers still serving, if it failed to load. */
  reload(): Promise<void>;
  /** Run `threads` worker threads (SIGTTIN / SIGTTOU add or remove one): resolves once that many are ready. */
  scale(threads: number): Promise<void>;
  /** Act on a signal exactly as the CLI does (it only enqueues an event for the supervisor). */
  signal(signal: SupervisorSignal): void;
  /** Push a supervisor event (tests). */
  enqueue(event: SupervisorEvent): void;
  /** Resolves once the server has stopped, whatever stopped it. */
  readonly closed: Promise<void>;
  /**
   * Worker threads still alive although the server stopped them (after `closed`): blocked in a
   * native call (`execSync`, a synchronous addon), which cannot be interrupted. close() does not
   * wait for them (the error log names each); they hold the process, even process.exit(), until
   * the call returns. 0 otherwise. See docs/signals.md.
   */
  readonly strandedThreads: number;
  /** Counts from shared memory: synchronous, never waits on a worker. */
  stats(): ServerStats;
  /**
   * The same, with each worker's `detail`: its own report over the control plane (heap used,
   * reserved and limit, event-loop utilization, requests in flight) and the request it runs. A
   * worker that does not answer within `timeoutMs` (default 500; a handler holds its thread) is
   * reported with `responsive: false` instead of holding the stats up.
   */
  stats(options: { detail: true; timeoutMs?: number }): Promise<ServerStats>;
  /** Where Prometheus metrics are served (`--metrics-bind`), or null when they are off. */
  readonly metricsUrl: string | null;
  /** Where the live status dashboard is served (`--status-bind`), or null when it is off. */
  readonly statusUrl: string | null;
  /** Reopen the access log and error log files (SIGUSR1 in the CLI; after logrotate moved them). */
  reopenLogs(): void;
}

export async function serve(options: ServeOptions, logger?: Logger): Promise<ServerHandle> {
  const { env, ...rest } = options;
  const app = rest.app instanceof URL ? rest.app.href : rest.app;
  const environment = env ?? process.env;
  // A config file (options.config or GREENSERVE_CONFIG) sits below the environment and the options.
  const configFile = configFileOf(rest, environment);
  const file = configFile === null ? undefined : await loadConfigFile(configFile);
  const config = resolveConfig({ file, env: environment, options: { ...rest, app } });
  const server = await new Server(config, logger).start();
  return handleOf(server);
}

/** Start a server from an already resolved configuration (the CLI's path). */
export async function serveConfig(config: Config, logger?: Logger, inherited?: ReadonlyArray<InheritedListener>): Promise<ServerHandle> {
  return handleOf(await new Server(config, logger, inherited).start());
}

function handleOf(server: Server): ServerHandle {
  return {
    config: server.config,
    addresses: server.addresses,
    url: server.addresses[0]?.url ?? '',
    app: server.appDetail,
    close: (options) => server.close(options?.graceful ?? true),
    reload: () => server.reload(),
    scale: (threads) => server.scale(threads),
    signal: (signal) => server.signal(signal),
    enqueue: (event) => server.enqueue(event),
    closed: server.stopped,
    get strandedThreads() {
      return server.strandedThreads;
    },
    stats: ((options?: { detail?: boolean; timeoutMs?: number }) =>
      options?.detail === true ? server.detailedStats(options.timeoutMs ?? 500) : server.stats()) as ServerHandle['stats'],
    metricsUrl: server.ops.metricsUrl,
    statusUrl: server.ops.statusUrl,
    reopenLogs: () => server.reopenLogs(),
  };
}
