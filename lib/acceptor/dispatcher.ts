// design: the acceptor's scheduler and response pump.
//
// Dispatch: each request goes to the least loaded of the first few runnable workers (packing:
// see pickLeastLoaded), reading the state every worker publishes in the control block: a worker
// that is PARKED in a blocking shim, or RUNNING one handler for longer than BLOCKED_AFTER_MS, is
// passed over while another can take work. Requests already in a worker's ring behind a handler
// that turns out to block are taken back (reclaim: the ring's claims), so a request never waits
// behind a blocked synchronous handler while a thread is free or can be started.
// When no worker can take it, it waits in a FIFO queue (bounded: past --limit-concurrency
// requests owed, new ones get an immediate 503) and is sent as soon as a response frees a worker.
//
// Pump: the acceptor never blocks. While responses are owed it drains every response ring once
// per event-loop turn (setImmediate), writing bytes to corked sockets and uncorking them at the
// end of the turn (one writev per socket per turn). When a turn finds nothing it arms a single
// Atomics.waitAsync on its doorbell, and workers ring the doorbell only while it sleeps.
//
// Sticky routing (--sticky, docs/decisions/0018-sticky-routing.md): a request with a key (the
// client's address, a cookie, a query parameter: ./sticky.ts) goes to the worker its key was first
// sent to, or learnt from (the key a worker handed out in a response), for as long as that worker
// lives and is not retiring. When that worker cannot take it now (blocked, parked, full, being
// revoked), it waits pinned to that worker (WorkerChannel.pinned), not in the shared queue; requests
// taken back from a blocked worker come back to it the same way. Only a gone or retiring worker's
// keys move, to another worker. Requests without a key, and new keys, are spread round-robin
// (pickSpread): a key stays where it lands, so packing would tie every client to one thread. The
// setting picks submit, place and the response sink at boot: with it off none of this runs.
import { availableParallelism } from 'node:os';
import { framePool } from './frame-pool.js';
import { CLAIM_MASK, FL_BODY_STREAM, FL_CLOSE, FL_END, FL_ENDED, FL_KEEP_ALIVE, FL_LAST, T_ACK, T_CANCEL, T_DATA, T_REQUEST, T_RESPONSE, T_RETURN, UPLOAD_TRANSFER_MIN, WorkerState } from '../ring/layout.js';
import { ring } from '../ring/ring.js';
import { epochNow, type ControlBlock } from '../ring/control.js';
import type { StickyMode } from '../config/sticky-mode.js';
import type { WorkerHandle } from './worker-handle.js';
import { WorkerChannel, type ChannelView } from './worker-channel.js';
import type { Connection, Exchange } from './connection.js';
import { Deque } from './deque.js';
import type { FramedRequest } from './framer.js';
import { statusResponse } from './responses.js';
import { jsonMemberOf, keyReader, LEARN_QUERY_BYTES, MAX_KEY_LENGTH, setCookieOf, type KeyReader } from './sticky.js';

/** A handler running this long without returning counts as blocked for dispatch. */
const BLOCKED_AFTER_MS = 2;
/** Empty pump turns before the acceptor sleeps on its doorbell (a turn is cheap; a wake is not). */
const SPIN_TURNS = 2;
/** How long after a worker parked (handed requests back) dispatch keeps to unqueued workers. */
const PARK_HINT_MS = 1000;
/**
 * A synchronous handler running this long counts as blocked for elastic threads (a thread is
 * worth starting for it) and for taking back the requests queued behind it (reclaim). Longer
 * than BLOCKED_AFTER_MS: a worker that a loaded machine merely descheduled for a few ms, or a
 * CPU-bound handler of a few ms, must not grow the pool or have its queue moved.
 */
export const ELASTIC_BLOCKED_MS = 20;
/** --sticky: keys remembered; past it the least recently used is forgotten (its next request lands anew). */
const MAX_STICKY_KEYS = 100_000;
const HEAD_END = Buffer.from('\r\n\r\n');
/**
 * `h` has been given its --max-requests: it takes no more (the supervisor replaces it; until then
 * other workers take the requests, or they wait for the replacement).
 */
function spent(h: ChannelView): boolean {
  return h.maxRequests > 0 && h.given >= h.maxRequests;
}

/** The request-id part of a frame's sub-header when the request carries no id: length 0. */
const NO_REQUEST_ID = Buffer.from([0]);

/** A worker's channel as the dispatcher, its one writer, holds it (./worker-channel.ts). */
type Channel = WorkerChannel<Exchange>;

/** `h`'s channel, writable: the handle shows it to everyone else read-only (./worker-handle.ts makes every handle's). */
function channelOf(h: WorkerHandle): Channel {
  const c = h.channel;
  if (!(c instanceof WorkerChannel)) throw new TypeError(`worker ${h.slot} has no channel`);
  return c as Channel;
}

