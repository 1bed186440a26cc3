#!/usr/bin/env node
// design: the `greenserve` command. Parse argv and environment once into a frozen Config, start
// the server, print one banner line per address, and turn SIGTERM/SIGINT into a graceful close;
// one line says when it has stopped.
// Exit codes: 0 stopped cleanly, 1 a listener failed to start, 2 bad usage (a setting), 3 the app
// did not load in a worker (WORKER_BOOT_ERROR, as gunicorn's 3); killed by its own SIGKILL when a
// worker thread stuck in a native call outlived the stop (see exit()). Signals only enqueue events for
// the supervisor (handle.signal); the process exits when the server has stopped (docs/signals.md).
// `--check-config` and `--print-config` resolve the same way and exit (0, or 2 when bad).
// Without an APP it serves the built-in notes demo (lib/demo.ts).
import { readFileSync } from 'node:fs';
import { configFileOf, loadConfigFile, parseArgv, resolveConfig, type Config } from './config/resolve.js';
import { helpText } from './config/help.js';
import { SETTINGS } from './config/settings.js';
import { AppLoadError, ConfigError, GreenserveError } from './errors.js';
import { DEMO_APP, prepareDemo, type DemoInfo } from './demo.js';
import type { ServerHandle } from './index.js';
import { closeLogger, createLogger, logsToTerminal, type Logger } from './log.js';
import { FORWARDED_SIGNALS, inheritListeners, isParentsChild, runParent, signalDeduper, wantsParent, type ParentMessage } from './parent.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usageError(message: string): never {
  process.stderr.write(`greenserve: error: ${message}\n`);
  process.exit(2);
}

/** Set when no APP was given and the built-in demo is served. */
let demo: DemoInfo | null = null;

async function parse(argv: string[]): Promise<Config | null> {
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
    const configFile = configFileOf(parsed.options, process.env);
    const file = configFile === null ? undefined : await loadConfigFile(configFile);
    const hasApp = parsed.options['app'] !== undefined || (process.env['GREENSERVE_APP'] ?? '') !== '' || file?.settings['app'] !== undefined;
    if (!hasApp) parsed.options['app'] = DEMO_APP;
    // The demo shows the status dashboard too (on a free loopback port, printed at start) unless
    // --status-bind is set anywhere; `--status-bind ''` turns it off.
    const statusGiven = parsed.options['statusBind'] !== undefined || (process.env['GREENSERVE_STATUS_BIND'] ?? '') !== '' || file?.settings['statusBind'] !== undefined;
    if (!hasApp && !statusGiven) parsed.options['statusBind'] = '127.0.0.1:0';
    const config = resolveConfig({ file, cli: parsed.options, env: process.env });
    if (parsed.printConfig) {
      // In the table's order, as --help and docs/settings.md list them.
      const ordered = Object.fromEntries([...SETTINGS.map((s) => [s.key, config[s.key]]), ['appExport', config.appExport]]);
      process.stdout.write(`${JSON.stringify(ordered, null, 2)}\n`);
      return null;
    }
    // A supervising parent prepares nothing of the app: its child does (lib/parent.ts).
    if (!hasApp && (parsed.checkConfig || !wantsParent(config))) demo = await prepareDemo(config.demoDb);
    if (parsed.checkConfig) await checkConfig(config);
    return config;
  } catch (err) {
    if (err instanceof ConfigError || (err as GreenserveError).code === 'GS_ERR_CONFIG') usageError((err as Error).message);
    if ((err as GreenserveError).code === AppLoadError.code) {
      // The demo found no SQLite driver: the app cannot load, as a worker would find at boot.
      process.stderr.write(`greenserve: cannot start: ${AppLoadError.code}: ${(err as Error).message}\n`);
      process.exit(EXIT_BOOT_ERROR);
    }
    throw err;
  }
}

/** --check-config: the TLS files and the app must load too; exits 0, or 2 with the problem. */
async function checkConfig(config: Config): Promise<never> {
  try {
    const [{ loadTls }, { appUrlOf }, { loadApp }] = await Promise.all([import('./acceptor/tls.js'), import('./server.js'), import('./worker/app.js')]);
    loadTls(config);
    const app = await loadApp(appUrlOf(config.app), config.appExport, config.interface, {
      bind: config.bind,
      listenWaitMs: config.bootTimeout > 0 ? config.bootTimeout * 1000 : Infinity,
    });
    process.stdout.write(`greenserve: config OK; app ${config.app} (${app.interface}: ${app.detail})\n`);
  } catch (err) {
    const e = err as GreenserveError;
    usageError(`${e.code ? `${e.code}: ` : ''}${e.message}`);
  }
  process.exit(0);
}

