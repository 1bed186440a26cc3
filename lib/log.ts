// design: the error log (--error-log): pino JSON lines from every thread, to stderr or a file.
// - Acceptor (main thread): an asynchronous destination (sonic-boom), so a slow disk or stderr
//   never blocks the event loop; buffered lines are flushed at exit.
// - Worker threads: one synchronous destination per thread, shared by greenserve's own records,
//   the app logger and captured console output, since a worker may block and its lines must not be
//   lost when it is terminated. Each thread opens the file itself, in append mode.
// Every record is one write() of whole lines (sonic-boom never splits a line between writes), and
// with O_APPEND each write lands whole at the end of the file, so threads never interleave inside
// a line. On a pipe the kernel keeps writes of up to PIPE_BUF (4 KiB) whole.
// A destination on stderr whose reader goes away (a closed terminal, a closed pipe) gives up at
// its first failed write: its lines are dropped from then on (giveUpWhenGone).
// Reopening (SIGUSR1, for logrotate): the acceptor reopens its destination and bumps a counter in
// a SharedArrayBuffer; each worker thread compares it before writing a line and reopens its own
// file when it moved, so even a thread that was blocked reopens before its next line.
// A worker finds its destination in workerData.errorLog (messages.ts WorkerLogInit) when this
// module loads, before the app does; with --capture-output it then turns console calls into
// records. Records written while the thread runs a request carry its id (request-context.ts).
// Format (--log-format): pino writes JSON lines; in text mode each thread's destination is wrapped
// in a TextDestination that turns each line into one for people (time, level, where, message, an
// error's stack below it) before the same single write. The main thread decides (textFormat())
// and tells the workers in WorkerLogInit.text, so every thread of a process writes the same format.
// pino is loaded on first use (a synchronous require): a worker thread's own logger is a lazy
// one that loads it only when a record at or above its level is written, so a worker that never
// logs (the common case) starts without it: about 15 ms of CPU per worker start on this machine,
// a quarter of the start, paid again by every elastic thread and every recycle.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { isatty } from 'node:tty';
import { format, inspect, type InspectOptions } from 'node:util';
import { isMainThread, threadId, workerData } from 'node:worker_threads';
import type { DestinationStream, Logger } from 'pino';
import type pinoModule from 'pino';
import { ConfigError } from './errors.js';
import type { WorkerLogInit } from './messages.js';
import { currentRequestId, enableRequestContext } from './request-context.js';

export type { Logger };

type Pino = typeof pinoModule;
type SonicBoom = ReturnType<Pino['destination']>;

const requireCjs = createRequire(import.meta.url);
let pinoLoaded: Pino | null = null;

/** The pino module, loaded the first time a logger is made. */
function pino(): Pino {
  return (pinoLoaded ??= requireCjs('pino') as Pino);
}

/** pino's level numbers (a lazy logger decides with them whether a call needs pino at all). */
const LEVEL_VALUES: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/**
 * A Logger that makes the real one (`make`) on the first record at or above `level`, or on the
 * first use of anything else (child(), bindings, ...): every property but the level methods,
 * `isLevelEnabled` and `level` is read from the real logger.
 */
function lazyLogger(level: string, make: () => Logger): Logger {
  let real: Logger | null = null;
  const get = (): Logger => (real ??= make());
  const threshold = (): number => (real !== null ? LEVEL_VALUES[real.level] ?? Infinity : LEVEL_VALUES[level] ?? Infinity);
  const methods = new Map<string | symbol, unknown>();
  for (const [name, value] of Object.entries(LEVEL_VALUES)) {
    methods.set(name, (...args: unknown[]): void => {
      if (value < threshold()) return;
      (get()[name as keyof Logger] as (...a: unknown[]) => void)(...args);
    });
  }
  methods.set('isLevelEnabled', (l: string): boolean => (LEVEL_VALUES[l] ?? Infinity) >= threshold());
  return new Proxy({} as Logger, {
    get(_t, prop) {
      if (prop === 'level') return real !== null ? real.level : level;
      if (methods.has(prop)) return methods.get(prop);
      const r = get();
      const v = Reflect.get(r, prop, r) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(r) : v;
    },
    set(_t, prop, value) {
      return Reflect.set(get(), prop, value);
    },
  });
}

/** What a greenserve worker thread was given (null on the main thread and in other threads). */
interface ThreadInit {
  log: WorkerLogInit;
  level: string;
  slot: number | null;
}

const threadInit: ThreadInit | null = readThreadInit();