export interface DispatcherOptions {
  limitConcurrency: number;
  /** --thread-concurrency: requests sent to a worker that its handlers have not returned from yet (read or not). */
  threadConcurrency: number;
  /** --worker-connections: all requests in flight on a worker, those whose handlers returned (awaits, streams, WebSockets) too. */
  workerConnections: number;
  /**
   * How many runnable workers (not blocked, parked or retiring) share the requests, the first in
   * the pool's order: the core count. More would only spread the same CPU over more isolates,
   * each running the request path colder (see pickLeastLoaded).
   */
  activeWorkers?: number;
  /** --sticky: how a request's key is read; null (off) leaves dispatch as it is. */
  sticky?: StickyMode | null;
}

export class Dispatcher {
  /** Requests accepted and not yet answered (in flight + waiting). */
  outstanding = 0;
  /** Responses their handlers ended whose bytes still come from a worker (freed: not in `outstanding`); the pump runs for them too. */
  private finishing = 0;
  /** Requests accepted so far, and answered by a worker so far: the supervisor derives rates from them (elastic threads). */
  submitted = 0;
  completed = 0;
  /** The server is shutting down: every request sent from now on is its connection's last (FL_LAST). */
  closing = false;
  private readonly control: ControlBlock;
  private readonly o: Required<Omit<DispatcherOptions, 'sticky'>>;
  private readonly workers: Channel[] = [];
  /** Requests no worker could take yet, oldest first (taken-back ones go in front: takeBack). */
  private readonly waiting = new Deque<Exchange>();
  private corkedConns: Connection[] = [];
  /** Workers that were sent requests in this turn and must be woken at its end. */
  private toWake: Channel[] = [];
  /** Exchanges whose stream frames wait for room in their worker's request ring (toWorker). */
  private readonly backlogged = new Set<Exchange>();
  private scheduled = false;
  private armed = false;
  private emptyTurns = 0;
  private readonly bell: Int32Array;
  /**
   * Called (at most once per turn) when a request had to wait because no worker could take it:
   * the supervisor checks at once whether to add elastic threads, instead of at its next tick.
   */
  onWait: () => void = () => {};
  private waitNoted = false;
  private readonly onTurn = (): void => this.turn();
  private readonly onWake = (): void => {
    this.armed = false;
    Atomics.store(this.bell, this.control.acceptorBell().sleepIndex, 0);
    this.turn();
  };

  /** --sticky: the worker each key goes to, least recently used first (null: off). */
  private readonly keys: Map<string, Channel> | null = null;
  private readonly keyOf: KeyReader | null = null;
  /** --sticky: how a response hands out a key (null: ip mode, nothing to learn). */
  private readonly learner: ((payload: Buffer) => string | null) | null = null;
  /** Whether a learnt key replaces the worker a key is tied to (cookie: the latest Set-Cookie wins). */
  private readonly relearn: boolean = false;
  /** Where pickSpread looks first. */
  private spreadAt = 0;
  /** Send an exchange to a worker, or say none can take it now (false): it then waits. */
  private place: (ex: Exchange) => boolean = (ex) => {
    const h = this.pick();
    if (h === null) return false;
    this.send(h, ex);
    return true;
  };

  constructor(control: ControlBlock, o: DispatcherOptions) {
    this.control = control;
    const { sticky, ...rest } = o;
    this.o = { activeWorkers: availableParallelism(), ...rest };
    this.bell = control.i32;
    if (sticky === undefined || sticky === null) return;
    this.keys = new Map();
    this.keyOf = keyReader(sticky);
    if (sticky.kind === 'cookie') {
      const name = sticky.name;
      // The head only: up to its empty line (a response's first frame starts with it).
      this.learner = (payload) => {
        const end = payload.indexOf(HEAD_END);
        return setCookieOf(payload.toString('latin1', 0, end < 0 ? Math.min(payload.length, LEARN_QUERY_BYTES) : end + 2), name);
      };
      this.relearn = true;
    } else if (sticky.kind === 'query') {
      const name = sticky.name;
      this.learner = (payload) => jsonMemberOf(payload.length > LEARN_QUERY_BYTES ? payload.subarray(0, LEARN_QUERY_BYTES) : payload, name);
    }
    this.submit = this.submitSticky;
    this.place = (ex) => this.placeSticky(ex);
  }

  /** Requests waiting for a worker: in the shared queue, and pinned to their sticky worker. */
  get waitingCount(): number {
    let n = this.waiting.length;
    if (this.keys !== null) for (const h of this.workers) n += h.pinned.length;
    return n;
  }

  /** A worker is ready: take work. */
  add(handle: WorkerHandle): void {
    const h = channelOf(handle);
    h.sink = this.keys === null
      ? (type, flags, _connId, reqId, payload) => {
        if (type === T_RESPONSE) this.response(h, flags, reqId, payload);
        else if (type === T_RETURN) this.returned(h, reqId);
        else if (type === T_ACK) this.acked(h, reqId, payload);
      }
      : (type, flags, _connId, reqId, payload) => {
        if (type === T_RESPONSE) this.responseSticky(h, flags, reqId, payload);
        else if (type === T_RETURN) this.returned(h, reqId);
        else if (type === T_ACK) this.acked(h, reqId, payload);
      };
    this.workers.push(h);
    this.flushWaiting();
  }