async function main(): Promise<void> {
  const config = await parse(process.argv.slice(2));
  if (config === null) return;
  // The parent loads none of the server's modules (nor the app): only what binds and supervises.
  if (wantsParent(config)) return runParent(config, process.argv[1]!, process.argv.slice(2));
  const { serveConfig, SUPERVISOR_SIGNALS } = await import('./index.js');
  const child = isParentsChild();
  let log: Logger;
  try {
    log = createLogger(config.logLevel, {}, config.errorLog, config.logFormat);
  } catch (err) {
    usageError((err as Error).message); // --error-log names a file that cannot be opened
  }
  let handle;
  try {
    // Under the parent (--parent): listen on the sockets it bound, rather than bind them.
    const inherited = child ? await inheritListeners(config.bind.length) : undefined;
    handle = await serveConfig(config, log, inherited);
  } catch (err) {
    const e = err as GreenserveError;
    // A setting found bad only at boot (a TLS key that does not match its certificate) is still
    // a usage error: one line naming it, exit 2.
    if (e.code === 'GS_ERR_CONFIG') usageError(e.message);
    process.stderr.write(`greenserve: cannot start: ${e.code ? `${e.code}: ` : ''}${e.message}\n${causeStack(e)}`);
    process.exit(BOOT_ERROR_CODES.has(e.code) ? EXIT_BOOT_ERROR : 1);
  }
  banner(log, config, handle);
  // The terminal or pipe behind stdout and stderr may go away while the server runs (EIO, EPIPE):
  // what still reaches process.stdout and process.stderr then (the workers' console output, which
  // node pipes through this thread, node's own warnings) is dropped, rather than an unhandled
  // 'error' event that would end the server. greenserve's own logs give up by themselves (log.ts).
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  // A signal handler only enqueues; the supervisor's loop acts (a second TERM/INT: at once).
  // logrotate: SIGUSR1 reopens the log files (installing a listener also stops node from starting
  // its inspector on SIGUSR1).
  const act = (signal: (typeof FORWARDED_SIGNALS)[number]): void => {
    if (signal === 'SIGUSR1') handle.reopenLogs();
    else handle.signal(signal);
  };
  if (!child) {
    for (const signal of SUPERVISOR_SIGNALS) process.on(signal, () => act(signal));
    process.on('SIGUSR1', () => act('SIGUSR1'));
  } else {
    // Under the parent: its signals come over the IPC channel; one that also reached this
    // process straight (systemd signals every process of the service) counts once.
    const signals = signalDeduper(act);
    for (const signal of FORWARDED_SIGNALS) process.on(signal, () => signals.direct(signal));
    process.on('message', (m: ParentMessage) => {
      if (m?.type === 'greenserve:signal') signals.forwarded(m.signal);
    });
    // The parent is gone (killed): nobody restarts this server or passes signals on; stop gracefully.
    process.once('disconnect', () => handle.signal('SIGTERM'));
    process.send!({ type: 'greenserve:ready' });
  }
  void handle.closed.then(() => exit(log, handle));
}

/**
 * Exit 0 once the server has stopped, after a last `stopped` record (written out first); but a worker thread blocked in a native call (the error log
 * has named it) would hold process.exit() until the call returns (node joins its threads at exit,
 * process.reallyExit too), for as long as that takes: the process ends itself with SIGKILL instead,
 * once the log is written out (docs/signals.md, "A worker blocked in a native call").
 */
async function exit(log: Logger, handle: ServerHandle): Promise<void> {
  const stranded = handle.strandedThreads;
  if (stranded === 0) {
    log.info('stopped');
    await closeLogger(log);
    process.exit(0);
  }
  log.error({ threads: stranded }, `${stranded} worker thread(s) still blocked in a native call: ending the process with SIGKILL`);
  await closeLogger(log);
  process.kill(process.pid, 'SIGKILL');
}


/** The startup banner: one line per address, then the threads and the app as detected. */
function banner(log: Logger, config: Config, handle: ServerHandle): void {
  // On a terminal, how to stop it (as uvicorn says it); not in a file or a pipe, where nobody can.
  const hint = logsToTerminal(config.errorLog) ? ' (press Ctrl+C to quit)' : '';
  handle.addresses.forEach((a, i) => {
    log.info({ address: a.url }, `listening on ${a.url}${i === handle.addresses.length - 1 ? hint : ''}`);
  });
  if (handle.metricsUrl !== null) log.info({ address: handle.metricsUrl }, `metrics on ${handle.metricsUrl}`);
  if (handle.statusUrl !== null) log.info({ address: handle.statusUrl }, `status dashboard on ${handle.statusUrl}`);
  const health = [config.healthPath, config.readyPath].filter((p) => p !== '');
  if (health.length > 0) log.info({ healthPath: config.healthPath, readyPath: config.readyPath }, `health checks at ${health.join(', ')}`);
  if (config.accessLog !== '') {
    const where = config.accessLog === '-' ? 'stdout' : config.accessLog;
    log.info({ accessLog: config.accessLog, format: config.accessLogFormat }, `access log (${config.accessLogFormat}) to ${where}`);
  }
  log.info(
    { threads: config.threads, connections: config.connections, app: config.app, interface: handle.app },
    `greenserve ${version()} (node ${process.version}): ${config.threads} threads, ${config.connections} connections, ` +
      `app ${config.app} (${handle.app})`,
  );
  if (demo !== null) {
    log.info(
      { demo: 'notes', database: demo.database, driver: demo.driver },
      `no APP given: serving the notes demo at ${handle.url}/ (database ${demo.database}, ${demo.driver}; --demo-db PATH to change it)`,
    );
  } else if (config.demoDb !== '') log.warn({ demoDb: config.demoDb }, 'demoDb is ignored: it is the database of the built-in demo, served only without APP');
}

/**
 * The app's own error behind a boot error (a throw at import, a syntax error with its frame), as
 * its stack without node's internal frames, indented; '' when there is none.
 */
function causeStack(err: GreenserveError): string {
  const cause = err.cause as Error | undefined;
  if (err.code !== AppLoadError.code || !(cause instanceof Error) || typeof cause.stack !== 'string') return '';
  const own = new URL('.', import.meta.url).href; // greenserve's own frames (dist/lib/) go too
  const lines = cause.stack.split('\n').filter((l) => !/^\s+at (?:.* \()?node:/.test(l) && !l.includes(own));
  return `${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

/** Exit status when a worker could not load the app at startup (gunicorn's WORKER_BOOT_ERROR). */
const EXIT_BOOT_ERROR = 3;
const BOOT_ERROR_CODES: ReadonlySet<string | undefined> = new Set(['GS_ERR_APP_LOAD', 'GS_ERR_APP_SHAPE', 'GS_ERR_BOOT_TIMEOUT']);

void main();
