// design: a look inside a stuck worker before the supervisor kills it (gunicorn users'
// most common complaint is a timeout kill with no clue where the code was stuck). Runs on the
// acceptor thread through node:inspector, asynchronously: every `post` answers through a
// callback and the worker's replies arrive as events, so the acceptor never blocks.
//
//   acceptor (main thread)                               stuck worker (its own thread)
//   Session.connect, NodeWorker.enable ── attaches ───▶  an inspector session per worker
//   sendMessageToWorker(Runtime.evaluate: STACK_EXPR) ▶  node dispatches inspector messages in a
//                                                        V8 interrupt, which a busy loop and
//                                                        Atomics.wait both take: the expression
//                                        ◀── frames ──  runs on top of the stuck frames
//   (Runtime.evaluate: the app's onTimeout, timeout) ─▶  runs there too; V8 stops it at HOOK_MS
//   NodeWorker.detach ───────────────────────────────▶  session gone; then terminate() (~4 ms)
//
// Why not Debugger.enable + Debugger.pause (which also works, busy loop and Atomics.wait alike):
// Debugger.enable first replays a scriptParsed event for every script the worker has loaded
// (291 for a small app here), which took 30 ms on an idle machine and 160-600 ms at load 10-14
// on 2 cores, growing with the app; the evaluation took 2-12 ms. A paused worker also cannot be
// terminated until it is detached (docs/decisions/0007-timeout-stack-and-hook.md).
//
// Invariants:
// - The inspector is attached only while a capture runs: NodeWorker.enable when the first capture
//   starts, NodeWorker.disable and disconnect when the last one ends. Healthy workers are never
//   debugged on the hot path (attached without any domain enabled, they run as before).
// - Every capture detaches its worker in `finally`, and the arbiter terminates only after
//   capture() resolved: a worker detached while an evaluation still ran did not exit on
//   terminate() for over a second, so the hook's evaluation always ends (V8's `timeout`) first.
// - capture() always resolves, within `budgetMs` (+ HOOK_MS when the app has onTimeout) plus a
//   detach: a worker in a native call (a sync execSync) runs no interrupt, and is then killed
//   without a stack.
import { fileURLToPath } from 'node:url';
import type { Session } from 'node:inspector';
import { TIMEOUT_HOOK_GLOBAL, type TimeoutHookResult, type TimeoutInfo } from '../messages.js';

/** Call frames kept, top first. */
export const MAX_FRAMES = 20;
/**
 * The app's onTimeout runs for at most this long (ms): V8 stops it then (the evaluation's
 * `timeout`), and the answer is awaited HOOK_GRACE_MS longer.
 */