  /**
   * A worker is gone. Responses it published are still delivered; the exchanges it still owed
   * are returned: `started` reached its ring (the caller answers them), `unsent` never did and are
   * dispatched again to the other workers here.
   */
  remove(handle: WorkerHandle): Exchange[] {
    const h = channelOf(handle);
    if (h.sink !== null) h.responses.read(h.sink);
    const i = this.workers.indexOf(h);
    if (i >= 0) this.workers.splice(i, 1);
    // Not started: still in overflow, or written and never claimed (ring layout, "Claims": a
    // worker claims a frame before it runs it). Everything else it had begun. The thread is gone,
    // so its claim count no longer moves; a revoke it had not finished skipping took those already.
    const claimed = h.requests.claimed() & CLAIM_MASK;
    const unsent: Exchange[] = [...h.overflow];
    const started: Exchange[] = [];
    for (const ex of h.exchanges.values()) {
      if (ex.seq >= 0 && unclaimed(ex.seq, claimed, h.sent)) unsent.push(ex);
      else if (!h.overflow.includes(ex)) started.push(ex);
    }
    // Those whose handler ended the response had begun it: their bytes are what is cut.
    for (const ex of h.finishing.values()) started.push(ex);
    this.outstanding -= h.exchanges.size;
    this.finishing -= h.finishing.size;
    h.exchanges.clear();
    h.finishing.clear();
    h.overflow = [];
    const pinned = h.pinned;
    h.pinned = [];
    if (this.keys !== null) for (const [key, w] of this.keys) if (w === h) this.keys.delete(key);
    for (const ex of unsent) this.resubmit(ex);
    // Pinned ones were never sent to it (they still count in `outstanding`): their keys move on.
    for (const ex of pinned) this.replace(ex);
    this.uncork();
    return started;
  }

  /** Dispatch an exchange already counted in `outstanding` again (its sticky worker went away). */
  private replace(ex: Exchange): void {
    if (ex.conn.gone) this.outstanding--;
    else if (!this.place(ex)) {
      this.waiting.push(ex);
      this.noteWait();
    }
    this.ensure();
  }

  /**
   * A worker about to park handed back a request it had not read: give it to a thread that can
   * run it now, ahead of the requests that arrived after it. (Its bytes are still on the exchange.)
   */
  private returned(h: Channel, reqId: number): void {
    const ex = h.exchanges.get(reqId);
    if (ex === undefined) return;
    this.parkedAt = Date.now();
    this.takeBack(h, [ex]);
  }

  /**
   * Requests `h` will not run (handed back, or revoked while it is blocked): give them to threads
   * that can run them now, ahead of the requests that arrived after them, in their order.
   */
  private takeBack(h: Channel, list: Exchange[]): void {
    const ahead: Exchange[] = [];
    for (const ex of list) {
      h.exchanges.delete(ex.id);
      ex.worker = null;
      ex.seq = -1;
      if (ex.conn.gone) this.outstanding--;
      else ahead.push(ex);
    }
    if (ahead.length === 0) return;
    for (let i = ahead.length - 1; i >= 0; i--) this.waiting.unshift(ahead[i]!);
    this.flushWaiting();
    if (this.waiting.length > 0) this.noteWait();
    this.ensure();
  }

  /**
   * A worker blocked in a synchronous handler (running for ELASTIC_BLOCKED_MS or more: not merely
   * descheduled by a loaded machine for a few ms) has requests it has not started: take them back
   * (ring layout, "Claims") and send them to threads that can run them now. Returns whether it
   * still has unstarted ones (not blocked yet, or it claimed one just as the revoke was tried).
   */
  private reclaim(h: Channel, now: number): boolean {
    if (h.overflow.length === 0 && h.requests.claimed() === h.sent) return false;
    if (this.control.state(h.slot) !== WorkerState.RUNNING || this.control.runningFor(h.slot, now) < ELASTIC_BLOCKED_MS) return true;
    const from = h.requests.revoke(h.sent);
    const list: Exchange[] = [];
    // The app blocks: for a while, workers get requests only once they have read theirs (pick).
    this.parkedAt = Date.now();
    if (from >= 0) {
      h.revoking = true;
      for (const ex of h.exchanges.values()) if (ex.seq >= 0 && unclaimed(ex.seq, from, h.sent)) list.push(ex);
    } else if (h.requests.claimed() !== h.sent) return true;
    list.push(...h.overflow);
    h.overflow = [];
    this.takeBack(h, list);
    return false;
  }

  private resubmit(ex: Exchange): void {
    if (ex.conn.gone) return;
    this.outstanding++;
    if (!this.place(ex)) {
      this.waiting.push(ex);
      this.noteWait();
    }
    this.ensure();
  }

  /**
   * Detach one exchange from its worker (the supervisor answers it: a handler past its deadline);
   * a response the worker might still publish for it is then discarded as stale.
   */
  take(ex: Exchange): void {
    const h = ex.worker;
    if (h === null) return;
    if (ex.freed) {
      if (h.finishing.delete(ex.id)) this.finishing--;
    } else if (h.exchanges.delete(ex.id)) this.outstanding--;
  }

