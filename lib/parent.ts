// design: the supervising parent of the `greenserve` command (--parent, on by default), as
// gunicorn's arbiter or nginx's master process. It binds every --bind address itself (bound, not
// listened on: it never accepts), starts the server (acceptor and worker threads) in one child
// process running the same command, and hands it the bound sockets over the IPC channel; the child
// listen()s on them. The socket keeps listening as long as any process holds it, and the parent
// holds it for its whole life: when the child dies for any reason (V8's fatal out-of-memory abort,
// a native crash, the kernel's OOM killer, kill -9), connections that arrive complete their
// handshake in the kernel's listen backlog until the next child accepts them. The parent logs the
// death with its cause and starts the next child at once (with a backoff when children keep dying
// young). It never loads the app, and does nothing per request.
// Signals sent to the parent are forwarded to the child over the IPC channel (the child acts as
// the server always did); SIGTERM, SIGINT and SIGQUIT also make the parent close its copies of the
// sockets, so that they close when the child closes its listeners (new connections refused, as
// before), and the parent ends with the child's exit status. A child whose parent is gone (its IPC
// channel closed) stops gracefully. Several children sharing the same sockets would be a loop
// over the children here; the protocol (ask for the listeners, say ready) stays per child.
import { fork, type ChildProcess } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { statSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { getSystemErrorMap } from 'node:util';
import { parseBind, type BindAddress, type Config } from './config/resolve.js';
import type { GreenserveError } from './errors.js';
import { closeLogger, createLogger, type Logger } from './log.js';

/** Set in the child's environment (to the parent's pid): it serves the sockets its parent hands it. */
export const CHILD_ENV = '__GREENSERVE_PARENT_PID';

/** Messages between the parent and its child (over the IPC channel of child_process.fork). */
export type ParentMessage =
  | { type: 'greenserve:listener'; index: number }
  | { type: 'greenserve:signal'; signal: ForwardedSignal };
export type ChildMessage = { type: 'greenserve:listeners' } | { type: 'greenserve:ready' };

/** The signals the parent passes on (docs/signals.md): the server's own, and SIGUSR1 (reopen logs). */
export const FORWARDED_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGUSR1'] as const;
export type ForwardedSignal = (typeof FORWARDED_SIGNALS)[number];
const STOP_SIGNALS: ReadonlySet<string> = new Set(['SIGTERM', 'SIGINT', 'SIGQUIT']);

/**
 * A child that lived less than this (dead before it was ready, or soon after) died young: the
 * second such death in a row delays the next start (RESTART_BACKOFF_MS, doubling, at most
 * RESTART_BACKOFF_MAX_MS), so that a server that cannot start does not restart in a hot loop.
 */
const YOUNG_MS = 10_000;
const RESTART_BACKOFF_MS = 250;
const RESTART_BACKOFF_MAX_MS = 30_000;
/** The longest the parent waits for its log to flush when it ends. */
const LOG_CLOSE_MS = 1000;

/** A handle as node's net module makes it for a server: bound, not listening. */
type ServerHandle = { fd: number; close(): void };

/** Whether the command runs under a parent: --parent, on an OS that can pass sockets to a child. */
export function wantsParent(config: Config): boolean {
  return config.parent && process.platform !== 'win32' && process.env[CHILD_ENV] === undefined;
}

/** Whether this process is a child started by the parent (it has the IPC channel). */
export function isParentsChild(): boolean {
  return process.env[CHILD_ENV] !== undefined && typeof process.send === 'function';
}

/**
 * Run the parent: bind, start the child, supervise it. Never returns: the process exits with the
 * child's status once the child has stopped on a signal, or when the first child fails to start
 * (which has said why on stderr), or 1 when an address cannot be bound.
 */
export async function runParent(config: Config, script: string, argv: readonly string[]): Promise<void> {
  const handles: ServerHandle[] = [];
  const addrs = config.bind.map((spec) => parseBind(spec));
  for (const addr of addrs) {
    const h = await bind(addr, config.backlog);
    if (typeof h === 'string') {
      for (const x of handles) x.close();
      process.stderr.write(`greenserve: cannot start: ${h}\n`);
      process.exit(1);
    }
    handles.push(h);
  }
  let log: Logger;
  try {
    log = createLogger(config.logLevel, { role: 'parent' }, config.errorLog, config.logFormat);
  } catch (err) {
    for (const x of handles) x.close();
    // A bad --error-log: one line naming it, exit 2, as the server itself says it without a parent.
    if ((err as GreenserveError).code === 'GS_ERR_CONFIG') {
      process.stderr.write(`greenserve: error: ${(err as Error).message}\n`);
      process.exit(2);
    }
    throw err;
  }
  new Parent(log, handles, addrs, script, argv).start();
}

/** Bind (never listen) one address; a string is the error, as node words a failed listen(). */
async function bind(addr: BindAddress, _backlog: number): Promise<ServerHandle | string> {
  const create = (net as unknown as { _createServerHandle(a: string, port: number, type: number): ServerHandle | number })._createServerHandle;
  let r: ServerHandle | number;
  let where: string;
  if (addr.kind === 'unix') {
    removeStaleSocket(addr.path);
    r = create(addr.path, -1, -1);
    where = addr.path;
  } else {
    let ip: string;
    let family: number;
    try {
      ({ address: ip, family } = await lookup(addr.host));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return `${e.code ?? 'ENOTFOUND'}: ${e.message}`;
    }
    r = create(ip, addr.port, family);
    where = `${ip}:${addr.port}`;
  }
  if (typeof r !== 'number') return r;
  const [name, text] = getSystemErrorMap().get(r) ?? [`E${-r}`, 'unknown error'];
  return `${name}: listen ${name}: ${text} ${where}`;
}

function removeStaleSocket(file: string): void {
  try {
    if (statSync(file).isSocket()) unlinkSync(file);
  } catch {
    // not there: nothing to remove
  }
}

/** What a child's death looks like in the log: how it ended, and what usually does that. */
export function deathCause(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal !== null) {
    const why: Record<string, string> = {
      SIGABRT: 'an abort: V8 out of memory past a heap limit, or a failed assertion in native code',
      SIGKILL: 'the kernel\'s OOM killer, or kill -9',
      SIGSEGV: 'a crash in native code',
      SIGBUS: 'a crash in native code',
      SIGILL: 'a crash in native code',
      SIGFPE: 'a crash in native code',
    };
    return `killed by ${signal}${why[signal] === undefined ? '' : ` (${why[signal]})`}`;
  }
  return `exited with code ${code}`;
}

