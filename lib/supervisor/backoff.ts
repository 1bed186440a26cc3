// design: when replacing dead workers waits, and for what. Two kinds of failure, kept apart
// (docs/decisions/0027-crash-backoff.md):
//
// - A worker that does not start (the app does not load, setup() throws, --boot-timeout), or that
//   dies before it took any request: the app is broken, and every new worker would fail the same
//   way. Each one in a row doubles a server-wide delay before the next start (100 ms .. 30 s);
//   the first worker that becomes ready ends the streak.
// - A worker that dies while serving (an uncaught error, process.exit(), out of memory): counted
//   by its cause, the request its thread was running ("GET /crash") or, with none running, the
//   error. The 3rd death of one cause within CRASH_WINDOW_MS of the one before holds back that
//   worker's replacement (100 ms, doubling, at most 30 s), and only that one: other causes and
//   the other workers are untouched, and no cause holds back more than half of --threads (none
//   with --threads 1), so a route that crashes its thread never leaves the server without threads.
//
// This class only decides; the arbiter (./arbiter.ts) asks it before it spawns.
import type { Logger } from '../log.js';

/** A cause's deaths closer together than this count as a streak; the 3rd in a row holds a replacement back. */
export const CRASH_WINDOW_MS = 10_000;
const CRASH_STREAK_HOLDS_AT = 3;
export const BACKOFF_BASE_MS = 100;
export const BACKOFF_MAX_MS = 30_000;

interface Streak {
  count: number;
  lastAt: number;
}

/** A replacement held back: it starts once `until` has passed (epoch ms). */
interface Delay {
  until: number;
  cause: string;
}

export class RestartBackoff {
  private readonly log: Logger;
  /** Asks the arbiter for a pass of its loop after `ms` (a hold or the boot delay ran out). */
  private readonly wake: (ms: number) => void;
  private readonly causes = new Map<string, Streak>();
  private delays: Delay[] = [];
  private bootStreak = 0;
  private bootNotBefore = 0;

  constructor(log: Logger, wake: (ms: number) => void) {
    this.log = log;
    this.wake = wake;
  }

  /** Whether a worker may be started now: false while the boot failures' delay runs. */
  mayStart(now: number): boolean {
    return now >= this.bootNotBefore;
  }

  /** A worker became ready: the app loads; the boot streak ends. */
  booted(): void {
    this.bootStreak = 0;
  }

  /**
   * A worker did not start, or died before it took a request (`why` says which): the next start,
   * of any worker, waits 100 ms, doubling with each such failure in a row, at most 30 s.
   */
  bootFailed(now: number, slot: number, why: string, fields: Record<string, unknown>): void {
    this.bootStreak++;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (this.bootStreak - 1));
    this.bootNotBefore = Math.max(this.bootNotBefore, now + delay);
    this.log.error({ ...fields, slot, bootFailures: this.bootStreak, delayMs: delay },
      `worker ${slot} ${why}; next worker start in ${delay} ms (${this.bootStreak} in a row: the app does not start)`);
    this.wake(delay);
  }

  /**
   * A serving worker died of `cause`. From the 3rd death of that cause in a row (each within
   * CRASH_WINDOW_MS of the one before), its replacement is held back (100 ms, doubling, at most
   * 30 s); manage() starts it anyway when holding it would leave fewer than half of `target`.
   */
  crashed(now: number, slot: number, cause: string, target: number): void {
    for (const [k, s] of this.causes) if (now - s.lastAt > CRASH_WINDOW_MS) this.causes.delete(k);
    const s = this.causes.get(cause) ?? { count: 0, lastAt: now };
    s.count++;
    s.lastAt = now;
    this.causes.set(cause, s);
    if (s.count < CRASH_STREAK_HOLDS_AT) return;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (s.count - CRASH_STREAK_HOLDS_AT));
    const free = delayedAtMost(target) - this.active(now).length;
    const fields = { slot, cause, crashes: s.count, delayMs: free > 0 ? delay : 0 };
    if (free <= 0) {
      this.log.warn(fields, `worker ${slot} died of the same cause ${s.count} times in a row (${cause}); ` +
        `its replacement starts at once: holding it back would leave fewer than half of --threads ${target} serving`);
      return;
    }
    this.delays.push({ until: now + delay, cause });
    this.log.warn(fields, `worker ${slot} died of the same cause ${s.count} times in a row (${cause}); ` +
      `its replacement starts in ${delay} ms; the other workers serve meanwhile`);
    this.wake(delay);
  }

  /** How many missing workers wait out their delay now, for a pool that wants `target` (never more than half of it). */
  delayed(now: number, target: number): number {
    this.delays = this.active(now);
    return Math.min(this.delays.length, delayedAtMost(target));
  }

  /** A reload was asked for: start afresh, nothing held back. */
  reset(): void {
    this.causes.clear();
    this.delays = [];
    this.bootStreak = 0;
    this.bootNotBefore = 0;
  }

  private active(now: number): Delay[] {
    return this.delays.filter((h) => h.until > now);
  }
}

/** The most replacements held back at once: half of --threads, rounded down (none with 1). */
function delayedAtMost(target: number): number {
  return Math.floor(target / 2);
}

/**
 * What a serving worker died of, as its backoff counts it: the request its thread was running
 * (method and path, without the query), else the error (its first line and first frame), else
 * the reason. Deaths with one cause repeat the same way; different routes count apart.
 */
export function crashCause(running: { method: string; target: string } | null, reason: string, err: Error | null): string {
  if (running !== null) {
    const q = running.target.indexOf('?');
    const path = q < 0 ? running.target : running.target.slice(0, q);
    return `${running.method} ${path.length > 200 ? `${path.slice(0, 200)}...` : path}`;
  }
  if (err !== null) {
    const frame = /\n\s+at (.*)/.exec(err.stack ?? '')?.[1];
    const first = `${err.name}: ${err.message.split('\n', 1)[0]!.slice(0, 200)}`;
    return frame === undefined ? first : `${first} at ${frame}`;
  }
  return `${reason} outside a request`;
}