  /**
   * The supervisor's decision: `h` is sent nothing more (recycled, reloaded, scaled down, killed,
   * or the server stops); it finishes what it has. Requests pinned to it move at unpinRetiring().
   */
  retire(handle: WorkerHandle): void {
    channelOf(handle).retiring = true;
  }

  /**
   * Stream control for one exchange (T_CREDIT with `value` bytes, or T_CANCEL) to the worker that
   * has it, if it still does. Only streamed responses and closed clients get here, never the
   * small-request path. A full request ring only delays it: credits must not be lost. The value
   * is written into one scratch buffer that the ring copies; only a frame that has to wait gets a
   * buffer of its own.
   */
  streamControl(ex: Exchange, type: number, value: number): void {
    CONTROL_VALUE.writeUInt32LE(value >>> 0, 0);
    if (ex.backlog === null && this.trySend(ex, type, CONTROL_VALUE)) return;
    this.toWorker(ex, type, Buffer.from(CONTROL_VALUE));
  }

  /**
   * A stream frame (T_CREDIT, T_CANCEL, T_DATA) for `ex`'s worker, in order. A full ring queues it
   * on the exchange (its backlog), and the pump retries every backlog once per turn, as it retries
   * a worker's overflow, until the worker has read enough of its ring.
   */
  toWorker(ex: Exchange, type: number, payload: Buffer): void {
    if (ex.backlog !== null) {
      ex.backlog.push(type, payload);
      return;
    }
    if (this.trySend(ex, type, payload)) return;
    ex.backlog = [type, payload];
    this.backlogged.add(ex);
    if (!this.scheduled) this.schedule();
  }

  /** The worker took tunnel bytes of an upgraded exchange (T_ACK). */
  private acked(h: Channel, reqId: number, payload: Buffer): void {
    const ex = h.exchange(reqId);
    if (ex !== undefined) ex.conn.tunnelAck(ex, payload.readUInt32LE(0));
  }

  /** False when the ring is full; true when sent, or dropped because no worker has the exchange any more. */
  private trySend(ex: Exchange, type: number, payload: Buffer): boolean {
    const h = ex.worker;
    if (h === null || !h.has(ex)) return true;
    if (type === T_DATA && payload.length >= UPLOAD_TRANSFER_MIN) {
      // A whole socket read is moved to the worker, not copied (lib/ring/layout.ts, UPLOAD_TRANSFER_MIN).
      const sent = h.requests.transfer(type, 0, ex.conn.id, ex.id, payload);
      if (sent === false) return false;
      if (sent === true) {
        framePool.movedOut++;
        this.wakeLater(h);
        return true;
      }
    }
    if (!h.requests.write1(type, 0, ex.conn.id, ex.id, payload)) return false;
    this.wakeLater(h);
    return true;
  }

  /** Send what the backlogged exchanges queued, in each one's order, as far as their rings take it. */
  private retryBacklogs(): void {
    for (const ex of this.backlogged) {
      const b = ex.backlog!;
      let i = 0;
      while (i < b.length && this.trySend(ex, b[i] as number, b[i + 1] as Buffer)) i += 2;
      if (i === b.length) {
        ex.backlog = null;
        this.backlogged.delete(ex);
      } else if (i > 0) b.splice(0, i);
    }
  }

  /**
   * --response-timeout: cancel `ex` and answer 504. On a worker, it is sent T_CANCEL (its handler
   * sees `close`, an aborted request.signal; its place is free when it answers the cancel) and
   * detached (what it still sends is stale); in the wait queue, it is dropped. False, doing
   * nothing, while its handler still runs synchronously: --timeout covers that.
   */
  expire(ex: Exchange): boolean {
    const h = ex.worker;
    if (h !== null) {
      if (h.has(ex)) {
        if (this.control.currentRequest(h.slot) === ex.id) return false;
        if (ex.seq >= 0) this.toWorker(ex, T_CANCEL, EMPTY);
        this.take(ex);
        h.overflow = h.overflow.filter((o) => o !== ex);
      }
    } else if (!this.unqueue(ex)) return false;
    this.answer(ex, statusResponse(504, ex.close), ex.close);
    return true;
  }

  /** Drop a request that waits for a worker (the shared queue, or pinned to its sticky worker). */
  private unqueue(ex: Exchange): boolean {
    if (!this.waiting.remove(ex)) {
      let i = -1;
      const h = this.workers.find((w) => (i = w.pinned.indexOf(ex)) >= 0);
      if (h === undefined) return false;
      h.pinned.splice(i, 1);
    }
    this.outstanding--;
    return true;
  }

  /**
   * Fail an exchange that no worker will answer (its worker died, was killed, or did not drain in
   * time) with `status` (502, 503, 504): the client gets it while nothing of its response has gone
   * out; a response under way is cut off instead, and a WebSocket is told "going away"
   * (Connection.respond). The supervisor settles a worker's exchanges through this.
   */
  fail(ex: Exchange, status: number, close = true): void {
    this.answer(ex, statusResponse(status, close), close);
  }