export const HOOK_MS = 500;
const HOOK_GRACE_MS = 250;
/** How long NodeWorker.detach may take before terminate() is called anyway. */
const DETACH_MS = 200;
/** NodeWorker's workerInfo.title: "[worker THREADID] name" on node 20 to 24 (workerId is the inspector's own counter). */
const WORKER_TITLE = /^\[worker (\d+)\]/;
/** greenserve's own files (dist/): the first frame outside them and node's internals is the app's. */
const OWN_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Evaluated in the stuck worker: its call frames as JSON [functionName, typeName, file, line,
 * column] (file: a path or URL; '' for a native frame such as Atomics.wait), top first, without
 * the frames of the evaluation itself (this function, and the evaluated script's top level). Formats the frames itself rather than reading `.stack`, so
 * that an app's own Error.prepareStackTrace cannot change the result; restores both settings.
 */
const STACK_EXPR = `(function greenserveStack() {
  const E = Error, limit = E.stackTraceLimit, prepare = E.prepareStackTrace, holder = {};
  E.stackTraceLimit = ${MAX_FRAMES + 2};
  E.prepareStackTrace = (_e, sites) => sites.map((c) => [c.getFunctionName() || '', c.getTypeName() || '', String(c.getFileName() ?? c.getScriptNameOrSourceURL() ?? ''), c.getLineNumber() ?? 0, c.getColumnNumber() ?? 0]);
  try { E.captureStackTrace(holder, greenserveStack); return JSON.stringify(holder.stack.slice(1)); } finally { E.stackTraceLimit = limit; E.prepareStackTrace = prepare; }
})()`;

export interface StuckReport {
  /** The call frames, V8-style (`    at fn (/path/file.js:12:5)`), top first; null when unavailable. */
  stack: string | null;
  /** The first frame in the app's code (not greenserve's, not node's), e.g. `spin (/srv/app.js:12:5)`. */
  top: string | null;
  /** Why there is no stack (e.g. the worker did not answer: blocked in a native call). */
  unavailable: string | null;
  /** What the app's onTimeout returned or threw; null when it has none or it did not finish. */
  hook: TimeoutHookResult | null;
  /** Why onTimeout did not finish although the app has one. */
  hookUnavailable: string | null;
  /** How long the capture took (ms). */
  ms: number;
}

export interface CaptureOptions {
  /** Attaching and taking the frames end within this many ms; the hook then gets HOOK_MS more. */
  budgetMs: number;
  /** Call the app's onTimeout with this in the stuck worker; null: the app has none. */
  hookInfo: TimeoutInfo | null;
}

type Frame = [fn: string, type: string, file: string, line: number, column: number];

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(err: Error): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * `p`, or a rejection with `why` once `deadline` (performance.now() ms) has passed.
 * Node's timers run on the loop's cached whole-millisecond clock and can fire up to ~1 ms
 * before the deadline as performance.now() reads it: an early timer is armed again for the rest.
 */
function until<T>(p: Promise<T>, deadline: number, why: string): Promise<T> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout;
    const arm = (): void => {
      const left = deadline - performance.now();
      if (left <= 0) reject(new Error(why));
      else timer = setTimeout(arm, Math.ceil(left));
    };
    arm();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

interface EvalResult {
  result?: { type?: string; value?: unknown };
  exceptionDetails?: { text?: string; exception?: { description?: string } };
}

/** One worker's inspector session, as seen from the main thread. */
class Target {
  readonly sessionId: string;
  private nextId = 1;
  private readonly pending = new Map<number, Deferred<Record<string, unknown>>>();

  constructor(sessionId: string) {
    this.sessionId = sessionId;
  }

  /** Evaluate `expression` in the worker, by value; V8 stops it after `timeoutMs`. */
  evaluate(link: InspectorLink, expression: string, timeoutMs: number): Promise<EvalResult> {
    const id = this.nextId++;
    const d = deferred<Record<string, unknown>>();
    this.pending.set(id, d);
    const params = { expression, returnByValue: true, silent: true, timeout: timeoutMs };
    link.post('NodeWorker.sendMessageToWorker', { sessionId: this.sessionId, message: JSON.stringify({ id, method: 'Runtime.evaluate', params }) })
      .catch((err: Error) => d.reject(err));
    return d.promise as Promise<EvalResult>;
  }

  received(raw: string): void {
    const msg = JSON.parse(raw) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
    if (msg.id === undefined) return;
    const d = this.pending.get(msg.id);
    this.pending.delete(msg.id);
    if (msg.error !== undefined) d?.reject(new Error(msg.error.message));
    else d?.resolve(msg.result ?? {});
  }

  gone(): void {
    const err = new Error('the worker exited');
    for (const d of this.pending.values()) d.reject(err);
    this.pending.clear();
  }
}

/** A connected main-thread session with NodeWorker enabled: attached to every worker of this thread. */
class InspectorLink {
  private readonly session: Session;
  /** threadId -> sessionId. */
  private readonly attached = new Map<string, string>();
  private readonly attachWaiters = new Map<string, Deferred<string>>();
  private readonly targets = new Map<string, Target>();
  readonly enabled: Promise<unknown>;

  constructor(SessionClass: typeof Session) {
    this.session = new SessionClass();
    this.session.connect();
    this.session.on('NodeWorker.attachedToWorker', (m: { params: { sessionId: string; workerInfo: { title: string } } }) => {
      const thread = WORKER_TITLE.exec(m.params.workerInfo.title)?.[1];
      if (thread === undefined) return;
      this.attached.set(thread, m.params.sessionId);
      this.attachWaiters.get(thread)?.resolve(m.params.sessionId);
      this.attachWaiters.delete(thread);
    });
    this.session.on('NodeWorker.detachedFromWorker', (m: { params: { sessionId: string } }) => {
      this.targets.get(m.params.sessionId)?.gone();
      for (const [w, s] of this.attached) if (s === m.params.sessionId) this.attached.delete(w);
    });
    this.session.on('NodeWorker.receivedMessageFromWorker', (m: { params: { sessionId: string; message: string } }) => {
      this.targets.get(m.params.sessionId)?.received(m.params.message);
    });
    this.enabled = this.post('NodeWorker.enable', { waitForDebuggerOnStart: false });
    this.enabled.catch(() => {});
  }

  post(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      try {
        this.session.post(method, params, (err: Error | null, result?: object) => (err ? reject(err) : resolve((result ?? {}) as Record<string, unknown>)));
      } catch (err) {
        reject(err as Error);
      }
    });
  }

  /** The session attached to thread `threadId` (waits for the attach event). */
  sessionOf(threadId: number): Promise<string> {
    const id = String(threadId);
    const sid = this.attached.get(id);
    if (sid !== undefined) return Promise.resolve(sid);
    let d = this.attachWaiters.get(id);
    if (d === undefined) this.attachWaiters.set(id, (d = deferred<string>()));
    return d.promise;
  }

  target(sessionId: string): Target {
    const t = new Target(sessionId);
    this.targets.set(sessionId, t);
    return t;
  }

  /** Detach one worker's session, so that it can be terminated. */
  async release(t: Target): Promise<void> {
    this.targets.delete(t.sessionId);
    await until(this.post('NodeWorker.detach', { sessionId: t.sessionId }), performance.now() + DETACH_MS, 'detach timed out').catch(() => {});
  }

  /** Detach from every worker, then disconnect. */
  close(): void {
    const done = (): void => {
      try {
        this.session.disconnect();
      } catch {
        // already disconnected
      }
    };
    this.post('NodeWorker.disable').then(done, done);
  }
}