class Parent {
  private child: ChildProcess | null = null;
  /** The child has said it serves (its listeners are open). */
  private childReady = false;
  private childStartedAt = 0;
  /** A child has served at least once: from then on a death is restarted, not the end. */
  private everReady = false;
  /** Children in a row that died young. */
  private youngDeaths = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  /** A stop signal came: the child's exit ends the parent. */
  private stopping = false;

  constructor(
    private readonly log: Logger,
    private readonly handles: ServerHandle[],
    private readonly addrs: BindAddress[],
    private readonly script: string,
    private readonly argv: readonly string[],
  ) {}

  start(): void {
    for (const signal of FORWARDED_SIGNALS) process.on(signal, () => this.onSignal(signal));
    // The terminal or pipe behind stderr may go away; the logger gives up by itself (log.ts).
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
    this.spawn();
  }

  private spawn(): void {
    this.restartTimer = null;
    // Its own session (detached): a Ctrl+C on the terminal reaches the parent only, which passes
    // it on once. Standard streams are shared, so the child's logs go where the parent's would.
    const child = fork(this.script, [...this.argv], {
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      detached: true,
      env: { ...process.env, [CHILD_ENV]: String(process.pid) },
      execArgv: process.execArgv,
    });
    this.child = child;
    this.childReady = false;
    this.childStartedAt = performance.now();
    child.on('message', (m: ChildMessage) => {
      if (m?.type === 'greenserve:listeners') {
        this.handles.forEach((h, index) => {
          if (child.connected) child.send({ type: 'greenserve:listener', index } satisfies ParentMessage, h as unknown as net.Server);
        });
      } else if (m?.type === 'greenserve:ready') {
        this.childReady = true;
        if (this.everReady) this.log.info({ childPid: child.pid }, `server process ${child.pid} serves`);
        this.everReady = true;
      }
    });
    child.on('error', (err) => this.log.error({ err, childPid: child.pid }, `server process: ${err.message}`));
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    this.log.debug({ childPid: child.pid }, `started server process ${child.pid}`);
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    this.child = null;
    const lived = performance.now() - this.childStartedAt;
    if (this.stopping) return void this.end(code, signal);
    // Status 0: the server stopped as asked, by a signal sent to its own pid (kill, a service
    // manager that signals each process): the command ends too. A crash never exits 0.
    if (code === 0 && signal === null) {
      this.log.info({ childPid: child.pid }, `server process ${child.pid} stopped (status 0): the command ends`);
      return void this.end(0, null);
    }
    // The first server never served (a bad setting, an app that does not load, a TLS key that
    // does not match): it has said why on stderr; the command ends with its status, as without
    // a parent.
    if (!this.everReady) return void this.end(code, signal);
    const young = !this.childReady || lived < YOUNG_MS;
    this.youngDeaths = young ? this.youngDeaths + 1 : 0;
    const delayMs = this.youngDeaths < 2 ? 0 : Math.min(RESTART_BACKOFF_MAX_MS, RESTART_BACKOFF_MS * 2 ** (this.youngDeaths - 2));
    const cause = deathCause(code, signal);
    const when = delayMs === 0 ? 'starting a new one now' : `starting a new one in ${delayMs} ms (${this.youngDeaths} died young in a row)`;
    this.log.error(
      { childPid: child.pid, exitCode: code, signal, cause, livedMs: Math.round(lived), ready: this.childReady, restartInMs: delayMs },
      `server process ${child.pid} died: ${cause}; ${when}; new connections wait in the listen backlog`,
    );
    if (delayMs === 0) this.spawn();
    else this.restartTimer = setTimeout(() => this.spawn(), delayMs);
  }

