#!/usr/bin/env node
// design: the `greenserve` command. Parse argv and environment once into a frozen Config, start
// the server, print one banner line per address, and turn SIGTERM/SIGINT into a graceful close.
// Exit codes: 0 stopped cleanly, 1 the app or a listener failed to start, 2 bad usage (a setting).
import { readFileSync } from 'node:fs';
import { parseArgv, resolveConfig, type Config } from './config/resolve.js';
import { helpText } from './config/help.js';
import { ConfigError, GreenserveError } from './errors.js';
import { serveConfig } from './index.js';
import { createLogger } from './log.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usageError(message: string): never {
  process.stderr.write(`greenserve: error: ${message}\n`);
  process.exit(2);
}

function parse(argv: string[]): Config | null {
  try {
    const parsed = parseArgv(argv);
    if (parsed.help) {
      process.stdout.write(helpText());
      return null;
    }
    if (parsed.version) {
      process.stdout.write(`greenserve ${version()} (node ${process.version})\n`);
      return null;
    }
    if (parsed.options['app'] === undefined) usageError('APP: the app module is required (greenserve [options] APP; see --help)');
    return resolveConfig({ cli: parsed.options, env: process.env });
  } catch (err) {
    if (err instanceof ConfigError || (err as GreenserveError).code === 'GS_ERR_CONFIG') usageError((err as Error).message);
    throw err;
  }
}

async function main(): Promise<void> {
  const config = parse(process.argv.slice(2));
  if (config === null) return;
  const log = createLogger(config.logLevel);
  let handle;
  try {
    handle = await serveConfig(config, log);
  } catch (err) {
    const e = err as GreenserveError;
    // A setting found bad only at boot (a TLS key that does not match its certificate) is still
    // a usage error: one line naming it, exit 2.
    if (e.code === 'GS_ERR_CONFIG') usageError(e.message);
    process.stderr.write(`greenserve: cannot start: ${e.code ? `${e.code}: ` : ''}${e.message}\n`);
    process.exit(1);
  }
  for (const a of handle.addresses) log.info({ address: a.url }, `listening on ${a.url}`);
  log.info(
    { threads: config.threads, connections: config.connections, app: config.app, interface: handle.app },
    `greenserve ${version()}: ${config.threads} threads, app ${config.app} (${handle.app})`,
  );
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down gracefully');
    void handle.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void main();