export class StackInspector {
  private link: InspectorLink | null = null;
  private active = 0;
  /** node:inspector's Session, loaded on the first capture (null: this node has no inspector). */
  private sessionClass: typeof Session | null | undefined = undefined;

  /** Take thread `threadId`'s call frames (and run onTimeout in it), then detach. Always resolves. */
  async capture(threadId: number, o: CaptureOptions): Promise<StuckReport> {
    const started = performance.now();
    const deadline = started + o.budgetMs;
    const report: StuckReport = { stack: null, top: null, unavailable: null, hook: null, hookUnavailable: null, ms: 0 };
    const SessionClass = await this.loadInspector();
    if (SessionClass === null) {
      report.unavailable = 'node:inspector is not available in this node build';
      return this.done(report, started, o);
    }
    this.active++;
    const link = (this.link ??= new InspectorLink(SessionClass));
    let target: Target | null = null;
    try {
      const within = `within ${o.budgetMs} ms`;
      await until(link.enabled, deadline, `the inspector did not start ${within}`);
      target = link.target(await until(link.sessionOf(threadId), deadline, `the inspector did not attach to the worker ${within}`));
      const left = Math.max(1, Math.floor(deadline - performance.now()));
      const r = await until(target.evaluate(link, STACK_EXPR, left), deadline, `the worker did not answer ${within} (blocked in a native call?)`);
      Object.assign(report, describeFrames(framesOf(r)));
      if (o.hookInfo !== null) await callHook(link, target, o.hookInfo, report);
    } catch (err) {
      if (report.stack === null) report.unavailable = (err as Error).message;
      else report.hookUnavailable = (err as Error).message;
    } finally {
      if (target !== null) await link.release(target);
      if (--this.active === 0 && this.link === link) {
        this.link = null;
        link.close();
      }
    }
    return this.done(report, started, o);
  }

