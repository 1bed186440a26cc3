// design: what the supervisor's policies read of the workers that take requests: whether requests
// wait because workers are blocked (elastic threads, ./elastic.ts), because every worker is full
// (the --worker-connections warning, ./arbiter.ts), and whether any worker is blocked at all. Each
// is sampled on the supervisor's loop, never per request, from the dispatcher's serving workers and
// wait queue and the states the workers publish in the control block. The dispatcher only exposes
// what they read; the decisions are the supervisor's.
import { ELASTIC_BLOCKED_MS, type Dispatcher } from '../acceptor/dispatcher.js';
import { epochNow, type ControlBlock } from '../ring/control.js';
import { WorkerState } from '../ring/layout.js';

/**
 * More requests wait than the workers can take soon, because workers are blocked: at least one
 * is parked in a blocking shim or has run one synchronous handler for ELASTIC_BLOCKED_MS or
 * more, none is merely full (async handlers at --worker-connections: its event loop is free and
 * it takes more as those end; another thread would only add memory, so the requests wait for a
 * place, bounded by --limit-concurrency), and the requests waiting outnumber the workers in
 * between (a handler that began a moment ago, requests sent and not read yet: each takes about
 * one more soon). This is when the supervisor adds elastic threads. Counting rather than asking
 * "can no worker take one right now" keeps a burst from looking unsaturated whenever one of many
 * workers happens to be between two requests.
 */
export function saturated(d: Dispatcher, control: ControlBlock): boolean {
  const waiting = d.queued;
  if (waiting === 0) return false;
  const now = epochNow();
  let blocked = 0;
  let between = 0;
  for (const h of d.serving) {
    if (h.retiring) continue; // takes no new work
    const state = control.state(h.slot);
    if (state === WorkerState.PARKED) blocked++;
    else if (state === WorkerState.RUNNING && control.runningFor(h.slot, now) >= ELASTIC_BLOCKED_MS) blocked++;
    else if (state === WorkerState.DRAINING) continue;
    else if (d.full(h)) return false;
    else between++;
  }
  return blocked > 0 && waiting > between;
}

/**
 * Requests wait only because every worker that takes work has --worker-connections requests in
 * flight (async handlers, streams, pinned WebSockets): raising the setting is what would let
 * them run. The supervisor warns about it (rate-limited).
 */
export function waitingOnFullWorkers(d: Dispatcher, control: ControlBlock): boolean {
  if (d.queued === 0) return false;
  const cap = d.workerConnections;
  let full = 0;
  for (const h of d.serving) {
    const state = control.state(h.slot);
    if (h.retiring || state === WorkerState.DRAINING) continue;
    // In flight on the worker and its event loop free (not running a handler, not parked): a
    // synchronous app at the cap has one handler running and the rest queued behind it, and
    // raising the setting would only move that queue. (A fast synchronous app can show IDLE
    // with requests read but not yet completed for a moment: the supervisor asks several times.)
    if (state !== WorkerState.IDLE || h.outstanding < cap || control.inflight(h.slot) < cap) return false;
    full++;
  }
  return full > 0;
}

/** Some worker is blocked now: parked in a shim, or running one synchronous handler for ELASTIC_BLOCKED_MS or more. */
export function anyBlocked(d: Dispatcher, control: ControlBlock): boolean {
  const now = epochNow();
  for (const h of d.serving) {
    const state = control.state(h.slot);
    if (state === WorkerState.PARKED) return true;
    if (state === WorkerState.RUNNING && control.runningFor(h.slot, now) >= ELASTIC_BLOCKED_MS) return true;
  }
  return false;
}