  private answer(ex: Exchange, bytes: Buffer, close = true): void {
    ex.conn.respond(ex, bytes, close);
    this.uncork();
  }

  submit(ex: Exchange, req: FramedRequest): void {
    if (!this.admit(ex, req)) return;
    const h = this.pick();
    if (h !== null) this.send(h, ex);
    else {
      this.waiting.push(ex);
      this.noteWait();
    }
    this.ensure();
  }

  /**
   * Count a new request in, with the bytes its frame will carry (the peer prefix, then the
   * request); past --limit-concurrency it gets an immediate 503 instead (false).
   */
  private admit(ex: Exchange, req: FramedRequest): boolean {
    if (this.outstanding >= this.o.limitConcurrency) {
      ex.conn.respond(ex, statusResponse(503, false, 'Retry-After: 1\r\n'), false);
      return false;
    }
    this.outstanding++;
    this.submitted++;
    ex.method = req.method;
    ex.target = req.target;
    // The frame's sub-header (peer, then request id), then exactly the request's bytes.
    const id = ex.idPart ?? NO_REQUEST_ID;
    const parts = [ex.conn.peer, id];
    for (let i = 0; i < req.parts.length; i++) parts.push(req.parts[i]!);
    ex.parts = parts;
    ex.size = ex.conn.peer.length + id.length + req.size;
    return true;
  }

  /** submit() with --sticky on: the request's key ties it to a worker (placeSticky). */
  private submitSticky(ex: Exchange, req: FramedRequest): void {
    if (!this.admit(ex, req)) return;
    const key = this.keyOf!(ex.conn.socket.remoteAddress, ex.conn.trusted, req);
    ex.key = key !== null && key.length <= MAX_KEY_LENGTH ? key : null;
    // cookie: every response may set the cookie (a session regenerated); query: the key is handed
    // out in answer to a request that did not have one.
    if (this.learner !== null && (this.relearn || ex.key === null)) ex.learn = this.relearn ? 1 : LEARN_QUERY_BYTES;
    if (!this.place(ex)) {
      this.waiting.push(ex);
      this.noteWait();
    }
    this.ensure();
  }

  /**
   * --sticky: send `ex` to the worker its key is tied to, or pin it there until that worker can
   * take it; a key not seen yet, or whose worker is retiring, lands on pickSpread's worker and
   * stays tied to it. False only when no worker can take a request that may go to any.
   */
  private placeSticky(ex: Exchange): boolean {
    const key = ex.key;
    const keys = this.keys!;
    let h = key === null ? undefined : keys.get(key);
    if (h !== undefined && h.retiring) {
      keys.delete(key!);
      h = undefined;
    }
    if (h === undefined) {
      const to = this.pickSpread();
      if (to === null) return false;
      if (key !== null) this.bind(key, to);
      this.send(to, ex);
      return true;
    }
    keys.delete(key!); // most recently used last
    keys.set(key!, h);
    if (h.pinned.length === 0 && this.canTake(h)) this.send(h, ex);
    else h.pinned.push(ex);
    return true;
  }

  private bind(key: string, h: Channel): void {
    const keys = this.keys!;
    keys.delete(key);
    keys.set(key, h);
    if (keys.size > MAX_STICKY_KEYS) keys.delete(keys.keys().next().value!);
  }

  /**
   * Requests sent to `h` that it has not read yet. With the one its handler may be running, these
   * are the requests waiting on its thread: what --thread-concurrency bounds. The worker publishes
   * what it has read and not completed (its in-flight count); a response freed while its bytes
   * stream (FL_ENDED) is in that count and no longer in `outstanding`, hence the floor.
   */
  private unread(h: ChannelView): number {
    const n = h.outstanding - this.control.inflight(h.slot);
    return n > 0 ? n : 0;
  }

  /**
   * `h` takes no more requests now: --worker-connections requests in flight on it, or
   * --thread-concurrency requests it has not read yet (the queue behind a running synchronous
   * handler stays short, while async handlers that returned may hold many more).
   */
  full(h: ChannelView): boolean {
    return h.outstanding >= this.o.workerConnections || (h.outstanding >= this.o.threadConcurrency && this.unread(h) >= this.o.threadConcurrency) || spent(h);
  }

  /**
   * Whether `h` can run one more request soon, for a request that may go to no other worker: not
   * retiring, draining or parked, no revoke under way, not full (--thread-concurrency, --worker-connections, --max-requests), and not blocked
   * in one synchronous handler (ELASTIC_BLOCKED_MS: past it, reclaim would take the request back).
   */
  private canTake(h: Channel): boolean {
    if (h.retiring || h.revoking || this.full(h)) return false;
    const state = this.control.state(h.slot);
    if (state === WorkerState.PARKED || state === WorkerState.DRAINING) return false;
    return !(state === WorkerState.RUNNING && h.outstanding > 0 && this.control.runningFor(h.slot, epochNow()) >= ELASTIC_BLOCKED_MS);
  }