function readThreadInit(): ThreadInit | null {
  if (isMainThread) return null;
  const data = workerData as { errorLog?: WorkerLogInit; logLevel?: unknown; slot?: unknown } | null;
  const log = data?.errorLog;
  if (typeof log !== 'object' || log === null || typeof log.target !== 'string' || !(log.reopen instanceof SharedArrayBuffer)) return null;
  return {
    log,
    level: typeof data!.logLevel === 'string' ? data!.logLevel : 'info',
    slot: typeof data!.slot === 'number' ? data!.slot : null,
  };
}

/** The destinations this module opened on the main thread, by logger (reopen, close). */
const owned = new WeakMap<Logger, { dest: SonicBoom; file: string | null }>();

/**
 * A logger for greenserve's own records. On the main thread it writes to `target` (`-`: stderr,
 * else a file, created with its directory; a file that cannot be opened is a ConfigError naming
 * errorLog). In a worker thread it writes to the thread's destination and `target` is ignored.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}, target = '-', format: LogFormat = 'json'): Logger {
  const base = { pid: process.pid, thread: threadId, ...bindings };
  if (!isMainThread) return lazyLogger(level, () => pino()({ level, base, mixin: requestIdMixin }, threadDestination()));
  const file = target === '-' ? null : target;
  if (file !== null) checkWritable(file);
  const dest = pino().destination({ dest: file ?? 2, sync: false, minLength: 0, mkdir: file !== null, append: true });
  if (file === null) giveUpWhenGone(dest, 'error log');
  else dest.on('error', (err: Error) => reportOnce('error log', err));
  const log = pino()({ level, base }, textFormat(format, target) ? new TextDestination(dest) : dest);
  owned.set(log, { dest, file });
  return log;
}

/** --log-format. */
export type LogFormat = 'auto' | 'json' | 'text';

/** Whether records for `target` (`-`: standard error, else a file) go to a terminal. */
export function logsToTerminal(target: string): boolean {
  return target === '-' && isatty(2);
}

/** Whether `format` means text for `target`: `auto` is text on a terminal only. */
export function textFormat(format: LogFormat, target: string): boolean {
  return format === 'text' || (format === 'auto' && logsToTerminal(target));
}

/** Reopen the file of a logger made by createLogger (SIGUSR1); anything else is left alone. */
export function reopenLogger(log: Logger): void {
  const o = owned.get(log);
  if (o === undefined || o.file === null) return;
  try {
    o.dest.reopen();
  } catch (err) {
    reportOnce('error log', err as Error);
  }
}

/**
 * Write out what a logger made by createLogger holds, and close its file (the server stopped);
 * resolves once every line is written. sonic-boom's end() waits for a write in flight (which
 * flushSync() does not), and leaves standard error itself open.
 */
export function closeLogger(log: Logger): Promise<void> {
  const o = owned.get(log);
  if (o === undefined) return Promise.resolve();
  owned.delete(log);
  log.level = 'silent'; // a record logged after this is dropped, not written to a closed file
  return endDestination(o.dest);
}

/**
 * End a sonic-boom destination: resolves once what it holds is written (a write in flight
 * included, which flushSync() would not wait for) and a file is closed; stdout and stderr stay open.
 */
export function endDestination(dest: SonicBoom): Promise<void> {
  if (gone.has(dest)) return Promise.resolve(); // nothing can be written: nothing to wait for
  return new Promise((resolve) => {
    dest.once('close', () => resolve());
    dest.once('error', () => resolve()); // reported where the destination's errors are; nothing more to write
    dest.end();
  });
}

/** A new counter for WorkerLogInit.reopen. */
export function createReopenCounter(): SharedArrayBuffer {
  return new SharedArrayBuffer(4);
}

/** Tell every worker thread to reopen its log file before its next line. */
export function bumpReopenCounter(counter: SharedArrayBuffer): void {
  Atomics.add(new Int32Array(counter), 0, 1);
}