  private done(report: StuckReport, started: number, o: CaptureOptions): StuckReport {
    if (o.hookInfo !== null && report.hook === null && report.hookUnavailable === null) report.hookUnavailable = `not run: ${report.unavailable ?? 'no stack'}`;
    report.ms = Math.round(performance.now() - started);
    return report;
  }

  private async loadInspector(): Promise<typeof Session | null> {
    if (this.sessionClass !== undefined) return this.sessionClass;
    try {
      this.sessionClass = (await import('node:inspector')).Session;
    } catch {
      this.sessionClass = null;
    }
    return this.sessionClass;
  }
}

/** Run the app's onTimeout in the stuck worker; V8 stops it after HOOK_MS. */
async function callHook(link: InspectorLink, target: Target, info: TimeoutInfo, report: StuckReport): Promise<void> {
  const late = `onTimeout did not return within ${HOOK_MS} ms`;
  const expression = `globalThis[Symbol.for(${JSON.stringify(TIMEOUT_HOOK_GLOBAL)})](${JSON.stringify(JSON.stringify(info))})`;
  const r = await until(target.evaluate(link, expression, HOOK_MS), performance.now() + HOOK_MS + HOOK_GRACE_MS, late).catch((err: Error) => {
    // V8 ends an evaluation past its timeout with "Execution was terminated".
    throw new Error(/terminated/i.test(err.message) ? `${late}: stopped` : err.message);
  });
  if (r.exceptionDetails !== undefined) {
    const d = r.exceptionDetails;
    report.hookUnavailable = `onTimeout could not run: ${d.exception?.description ?? d.text ?? 'exception'}`;
  } else if (typeof r.result?.value !== 'string') {
    report.hookUnavailable = late;
  } else {
    report.hook = JSON.parse(r.result.value) as TimeoutHookResult;
  }
}

function framesOf(r: EvalResult): Frame[] {
  if (r.exceptionDetails !== undefined || typeof r.result?.value !== 'string') {
    const why = r.exceptionDetails?.exception?.description ?? r.exceptionDetails?.text ?? 'no result';
    throw new Error(`the call frames could not be read: ${why}`);
  }
  return JSON.parse(r.result.value) as Frame[];
}

/** The frames as stack lines, with file: URLs turned into paths. */
function describeFrames(frames: Frame[]): Pick<StuckReport, 'stack' | 'top'> {
  const lines: string[] = [];
  let top: string | null = null;
  for (const [fn, type, url, line, column] of frames.slice(0, MAX_FRAMES)) {
    const file = fileOf(url);
    const name = fn === '' ? '' : type !== '' && type !== 'Object' && type !== 'global' ? `${type}.${fn}` : fn;
    const where = file === '' ? '<native>' : `${file}:${line}:${column}`;
    const text = name === '' ? where : `${name} (${where})`;
    lines.push(`    at ${text}`);
    if (top === null && file !== '' && !file.startsWith('node:') && !file.startsWith(OWN_ROOT)) top = text;
  }
  if (frames.length > MAX_FRAMES) lines.push(`    ... more frames`);
  return { stack: lines.join('\n'), top: top ?? (lines.length > 0 ? lines[0]!.slice(7) : null) };
}

function fileOf(url: string): string {
  if (!url.startsWith('file:')) return url;
  try {
    return fileURLToPath(url);
  } catch {
    return url;
  }
}
