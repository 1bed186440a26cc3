// design: the app's hooks, found once at boot (validate at the boundary). onTimeout(info) is
// gunicorn's worker_abort: it runs in the stuck worker, on its own thread, just before the
// supervisor kills it. The worker cannot be asked through the control port then (its event loop
// is stuck), so the hook is kept under a global (TIMEOUT_HOOK_GLOBAL) and the supervisor calls it
// through the inspector while the worker is paused (lib/supervisor/inspect.ts). Only what the
// hook does synchronously happens: the paused thread's event loop never turns again.
import { TIMEOUT_HOOK_GLOBAL, type AppHookName, type TimeoutHookResult, type TimeoutInfo } from '../messages.js';
import { AppShapeError } from '../errors.js';

type Dict = Record<string, unknown>;
type TimeoutHook = (info: TimeoutInfo) => unknown;

/** Longest JSON of a hook's return value that is logged; longer values are cut. */
const MAX_RESULT_CHARS = 8192;

/** The app's hooks: a named export of the module, or a method of its default export object. */
export function findHooks(mod: Dict, url: string): { onTimeout: TimeoutHook | null } {
  const def = mod['default'];
  const own = mod['onTimeout'];
  const inner = (typeof def === 'object' || typeof def === 'function') && def !== null ? (def as Dict)['onTimeout'] : undefined;
  const hook = own ?? inner;
  if (hook === undefined) return { onTimeout: null };
  if (typeof hook !== 'function') throw new AppShapeError(`app ${url}: onTimeout is ${typeof hook}; expected a function (info) => value`);
  const self = own === undefined ? def : undefined;
  return { onTimeout: (info) => (hook as (this: unknown, i: TimeoutInfo) => unknown).call(self, info) };
}

/** Keep the onTimeout caller where the supervisor's inspector finds it; returns the hook names found. */
export function installHooks(hooks: { onTimeout: TimeoutHook | null }): AppHookName[] {
  const fn = hooks.onTimeout;
  if (fn === null) return [];
  Object.defineProperty(globalThis, Symbol.for(TIMEOUT_HOOK_GLOBAL), {
    value: (json: string): string => JSON.stringify(callTimeoutHook(fn, JSON.parse(json) as TimeoutInfo)),
    configurable: true,
    enumerable: false,
    writable: false,
  });
  return ['onTimeout'];
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