  /**
   * --sticky: the next worker after the last one chosen that can take a request now (canTake,
   * nothing pinned), the pool's own threads before elastic ones (these are retired when idle, and
   * what a key left in their memory with them). Round-robin, not packing: see the file header.
   */
  private pickSpread(): Channel | null {
    const workers = this.workers;
    const n = workers.length;
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < n; k++) {
        const i = (this.spreadAt + k) % n;
        const h = workers[i]!;
        if (h.elastic !== (pass === 1) || h.pinned.length > 0 || !this.canTake(h)) continue;
        this.spreadAt = i + 1;
        return h;
      }
    }
    return null;
  }

  /** --sticky: send what waits pinned to `h` while it can take it; if it is retiring, elsewhere. */
  private flushPinned(h: Channel): void {
    const q = h.pinned;
    if (h.retiring) {
      h.pinned = [];
      for (const ex of q) this.replace(ex);
      return;
    }
    let i = 0;
    for (; i < q.length; i++) {
      const ex = q[i]!;
      if (ex.conn.gone) {
        this.outstanding--;
        continue;
      }
      if (!this.canTake(h)) break;
      this.send(h, ex);
    }
    if (i > 0) h.pinned = i === q.length ? [] : q.slice(i);
  }

  /**
   * --sticky: requests pinned to a worker that is now retiring go to other workers at once, not at
   * its next answer (a blocked worker may give none for long). The supervisor retires workers
   * (retire()), and calls this at each of its turns (every 100 ms at least).
   */
  unpinRetiring(): void {
    if (this.keys === null) return;
    let moved = false;
    for (const h of this.workers) {
      if (!h.retiring || h.pinned.length === 0) continue;
      this.flushPinned(h);
      moved = true;
    }
    if (moved) this.uncork();
  }

  /** The response sink with --sticky on: learns the keys responses hand out, and frees pinned requests. */
  private responseSticky(h: Channel, flags: number, reqId: number, payload: Buffer): void {
    const ex = h.exchange(reqId);
    if (ex !== undefined && ex.learn > 0) {
      const key = this.learner!(payload);
      ex.learn = key !== null || (flags & FL_END) !== 0 ? 0 : Math.max(0, ex.learn - payload.length);
      if (key !== null && !h.retiring) {
        const was = this.keys!.get(key);
        if (was === undefined || this.relearn || was.retiring) this.bind(key, h);
      }
    }
    this.response(h, flags, reqId, payload);
    if (h.pinned.length > 0 && (flags & (FL_END | FL_ENDED)) !== 0) this.flushPinned(h);
  }

  /** Called by connections that wrote in this turn: uncork them at the end of it. */
  corked(conn: Connection): void {
    this.corkedConns.push(conn);
    if (!this.scheduled) this.schedule();
  }

  /** The workers that take requests (ready and added), in the pool's order: what the supervisor's sensors read (lib/supervisor/sensors.ts). */
  get serving(): ReadonlyArray<ChannelView<Exchange>> {
    return this.workers;
  }

  /** Requests in the shared wait queue (not those pinned to a sticky worker). */
  get queued(): number {
    return this.waiting.length;
  }

  /** --worker-connections: the most requests in flight on one worker (named in the "every worker is full" warning). */
  get workerConnections(): number {
    return this.o.workerConnections;
  }

  private noteWait(): void {
    if (this.waitNoted) return;
    this.waitNoted = true; // reset by the next pump turn
    this.onWait();
  }

  /**
   * When a worker last handed requests back to park (ms). For PARK_HINT_MS after that, the app is
   * taken to block: a worker gets a new request only once it has read the ones it was given, so
   * requests wait in the acceptor's queue (where any thread, an elastic one too, can take them)
   * rather than in the ring of a thread that may park on the first of them.
   */
  private parkedAt = 0;

  private pick(): Channel | null {
    if (this.parkedAt !== 0 && Date.now() - this.parkedAt < PARK_HINT_MS) return this.pickUnqueued();
    return this.pickLeastLoaded();
  }

  /** A ready worker that has read every request it was given (the least loaded of those). */
  private pickUnqueued(): Channel | null {
    let best: Channel | null = null;
    let bestLoad = 0;
    for (const h of this.workers) {
      const load = h.outstanding;
      if (load >= this.o.workerConnections || load > this.control.inflight(h.slot) || spent(h)) continue;
      const state = this.control.state(h.slot);
      if (state === WorkerState.PARKED || state === WorkerState.DRAINING || h.retiring || h.revoking) continue;
      if (state === WorkerState.RUNNING && load > 0) continue; // its handler may be about to block
      if (best === null || load < bestLoad) {
        best = h;
        bestLoad = load;
      }
    }
    return best;
  }

  /**
   * Pack requests onto the fewest, warmest workers. Among the first `activeWorkers` runnable
   * workers in the pool's order (blocked, parked, draining and retiring ones are passed over and
   * do not count), the least loaded that is not full; past them only when all of those
   * are full of requests they have started (async handlers awaiting: another thread adds
   * concurrency). When one of them is full of requests it has not started yet (a synchronous
   * handler's queue), the request waits in the acceptor's queue instead: another thread would
   * only compete for the same cores, running the request path cold (at 1,000 connections,
   * `hello` on 16 threads fell to 8k req/s against 30k on 2 this way). Spreading requests evenly over every worker instead made each request dearer with
   * every thread added (measured: 31 µs of CPU per `hello` request with 2 threads, 413 µs with
   * 64): each isolate got a 64th of the traffic, ran node's HTTP path cold (interpreter, inline
   * caches, compile jobs per isolate) and woke for every request or two. Workers past the first
   * few stay asleep until others block, which is when they are needed.
   */
  private pickLeastLoaded(): Channel | null {
    const workers = this.workers;
    let best: Channel | null = null;
    let bestLoad = 0x7fffffff;
    let runnable = 0;
    /** A full worker among them has requests it has not started (a synchronous app's queue). */
    let queued = false;
    let now = 0;
    for (let i = 0; i < workers.length; i++) {
      const h = workers[i]!;
      if (h.retiring || h.revoking) continue; // being recycled, reloaded or stopped: finishes what it has
      const load = h.outstanding;
      const state = this.control.state(h.slot);
      if (state === WorkerState.PARKED || state === WorkerState.DRAINING) continue;
      if (state === WorkerState.RUNNING && load > 0) {
        if (now === 0) now = epochNow();
        if (this.control.runningFor(h.slot, now) > BLOCKED_AFTER_MS) continue;
      }
      if (load < bestLoad && !this.full(h)) {
        best = h;
        bestLoad = load;
        if (load === 0) break;
      } else if (load >= this.o.threadConcurrency && load < this.o.workerConnections && this.unread(h) >= this.o.threadConcurrency) queued = true;
      if (++runnable >= this.o.activeWorkers && (best !== null || queued)) break;
    }
    return best;
  }

  private send(h: Channel, ex: Exchange): void {
    h.given++;
    ex.worker = h;
    ex.seq = -1;
    h.exchanges.set(ex.id, ex);
    if (h.overflow.length === 0 && this.write(h, ex)) this.wakeLater(h);
    else h.overflow.push(ex);
  }

  /**
   * Ring a worker's doorbell at the end of this turn rather than per request: the acceptor reads
   * many sockets per poll phase, and one notify for the whole batch saves a futex wake (~5 µs of
   * acceptor time) per request while the worker sleeps.
   */
  private wakeLater(h: Channel): void {
    if (h.wakePending) return;
    h.wakePending = true;
    this.toWake.push(h);
    if (!this.scheduled) this.schedule();
  }

  private wakeAll(): void {
    const list = this.toWake;
    if (list.length === 0) return;
    this.toWake = [];
    for (let i = 0; i < list.length; i++) {
      list[i]!.wakePending = false;
      ring(list[i]!.bell);
    }
  }

  private write(h: Channel, ex: Exchange): boolean {
    // Shutting down: the worker answers with Connection: close and the connection ends after it.
    if (this.closing && !ex.last) ex.conn.lastBeforeShutdown(ex);
    const flags = (ex.keepAlive ? FL_KEEP_ALIVE : 0) | (ex.last ? FL_LAST : 0) | (ex.bodyStream ? FL_BODY_STREAM : 0) | ex.conn.frameFlags;
    // ex.parts is kept until the exchange ends: if the worker dies before reading the frame, the
    // request is sent again to another worker (remove()). It costs only the buffers' lifetime.
    if (!h.requests.write(T_REQUEST, flags, ex.conn.id, ex.id, ex.parts!, ex.size)) return false;
    ex.seq = h.sent;
    h.sent = (h.sent + 1) & CLAIM_MASK;
    // Its client half-closed: the cancel follows the request (Connection, 'end').
    if (ex.conn.halfClosed) this.toWorker(ex, T_CANCEL, EMPTY);
    return true;
  }

  private response(h: Channel, flags: number, reqId: number, payload: Buffer): void {
    let ex = h.exchanges.get(reqId);
    // A second lookup only while some response of this worker streams after its handler ended.
    if (ex === undefined && h.finishing.size > 0) ex = h.finishing.get(reqId);
    if (ex === undefined) return; // stale: the exchange was answered otherwise (worker replaced)
    const end = (flags & FL_END) !== 0;
    ex.conn.deliver(ex, payload, end, (flags & FL_CLOSE) !== 0);
    if (!end) {
      if ((flags & FL_ENDED) !== 0 && !ex.freed) this.free(h, ex);
      return;
    }
    if (ex.freed) {
      h.finishing.delete(reqId);
      this.finishing--;
      return;
    }
    h.exchanges.delete(reqId);
    this.outstanding--;
    this.completed++;
    if (this.waiting.length > 0) this.flushWaiting();
  }

  /**
   * The handler of `ex` ended its response and only its bytes remain, waiting for the client to
   * take them (FL_ENDED): it no longer counts against its worker's --worker-connections or against
   * --limit-concurrency. It stays the worker's exchange (in its `finishing`), so credits and a
   * cancel still reach it.
   */
  private free(h: Channel, ex: Exchange): void {
    ex.freed = true;
    h.exchanges.delete(ex.id);
    h.finishing.set(ex.id, ex);
    this.finishing++;
    this.outstanding--;
    this.completed++;
    if (this.waiting.length > 0) this.flushWaiting();
  }

  private flushWaiting(): void {
    const q = this.waiting;
    for (let ex = q.peek(); ex !== undefined; ex = q.peek()) {
      if (ex.conn.gone) this.outstanding--; // no answer can reach the client: drop it before it costs a worker anything
      else if (!this.place(ex)) break;
      q.shift();
    }
  }

  /** Make sure a turn will come while responses are owed. */
  private ensure(): void {
    if (!this.scheduled && !this.armed) this.schedule();
  }

  private schedule(): void {
    this.scheduled = true;
    setImmediate(this.onTurn);
  }

  private turn(): void {
    this.scheduled = false;
    this.waitNoted = false;
    this.wakeAll();
    let frames = 0;
    let unstarted = false;
    const now = epochNow();
    const workers = this.workers;
    for (let i = 0; i < workers.length; i++) {
      const h = workers[i]!;
      frames += h.responses.read(h.sink!);
      if (h.overflow.length > 0) this.retryOverflow(h);
      // It skipped what was taken back (and rang): it may take requests again.
      if (h.revoking && h.requests.claimed() >= 0) h.revoking = false;
      if (h.pinned.length > 0) {
        this.flushPinned(h);
        if (h.pinned.length > 0) unstarted = true; // sticky requests waiting for this worker: look again soon
      }
      if (h.outstanding > 0 && !h.revoking && this.reclaim(h, now)) unstarted = true;
    }
    if (this.backlogged.size > 0) this.retryBacklogs();
    // Requests wait: a worker may take them now (it skipped what was taken back, the park hint
    // ran out, a handler returned) without a response having ended to say so.
    if (this.waiting.length > 0) this.flushWaiting();
    this.uncork();
    if (this.outstanding === 0 && this.finishing === 0 && this.backlogged.size === 0) {
      this.emptyTurns = 0;
      return;
    }
    // Requests wait in a worker's ring behind a handler that may turn out to block, or in the
    // queue: look again once it would count as blocked, even if no response comes meanwhile.
    if ((unstarted || this.waiting.length > 0) && this.recheck === null) this.recheck = setTimeout(this.onRecheck, ELASTIC_BLOCKED_MS);
    if (frames > 0 || this.emptyTurns < SPIN_TURNS) {
      this.emptyTurns = frames > 0 ? 0 : this.emptyTurns + 1;
      this.schedule();
      return;
    }
    this.emptyTurns = 0;
    this.sleep();
  }

  private recheck: NodeJS.Timeout | null = null;
  private readonly onRecheck = (): void => {
    this.recheck = null;
    if (!this.scheduled) this.turn();
  };

  private retryOverflow(h: Channel): void {
    let n = 0;
    for (; n < h.overflow.length; n++) {
      const ex = h.overflow[n]!;
      // Its connection ended before the request reached the ring (a T_CANCEL sent meanwhile
      // would arrive first and be ignored): drop it instead of running it for nobody.
      if (ex.conn.gone) this.take(ex);
      else if (!this.write(h, ex)) break;
    }
    if (n > 0) {
      h.overflow.splice(0, n);
      ring(h.bell);
    }
  }

  private uncork(): void {
    const conns = this.corkedConns;
    if (conns.length === 0) return;
    this.corkedConns = [];
    for (let i = 0; i < conns.length; i++) {
      const c = conns[i]!;
      c.isCorked = false;
      if (!c.destroyed) c.socket.uncork();
    }
  }

  private sleep(): void {
    // Stream frames wait for room in a ring: look again next turn (a worker that reads its ring
    // does not ring the acceptor's doorbell unless it also publishes a response).
    if (this.backlogged.size > 0) {
      this.schedule();
      return;
    }
    if (this.armed) return;
    const { i32, sleepIndex, bellIndex } = this.control.acceptorBell();
    Atomics.store(i32, sleepIndex, 1);
    const seq = Atomics.load(i32, bellIndex);
    for (const h of this.workers) {
      if (!h.responses.empty() || h.overflow.length > 0) {
        Atomics.store(i32, sleepIndex, 0);
        this.schedule();
        return;
      }
    }
    const r = Atomics.waitAsync(i32, bellIndex, seq);
    this.armed = true;
    if (r.async) void r.value.then(this.onWake);
    else queueMicrotask(this.onWake);
  }
}

const EMPTY = Buffer.alloc(0);
/** streamControl's value, copied into the ring by the write. */
const CONTROL_VALUE = Buffer.alloc(4);

/** Frame number `seq` lies in [from, sent): written to a worker and not claimed by it (mod 2^31). */
function unclaimed(seq: number, from: number, sent: number): boolean {
  return ((seq - from) & CLAIM_MASK) < ((sent - from) & CLAIM_MASK);
}
