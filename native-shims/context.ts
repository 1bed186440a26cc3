// design: how a request worker tells the shims where they run. lib/worker/main.ts installs a
// ShimContext on a global symbol before it loads the app, so shims imported through any copy of
// the package (`greenserve/shims` from the app's node_modules, or dist/ directly) find the same
// one. No context: the thread is not a greenserve worker (the shims that need the I/O helper throw).
import type { ShimChannel } from '../lib/messages.js';

export interface ShimContext {
  /** The worker's slot: its line in the control block. */
  slot: number;
  control: SharedArrayBuffer;
  /** The line to the I/O helper; null when the server runs without one. */
  shims: ShimChannel | null;
  /** Log a warning through the worker's logger. */
  warn(fields: Record<string, unknown>, msg: string): void;
  /**
   * Called before the thread parks: hands the requests still unread in its ring back to the
   * acceptor, which gives them to a thread that can run them (cooperative scheduling).
   */
  beforePark(): void;
}

const KEY = Symbol.for('greenserve.shims.context');

export function installShimContext(ctx: ShimContext): void {
  (globalThis as Record<symbol, unknown>)[KEY] = ctx;
}

export function shimContext(): ShimContext | null {
  return ((globalThis as Record<symbol, unknown>)[KEY] as ShimContext | undefined) ?? null;
}