  private onSignal(signal: ForwardedSignal): void {
    if (STOP_SIGNALS.has(signal) && !this.stopping) {
      this.stopping = true;
      // The child closes its listeners now: with the parent's copies closed too, the sockets
      // close and new connections are refused, as without a parent.
      for (const h of this.handles) h.close();
    }
    const child = this.child;
    if (child === null) {
      // Between two children: a stop ends here (no server to wait for); the rest wait for the next one.
      if (this.stopping) {
        if (this.restartTimer !== null) clearTimeout(this.restartTimer);
        void this.end(0, null);
      }
      return;
    }
    if (this.childReady && child.connected) child.send({ type: 'greenserve:signal', signal } satisfies ParentMessage);
    else if (child.pid !== undefined) {
      // Not serving yet (its handlers may not be installed): the signal itself, as it would have
      // reached a server without a parent at that moment.
      try {
        process.kill(child.pid, signal);
      } catch {
        // already gone: its exit is handled
      }
    }
  }

  /** End the parent with the child's status: its exit code, or the signal that ended it. */
  private async end(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    for (const a of this.addrs) if (a.kind === 'unix') removeStaleSocket(a.path);
    // A log destination that went away (a closed terminal or pipe) may never say it is done.
    await Promise.race([closeLogger(this.log), new Promise((r) => setTimeout(r, LOG_CLOSE_MS).unref())]);
    if (signal !== null) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  }
}

/**
 * In the child: the signals that reach it both straight (a service manager that signals every
 * process of the service, `pkill`) and forwarded by the parent count once: one of each kind
 * within DEDUP_MS of the other is the same signal. Two forwarded ones (or two straight ones) are
 * two: a second SIGTERM still stops at once.
 */
export function signalDeduper(act: (signal: ForwardedSignal) => void): { direct(s: ForwardedSignal): void; forwarded(s: ForwardedSignal): void } {
  const DEDUP_MS = 1000;
  const last = { direct: new Map<string, number>(), forwarded: new Map<string, number>() };
  const take = (kind: 'direct' | 'forwarded', other: 'direct' | 'forwarded', s: ForwardedSignal): void => {
    const now = performance.now();
    const seen = last[other].get(s);
    if (seen !== undefined && now - seen < DEDUP_MS) {
      last[other].delete(s);
      return;
    }
    last[kind].set(s, now);
    act(s);
  };
  return { direct: (s) => take('direct', 'forwarded', s), forwarded: (s) => take('forwarded', 'direct', s) };
}

/** In the child: ask the parent for the bound sockets, one per --bind address, in order. */
export function inheritListeners(count: number): Promise<Array<{ fd: number }>> {
  return new Promise((resolve, reject) => {
    const got: Array<{ fd: number }> = [];
    let n = 0;
    const onMessage = (m: ParentMessage, handle: unknown): void => {
      if (m?.type !== 'greenserve:listener' || handle === undefined) return;
      got[m.index] = handle as { fd: number };
      if (++n < count) return;
      process.off('message', onMessage);
      process.off('disconnect', onGone);
      resolve(got);
    };
    const onGone = (): void => reject(new Error('the parent process went away before it passed the listening sockets'));
    process.on('message', onMessage);
    process.once('disconnect', onGone);
    process.send!({ type: 'greenserve:listeners' } satisfies ChildMessage);
  });
}
