// design: the library entry. `serve()` resolves the options once (defaults < GREENSERVE_* env <
// options), starts the workers (the app is a module path or URL: functions cannot cross threads),
// listens, and returns a handle.
import { resolveConfig, type Config, type ConfigOptions } from './config/resolve.js';
import type { Logger } from './log.js';
import { Server, type BoundAddress, type ServerStats } from './server.js';

export type { Config, ConfigOptions } from './config/resolve.js';
export type { BoundAddress, ServerStats, WorkerStats } from './server.js';
export { GreenserveError, ConfigError, AppLoadError, AppShapeError } from './errors.js';

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
  /** Graceful stop: stop accepting, finish owed requests (up to gracefulTimeout), stop the workers. */
  close(): Promise<void>;
  stats(): ServerStats;
}

export async function serve(options: ServeOptions, logger?: Logger): Promise<ServerHandle> {
  const { env, ...rest } = options;
  const app = rest.app instanceof URL ? rest.app.href : rest.app;
  const config = resolveConfig({ env: env ?? process.env, options: { ...rest, app } });
  const server = await new Server(config, logger).start();
  return handleOf(server);
}

/** Start a server from an already resolved configuration (the CLI's path). */
export async function serveConfig(config: Config, logger?: Logger): Promise<ServerHandle> {
  return handleOf(await new Server(config, logger).start());
}

function handleOf(server: Server): ServerHandle {
  return {
    config: server.config,
    addresses: server.addresses,
    url: server.addresses[0]?.url ?? '',
    app: server.appDetail,
    close: () => server.close(),
    stats: () => server.stats(),
  };
}
