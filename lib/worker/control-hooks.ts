// design: the app's hooks, found once at boot (validate at the boundary): each is a named export
// of the app module or a method of its default export object (docs/signals.md, "App hooks").
// setup(ctx) runs once in the worker after the app loaded, before it takes requests (main.ts
// awaits it inside the boot, so --boot-timeout covers it and a failure is a boot failure).
// teardown(ctx) runs once when the supervisor stops a drained worker on purpose, asked over the
// control plane (control.ts close()), bounded here and by the supervisor's own timer.
// onTimeout(info) is gunicorn's worker_abort: it runs in the stuck worker, on its own thread, just
// before the supervisor kills it. The worker cannot be asked through the control port then (its
// event loop is stuck), so the hook is kept under a global (TIMEOUT_HOOK_GLOBAL) and the supervisor
// calls it through the inspector while the worker is paused (lib/supervisor/inspect.ts). Only what
// the hook does synchronously happens: the paused thread's event loop never turns again.
import { performance } from 'node:perf_hooks';
import { TIMEOUT_HOOK_GLOBAL, type AppHookName, type HookContext, type TeardownResult, type TimeoutHookResult, type TimeoutInfo } from '../messages.js';
import { AppLoadError, AppShapeError } from '../errors.js';

type Dict = Record<string, unknown>;
type TimeoutHook = (info: TimeoutInfo) => unknown;
/** setup(ctx) and teardown(ctx): may return a promise, which is awaited. */
export type LifecycleHook = (ctx: HookContext) => unknown;

/** The hooks an app module has; null where it has none. */
export interface AppHooks {
  setup: LifecycleHook | null;
  teardown: LifecycleHook | null;
  onTimeout: TimeoutHook | null;
}

/** Longest JSON of a hook's return value that is logged; longer values are cut. */
const MAX_RESULT_CHARS = 8192;

/** How each hook is called, for the AppShapeError of one that is not a function. */
const SIGNATURES: Readonly<Record<AppHookName, string>> = {
  setup: '(ctx) => void or a promise',
  teardown: '(ctx) => void or a promise',
  onTimeout: '(info) => value',
};

/** The app's hooks: each a named export of the module, or a method of its default export object. */
export function findHooks(mod: Dict, url: string): AppHooks {
  return {
    setup: findHook<HookContext>(mod, 'setup', url),
    teardown: findHook<HookContext>(mod, 'teardown', url),
    onTimeout: findHook<TimeoutInfo>(mod, 'onTimeout', url),
  };
}

function findHook<A>(mod: Dict, name: AppHookName, url: string): ((arg: A) => unknown) | null {
  const def = mod['default'];
  const own = mod[name];
  const inner = (typeof def === 'object' || typeof def === 'function') && def !== null ? (def as Dict)[name] : undefined;
  const hook = own ?? inner;
  if (hook === undefined) return null;
  if (typeof hook !== 'function') throw new AppShapeError(`app ${url}: ${name} is ${typeof hook}; expected a function ${SIGNATURES[name]}`);
  // A method of the default export object is called on it (`this` is the object).
  const self = own === undefined ? def : undefined;
  return (arg) => (hook as (this: unknown, a: A) => unknown).call(self, arg);
}

/** Keep the onTimeout caller where the supervisor's inspector finds it; returns the hook names found. */
export function installHooks(hooks: AppHooks): AppHookName[] {
  const names: AppHookName[] = [];
  if (hooks.setup !== null) names.push('setup');
  if (hooks.teardown !== null) names.push('teardown');
  const fn = hooks.onTimeout;
  if (fn === null) return names;
  Object.defineProperty(globalThis, Symbol.for(TIMEOUT_HOOK_GLOBAL), {
    value: (json: string): string => JSON.stringify(callTimeoutHook(fn, JSON.parse(json) as TimeoutInfo)),
    configurable: true,
    enumerable: false,
    writable: false,
  });
  names.push('onTimeout');
  return names;
}

/**
 * Run the app's setup(ctx) and await it. Throws an AppLoadError that names setup() and carries
 * the app's error as its cause: the boot fails, as it does when the module does not import.
 */
export async function runSetup(setup: LifecycleHook, ctx: HookContext, url: string): Promise<void> {
  try {
    await setup(ctx);
  } catch (err) {
    throw new AppLoadError(`worker ${ctx.worker}: setup() of app ${url} failed: ${messageOf(err)}`, { cause: err });
  }
}

const TIMED_OUT = Symbol('timed out');

/**
 * Run the app's teardown(ctx) for at most `timeoutMs`; never throws. A teardown that holds the
 * thread synchronously never gets here to answer: the supervisor's own timer covers that.
 */
export async function runTeardown(teardown: LifecycleHook, ctx: HookContext, timeoutMs: number): Promise<TeardownResult> {
  const started = performance.now();
  const ms = (): number => Math.round(performance.now() - started);
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs)));
  try {
    const outcome = await Promise.race([Promise.resolve().then(() => teardown(ctx)), bound]);
    if (outcome === TIMED_OUT) return { ok: false, timedOut: true, error: `teardown() did not settle within ${timeoutMs} ms`, ms: ms() };
    return { ok: true, ms: ms() };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? (err.stack ?? err.message) : messageOf(err), ms: ms() };
  } finally {
    clearTimeout(timer);
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return typeof err === 'string' ? err : `${JSON.stringify(err) ?? String(err)} (not an Error)`;
  } catch {
    return `${String(err)} (not an Error)`;
  }
}

function callTimeoutHook(fn: TimeoutHook, info: TimeoutInfo): TimeoutHookResult {
  let value: unknown;
  try {
    value = fn(Object.freeze(info));
  } catch (err) {
    return { ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  if (typeof (value as PromiseLike<unknown> | null)?.then === 'function') {
    // The thread is paused in the debugger and then terminated: a promise never settles.
    return { ok: true, value: null, note: 'onTimeout returned a promise; only its synchronous part ran (the worker is stopped right after)' };
  }
  return { ok: true, value: loggable(value) };
}

/** A JSON-safe copy of `v`, at most MAX_RESULT_CHARS of JSON. */
function loggable(v: unknown): unknown {
  if (v === undefined) return null;
  let json: string | undefined;
  try {
    json = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  } catch (err) {
    return `[not serializable: ${(err as Error).message}]`;
  }
  if (json === undefined) return String(v);
  if (json.length <= MAX_RESULT_CHARS) return JSON.parse(json) as unknown;
  return `${json.slice(0, MAX_RESULT_CHARS)}... (${json.length} characters, cut)`;
}