/** Opening the file now turns a bad path into a one-line startup error instead of a lost log. */
function checkWritable(file: string): void {
  try {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    closeSync(openSync(file, 'a'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError('errorLog', `cannot open ${file} for appending (${e.code ?? e.message})`, '--error-log');
  }
}

const reported = new Set<string>();

/**
 * A log that cannot be written cannot say so itself: one plain line on stderr, once per log
 * (`what`). Written straight to the descriptor: on a stderr that is gone too, the write fails
 * here, quietly, instead of as an 'error' event of process.stderr that nobody handles.
 */
function reportOnce(what: string, err: Error): void {
  if (reported.has(what)) return;
  reported.add(what);
  try {
    writeSync(2, `greenserve: ${what}: ${err.message}\n`);
  } catch {
    // nowhere left to say it
  }
}

/** Destinations on standard error or output whose reader is gone (giveUpWhenGone). */
const gone = new WeakSet<SonicBoom>();

/**
 * A destination on standard error or output (a descriptor, not a file) gives up for good on its
 * first write error that is not "try again" (EAGAIN and EBUSY sonic-boom retries itself): EIO from
 * a terminal that was closed, EPIPE from a pipe whose reader went away, EBADF. Such a stream never
 * comes back, and sonic-boom would keep every later line and write it again, without end: at each
 * line, and in flushSync() (at exit, by pino's exit hook), which sleeps 100 ms and retries any
 * error but EAGAIN forever, holding its thread, signals and all. From then on its lines are
 * dropped, flushing does nothing and end() is done at once; one line says so, if stderr still can.
 */
export function giveUpWhenGone(dest: SonicBoom, what: string): void {
  dest.on('error', (err: NodeJS.ErrnoException) => {
    if (gone.has(dest) || err.code === 'EAGAIN' || err.code === 'EBUSY') return;
    gone.add(dest);
    dest.write = (): boolean => true;
    dest.flush = (cb?: (err?: Error) => unknown): void => void cb?.();
    dest.flushSync = (): void => {};
    dest.end = (): void => {};
    reportOnce(what, new Error(`${err.message}; its lines are dropped from now on`));
  });
}

/**
 * At most one line per `everyMs` (a minute by default) about a condition that can recur many times
 * a second, because a client can cause it at will or because it lasts: `take(now)` says whether to
 * write one now. Any monotonic clock in ms will do, as long as one instance keeps to it.
 */
export class Throttle {
  private readonly everyMs: number;
  private last = -Infinity;
  /** Lines not written since the last one that was. */
  private skipped = 0;

  constructor(everyMs = 60_000) {
    this.everyMs = everyMs;
  }

  /** Whether a line may be written at `now`. */
  ready(now: number): boolean {
    return now - this.last >= this.everyMs;
  }

  /** Null: skip this one (it is counted). Else write it now: the number is how many were skipped since the last one written. */
  take(now: number): number | null {
    if (!this.ready(now)) {
      this.skipped++;
      return null;
    }
    const skipped = this.skipped;
    this.skipped = 0;
    this.last = now;
    return skipped;
  }
}

// ── worker threads ─────────────────────────────────────────────────────────────────────────────

/** A sonic-boom that reopens its file when the acceptor bumped the counter (WorkerLogInit.reopen). */
class ReopeningDestination implements DestinationStream {
  private readonly boom: SonicBoom;
  private readonly word: Int32Array;
  private seen: number;

  constructor(boom: SonicBoom, counter: SharedArrayBuffer) {
    this.boom = boom;
    this.word = new Int32Array(counter);
    this.seen = Atomics.load(this.word, 0);
  }

  write(line: string): void {
    const now = Atomics.load(this.word, 0);
    if (now !== this.seen) {
      this.seen = now;
      try {
        this.boom.reopen();
      } catch (err) {
        reportOnce('error log', err as Error);
      }
    }
    this.boom.write(line);
  }
}

// ── text format ────────────────────────────────────────────────────────────────────────────────

const LEVEL_LABELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Fields a text line shows in its own way (or leaves out: pid and thread are the same on every line). */
const SHOWN = new Set(['level', 'time', 'pid', 'thread', 'hostname', 'worker', 'name', 'requestId', 'msg', 'err', 'stack']);

/** `time` (ms since the epoch) as local `YYYY-MM-DD HH:MM:SS.mmm`. */
function localTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** Lines below a record (a stack), indented by four spaces. */
function indented(text: string): string {
  return text.split('\n').map((l) => `\n    ${l}`).join('');
}

/**
 * One pino JSON record as a line for people: `time LEVEL [worker N app request ID] message`, then
 * an error's stack (or a `stack` field) on the lines below. The app's own records (those with a
 * `name`: app, console) keep their other fields, as JSON after the message; greenserve's own
 * messages say what their fields hold, but for the request a handler error was for (method and
 * url follow the message). A line that is not a JSON object is passed on as it is.
 */
export function formatText(line: string): string {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${line}\n`;
  }
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return `${line}\n`;
  const level = typeof r['level'] === 'number' ? LEVEL_LABELS[r['level']] ?? `LEVEL${r['level']}` : String(r['level'] ?? '');
  const time = typeof r['time'] === 'number' ? localTime(r['time']) : '';
  const where: string[] = [];
  if (r['worker'] !== undefined) where.push(`worker ${String(r['worker'])}`);
  if (typeof r['name'] === 'string') where.push(r['name']);
  if (r['requestId'] !== undefined) where.push(`request ${String(r['requestId'])}`);
  let text = `${time} ${level.padEnd(5)} ${where.length > 0 ? `[${where.join(' ')}] ` : ''}${typeof r['msg'] === 'string' ? r['msg'] : ''}`;
  if (typeof r['name'] === 'string') {
    const rest = Object.fromEntries(Object.entries(r).filter(([k]) => !SHOWN.has(k)));
    if (Object.keys(rest).length > 0) text += ` ${JSON.stringify(rest)}`;
  } else if (typeof r['method'] === 'string' && typeof r['url'] === 'string') text += `: ${r['method']} ${r['url']}`;
  const err = r['err'] as { stack?: unknown; message?: unknown } | undefined;
  if (typeof err === 'object' && err !== null) {
    const stack = typeof err.stack === 'string' ? err.stack : typeof err.message === 'string' ? err.message : '';
    if (stack !== '') text += indented(stack);
  }
  if (typeof r['stack'] === 'string' && r['stack'] !== '') text += indented(r['stack']);
  return `${text}\n`;
}

/** A destination that writes each pino record as text (formatText), in one write as before. */
class TextDestination implements DestinationStream {
  private readonly inner: DestinationStream;

  constructor(inner: DestinationStream) {
    this.inner = inner;
  }

  write(chunk: string): void {
    // pino writes one record per call; split anyway, so that no record is left as JSON.
    const lines = chunk.split('\n');
    let out = '';
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i]!;
      if (l !== '') out += formatText(l);
      else if (i < lines.length - 1) out += '\n';
    }
    if (out !== '') this.inner.write(out);
  }
}

let threadDest: DestinationStream | null = null;

/** This worker thread's destination, opened on first use. */
function threadDestination(): DestinationStream {
  if (threadDest !== null) return threadDest;
  const target = threadInit?.log.target ?? '-';
  const file = target === '-' ? null : target;
  const boom = pino().destination({ dest: file ?? 2, sync: true, minLength: 0, mkdir: file !== null, append: true });
  if (file === null) giveUpWhenGone(boom, 'error log');
  else boom.on('error', (err: Error) => reportOnce('error log', err));
  const dest = file === null ? boom : new ReopeningDestination(boom, threadInit!.log.reopen);
  threadDest = threadInit?.log.text === true ? new TextDestination(dest) : dest;
  return threadDest;
}

/** Adds the id of the request being run (a fresh object each call: pino assigns into it). */
function requestIdMixin(): Record<string, unknown> {
  const id = currentRequestId();
  return id === undefined ? {} : { requestId: id };
}

/**
 * The app logger (`import { logger } from 'greenserve'`). In a greenserve worker thread: records
 * named `app` in the error log, at --log-level, each with the id of the request it was written
 * for. Elsewhere (the main thread, a thread of the app's own) a logger on stderr.
 */
export function createAppLogger(): Logger {
  if (threadInit === null) {
    const dest = pino().destination({ dest: 2, sync: !isMainThread, minLength: 0 });
    giveUpWhenGone(dest, 'app log');
    return pino()({ name: 'app', base: { pid: process.pid, thread: threadId } }, dest);
  }
  enableRequestContext();
  return threadLogger('app');
}

function threadLogger(name: string): Logger {
  const base = { pid: process.pid, thread: threadId, ...(threadInit!.slot === null ? {} : { worker: threadInit!.slot }) };
  return pino()({ name, level: threadInit!.level, base, mixin: requestIdMixin }, threadDestination());
}

type ConsoleLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * --capture-output: console calls of this thread become records named `console` at the matching
 * level. The methods Node builds on these (table, count, timeEnd, assert, group...) call them
 * through `this`, so they are captured too.
 */
function captureConsole(): void {
  enableRequestContext();
  const log = threadLogger('console');
  const at = (level: ConsoleLevel) => (...args: unknown[]): void => {
    if (log.isLevelEnabled(level)) log[level](format(...args));
  };
  console.log = at('info');
  console.info = at('info');
  console.debug = at('debug');
  console.warn = at('warn');
  console.error = at('error');
  console.trace = (...args: unknown[]): void => {
    if (!log.isLevelEnabled('info')) return;
    const stack = (new Error().stack ?? '').split('\n').slice(2).join('\n');
    log.info({ stack }, `Trace${args.length > 0 ? `: ${format(...args)}` : ''}`);
  };
  console.dir = (item: unknown, options?: InspectOptions): void => {
    if (log.isLevelEnabled('info')) log.info(inspect(item, { customInspect: false, ...options }));
  };
}

if (threadInit?.log.captureOutput === true) captureConsole();
