// design: one client connection on the acceptor. Bytes go through the Framer; each framed
// request becomes an Exchange, queued in request order and handed to the dispatcher. Responses
// come back as byte frames and are written verbatim, strictly in request order (pipelining): the
// exchange at the head of the queue writes straight to the socket, later ones buffer until they
// reach the head. Reading pauses while too many responses are owed or the socket's write buffer
// is full, so a client can neither make the acceptor buffer without bound nor starve others.
//
// Streamed responses (frames without END) are flow-controlled per exchange: the worker may have
// RESPONSE_WINDOW bytes unacknowledged, and the bytes of each such frame are granted back
// (T_CREDIT) once written to a socket that is not write-blocked, else at the socket's 'drain'. A
// slow reader therefore holds at most about one window plus the socket's buffer here. A client
// that closes while a response is owed gets its dispatched exchanges cancelled (T_CANCEL); so does
// a connection that ends while requests pipelined behind its closing response are owed (the app
// said Connection: close, a worker crashed, shutdown), and those not dispatched yet never run.
//
// Upgrades: a request with Upgrade is dispatched only at the head of the queue, and the framer
// holds what follows it. If the worker's answer starts with a 101 status line the connection
// becomes a tunnel pinned to that exchange: client bytes go to the worker as T_DATA (reading
// pauses while a window of them is unacknowledged), worker bytes come back as streamed frames.
// Anything else is an ordinary response and framing resumes. When the tunnel's worker is
// stopped (recycle, reload past --graceful-timeout) the acceptor writes a WebSocket close frame
// 1001 (going away) itself, since the worker can no longer.
//
// Uploads: a body larger than --body-buffer-size is not held. The framer hands the request out
// early (`streamed`) and each later piece of the body to onBody; the exchange is dispatched like
// any other (the unsafe-request rule included) and its frame says the body follows. Pieces wait on
// the exchange until the worker says it read the request (T_ACK 0), then go as T_DATA; reading
// pauses while more than REQUEST_WINDOW of them are sent or held and not acknowledged (the worker
// acknowledges what the app consumed). An exchange answered before its body is in (the app did
// not read it all, or a 503) has the rest of its body discarded here. A body that turns out too
// large (or malformed) mid-stream cancels the worker's request and is answered 413 (400) in its
// place while no response byte went out, else the connection is cut.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { FL_TLS, FL_TRUSTED_PROXY, REQUEST_WINDOW, T_CANCEL, T_CREDIT, T_DATA } from '../ring/layout.js';
import { Framer, type FramedRequest, type FramerHandler, type FramerLimits } from './framer.js';
import type { RequestRecord } from './request-record.js';
import type { WorkerChannel } from './worker-channel.js';
import { CONTINUE, statusResponse } from './responses.js';
import { framePool } from './frame-pool.js';

/** Responses owed on one connection before the acceptor stops reading more requests from it. */
const MAX_PIPELINE = 32;
/** Bytes of responses that arrived before their turn (pipelined requests waiting on an earlier response) before reading pauses. */
const MAX_EARLY_BYTES = 1 << 20;
/** How long a closing connection waits for the client's FIN before it is destroyed. */
const LINGER_MS = 2000;

export interface ConnectionOptions {
  limits: FramerLimits;
  /** Requests served before the connection closes (0 = no limit); 1 closes after every response. */
  maxRequests: number;
  /** ms allowed for a request's header section, from its first byte. */
  headerTimeoutMs: number;
  /** Least average body rate (bytes/s) once a request has taken headerTimeoutMs; 0 = off. */
  minBodyRate: number;
  /** Flags OR-ed into every request frame of every connection, or 0. */
  frameFlags: number;
  /** ms a streamed response may go without a byte either way before the connection closes; 0 = off. */
  streamIdleMs: number;
  /** ms a request may wait for its response to begin (from when it was received whole) before it gets 504; 0 = off. */
  responseTimeoutMs: number;
  /** ms the client may take none of the response bytes waiting for it before the connection closes; 0 = off. */
  sendTimeoutMs: number;
}

export interface ConnectionHost {
  /** Hand a framed request to a worker (or the wait queue). */
  submit(ex: Exchange, req: FramedRequest): void;
  /** Make sure the written data of this turn is flushed (the host corks and uncorks sockets). */
  corked(conn: Connection): void;
  closed(conn: Connection): void;
  /** Coarse monotonic clock (ms, performance.now()), refreshed by the host's sweep timer: only differences mean anything. */
  readonly clock: number;
  /** Whether the peer at this address may send X-Forwarded-* headers (--forwarded-allow-ips). */
  trustsProxy(address: string | undefined): boolean;
  /** Send a T_CREDIT (value: bytes) or T_CANCEL to the worker handling `ex`, if it still does. */
  streamControl(ex: Exchange, type: number, value: number): void;
  /** Send a frame with a payload (T_DATA) to the worker handling `ex`, in order. */
  toWorker(ex: Exchange, type: number, payload: Buffer): void;
  /**
   * `ex` is past --response-timeout: cancel it wherever it is (its worker, or the wait queue) and
   * answer 504. False, doing nothing, while its handler still runs synchronously (--timeout's).
   */
  expire(ex: Exchange): boolean;
}

/** One request and its response. */
export class Exchange {
  readonly id: number;
  readonly conn: Connection;
  /** Response bytes that arrived before this exchange reached the head of the queue. */
  out: Buffer[] | null = null;
  done = false;
  close = false;
  /**
   * Set by the dispatcher: the channel of the worker it was dispatched to (null = not dispatched,
   * or taken back to be dispatched again). Kept once the worker answered: the access log names it.
   */
  worker: WorkerChannel<Exchange> | null = null;
  /** The host's clock when it was received whole (its body too): where --response-timeout counts from. */
  at = 0;
  /** Set by the dispatcher: its T_REQUEST frame's number in that worker's request ring (-1 = not written; ring layout, "Claims"). */
  seq = -1;
  /** Request bytes, kept until dispatched (the wait queue, a full ring, a re-dispatch). */
  parts: Buffer[] | null = null;
  size = 0;
  /** The request's body streams: its frame holds the start (FL_BODY_STREAM), T_DATA frames the rest. */
  bodyStream = false;
  /** The request-id part of the frame's sub-header (u8 length, the id), or null for none (ring layout, T_REQUEST). */
  idPart: Buffer | null = null;
  keepAlive = true;
  /** The connection closes after this response (the worker answers with Connection: close). */
  last = false;
  /** Set by the dispatcher from the framed request: what the supervisor's log lines name. */
  method = '';
  target = '';
  /** Only while observing (--access-log, --metrics-bind): what ./observe.ts records; else null. */
  rec: RequestRecord | null = null;
  /** The response streams: bytes of it went out before its END frame. */
  streamed = false;
  /** Bytes of its streamed response written to the socket and not yet granted back to the worker. */
  credit = 0;
  /** The request asked to upgrade (Upgrade + Connection: upgrade). */
  upgrade = false;
  /** The worker answered 101: the connection is a tunnel to it. */
  tunnel = false;
  /** That 101 switched to WebSocket (`Upgrade: websocket`): a worker stopped under it ends the tunnel with a close frame. */
  websocket = false;
  /** Tunnel bytes sent to the worker and not yet acknowledged (T_ACK). */
  unacked = 0;
  /** Stream frames for the worker waiting for ring space, in order (pairs: type, payload); see Dispatcher.toWorker. */
  backlog: Array<number | Buffer> | null = null;
  /** Upload (streamed request body): UP_NONE, or where it stands (see Connection.onBody). */
  upload = UP_NONE;
  /** Upload pieces waiting for the worker's first T_ACK (it read the request). */
  pending: Buffer[] | null = null;
  /** The acceptor gave up on this exchange (its body was refused mid-stream): the worker's answer is dropped. */
  cancelled = false;
  /** --sticky: the key that ties it to a worker thread (set by the dispatcher), or null. */
  key: string | null = null;
  /** --sticky: response bytes still to search for a key its worker hands out (0: none). */
  learn = 0;
  /** Its handler ended the response and only bytes for the client remain: no longer counted against its worker (set by the dispatcher). */
  freed = false;

  /** The slot of the worker it was dispatched to, or -1. */
  get slot(): number {
    return this.worker === null ? -1 : this.worker.slot;
  }

  /** Its whole request is in: no body, a buffered one, or a streamed one whose last byte arrived. */
  get received(): boolean {
    return this.upload === UP_NONE || this.upload === UP_END;
  }

  constructor(id: number, conn: Connection) {
    this.id = id;
    this.conn = conn;
  }
}

let nextExchangeId = 1;

function newExchangeId(): number {
  const id = nextExchangeId;
  nextExchangeId = (nextExchangeId + 1) >>> 0 || 1;
  return id;
}

export class Connection implements FramerHandler {
  readonly id: number;
  readonly socket: Socket;
  /** u16 port, u8 address length, address: the peer part of every request frame's sub-header (ring layout, T_REQUEST). */
  readonly peer: Buffer;
  /** The socket is a TLSSocket (an HTTPS listener). */
  readonly tls: boolean;
  /** The peer is a trusted proxy (decided once, here: it cannot change on a connection). */
  readonly trusted: boolean;
  /** FL_TLS | FL_TRUSTED_PROXY as they apply: OR-ed into every request frame's flags. */
  readonly frameFlags: number;
  lastActive: number;
  /** The socket closed. */
  destroyed = false;
  /**
   * The client half-closed (its FIN came): every request of it that a worker runs is sent
   * T_CANCEL right after it (the dispatcher), so what its handler does not answer at once is
   * cancelled rather than kept for a client that may be gone.
   */
  halfClosed = false;
  /** Closed by the server to admit a new connection at the --connections cap (server.ts). */
  reclaimed = false;
  /**
   * No response can reach the client any more: the connection ended (end(): our FIN went out) or
   * closed. Its requests not sent to a worker yet are dropped (the dispatcher checks this).
   */
  gone = false;
  /**
   * The framer, while a request is being received or framing is held (paused, closed, failed);
   * null between requests: a clean framer goes back to a pool shared by the connections of these
   * options (acquireFramer), so an idle keep-alive connection holds none.
   */
  private framer: Framer | null = null;
  private readonly host: ConnectionHost;
  private queue: Exchange[] = [];
  private ending = false;
  /** A request said close, or the connection is ending: nothing after it is interpreted. */
  private noMore = false;
  private writeBlocked = false;
  /** Bytes of responses waiting behind an earlier one (pipelining). */
  private earlyBytes = 0;
  /** Requests framed but not dispatched yet (pairs: Exchange, FramedRequest), see mayDispatch. */
  private undispatched: Array<Exchange | FramedRequest> | null = null;
  /** The last unsafe request dispatched: later requests wait until it is done. */
  private barrier: Exchange | null = null;
  private resumeScheduled = false;
  /** Requests framed on this connection. */
  private requests = 0;
  /** Clock time at which the request now being received (incomplete) began. */
  private partialSince = 0;
  /** A request was framed on this connection (until then --header-timeout counts from accept). */
  private used = false;
  /** --send-timeout: clock time since which the client has taken none of the bytes waiting for it (0: none wait). */
  private sendSince = 0;
  /** The socket's buffered bytes and libuv's write queue at the last check: less now means the client took some. */
  private sendPending = 0;
  private sendQueued = 0;
  private sendAccepted = 0;
  private readonly opts: ConnectionOptions;
  isCorked = false;
  /** The exchange whose body the framer is streaming now (onBody), or null. */
  private upload: Exchange | null = null;
  /** An upgrade request dispatched and not answered yet: the framer holds what follows. */
  private upgrading: Exchange | null = null;
  /** The exchange this connection is a tunnel of (after a 101), or null. */
  private tunnel: Exchange | null = null;

  private onData(chunk: Buffer): void {
    this.lastActive = this.host.clock;
    if (this.tunnel !== null) return this.tunnelIn(this.tunnel, chunk);
    let framer = this.framer;
    if (framer === null) {
      this.partialSince = this.host.clock;
      framer = this.framer = acquireFramer(this.opts.limits, this);
    } else if (framer.buffered === 0) this.partialSince = this.host.clock;
    framer.push(chunk);
    this.resumeFraming();
    this.releaseFramer();
  }

  /** Between requests: the framer goes back to the pool (not once the connection is gone: it may hold anything). */
  private releaseFramer(): void {
    const f = this.framer;
    if (f !== null && f.clean && !this.gone) {
      this.framer = null;
      returnFramer(this.opts.limits, f);
    }
  }

  // The socket's listeners are shared by every connection (no closures per connection): each finds
  // its Connection through the socket's kConnection property.
  private static onSocketData(this: Socket, chunk: Buffer): void {
    (this as LinkedSocket)[kConnection].onData(chunk);
  }

  private static onSocketDrain(this: Socket): void {
    (this as LinkedSocket)[kConnection].onDrain();
  }

  private static onSocketEnd(this: Socket): void {
    (this as LinkedSocket)[kConnection].onEnd();
  }

  private static onSocketClose(this: Socket): void {
    (this as LinkedSocket)[kConnection].onClose();
  }

  constructor(id: number, socket: Socket, opts: ConnectionOptions, host: ConnectionHost) {
    this.id = id;
    this.socket = socket;
    this.host = host;
    this.opts = opts;
    this.lastActive = host.clock;
    this.peer = peerPrefix(socket);
    this.tls = (socket as TLSSocket).encrypted === true;
    this.trusted = host.trustsProxy(socket.remoteAddress);
    this.frameFlags = (this.tls ? FL_TLS : 0) | (this.trusted ? FL_TRUSTED_PROXY : 0) | opts.frameFlags;
    (socket as LinkedSocket)[kConnection] = this;
    socket.on('data', Connection.onSocketData);
    socket.on('drain', Connection.onSocketDrain);
    socket.on('end', Connection.onSocketEnd);
    socket.on('error', destroySocket);
    socket.on('close', Connection.onSocketClose);
    socket.resume();
  }

  private onDrain(): void {
    this.writeBlocked = false;
    this.sendSince = 0;
    const head = this.queue[0];
    if (head !== undefined && head.credit > 0) this.grant(head);
    this.updateReading();
  }

  /**
   * The client half-closed (sent FIN). It may be gone (close() sends the same FIN as
   * shutdown(SHUT_WR)), so nothing is kept running for it: what it sent is still framed and
   * run, and what the handlers answer at once is written, in order; a request still waiting for
   * its answer is cancelled (decision 0023), and the connection closes after the responses.
   */
  private onEnd(): void {
    if (this.tunnel !== null) {
      this.host.toWorker(this.tunnel, T_DATA, EMPTY); // half-close reaches the worker's socket
      return;
    }
    this.ending = true;
    this.halfClosed = true;
    if (this.queue.length === 0) this.endOrFrame();
    // A client that hangs up during a streamed response has gone, not half-closed: its
    // handler hears of it (T_CANCEL at close) instead of streaming on to nobody. So does one
    // that hangs up in the middle of an upload: that body can never be complete.
    else if (this.queue[0]!.streamed || this.upload !== null) this.destroy();
    else this.cancelWritten();
  }

  /** No request in progress, none owed, and every response byte handed to the kernel: safe to close for idleness or shutdown. */
  get idle(): boolean {
    return this.queue.length === 0 && (this.framer === null || this.framer.buffered === 0) && this.socket.writableLength === 0;
  }

  /** No request has been framed on it yet: its wait for one is --header-timeout's, counted from accept, not --keep-alive's. */
  get fresh(): boolean {
    return !this.used;
  }

  /** Requests owed a response on this connection. */
  get owed(): number {
    return this.queue.length;
  }

  /** The server shuts down before `ex` goes to a worker: its response is the connection's last (Connection: close). */
  lastBeforeShutdown(ex: Exchange): void {
    ex.last = true;
    ex.close = true;
  }

  onRequest(req: FramedRequest): void {
    if (this.noMore) return;
    this.used = true;
    const ex = new Exchange(newExchangeId(), this);
    ex.keepAlive = req.keepAlive;
    ex.close = !req.keepAlive;
    ex.upgrade = req.upgrade;
    if (req.streamed) {
      ex.upload = UP_WAIT;
      this.upload = ex;
    } else ex.at = this.host.clock;
    const max = this.opts.maxRequests;
    if (max !== 0 && ++this.requests >= max) {
      ex.close = true;
      ex.last = true;
    }
    if (ex.close) this.noMore = true;
    this.queue.push(ex);
    if (this.undispatched === null && this.mayDispatch(ex, req)) this.dispatch(ex, req);
    else (this.undispatched ??= []).push(ex, req);
    if (this.queue.length >= MAX_PIPELINE) {
      // Too many responses owed: frame nothing more of what was already read, read no more.
      this.framer!.pause(); // framing now: the framer is in use
      this.updateReading();
    }
  }

  /**
   * RFC 9112 §9.3.2: pipelined requests may run in parallel only while they are safe. An unsafe
   * one (POST, PUT, ...) waits until every response before it is done, and the requests after it
   * wait until it is done, so none runs if an earlier response closes the connection.
   */
  private mayDispatch(ex: Exchange, req: FramedRequest): boolean {
    if (!isSafe(req.method) || req.upgrade) return this.queue[0] === ex;
    return this.barrier === null || this.barrier.done;
  }

  private dispatch(ex: Exchange, req: FramedRequest): void {
    if (!isSafe(req.method) || req.upgrade) this.barrier = ex;
    if (req.upgrade) {
      this.upgrading = ex;
      this.updateReading(); // what follows waits in the kernel until the answer says which protocol
    }
    // A streamed body: the frame says so (FL_BODY_STREAM), and the rest follows as T_DATA.
    ex.bodyStream = req.streamed;
    this.host.submit(ex, req);
  }

  /**
   * A piece of the streamed body of `this.upload`: to the worker once it has read the request,
   * held until then; dropped once the exchange is answered (the app did not read it all).
   */
  onBody(data: Buffer): void {
    const ex = this.upload!;
    if (ex.done || ex.cancelled || ex.upload === UP_DROP) return;
    ex.unacked += data.length;
    if (ex.upload === UP_OPEN) this.host.toWorker(ex, T_DATA, data);
    else (ex.pending ??= []).push(data);
    if (ex.unacked > REQUEST_WINDOW) this.updateReading();
  }

  onBodyEnd(): void {
    const ex = this.upload!;
    this.upload = null;
    if (ex.upload === UP_WAIT) ex.upload = UP_WAIT_END;
    else if (ex.upload === UP_OPEN) ex.upload = UP_END;
    this.updateReading();
  }

  /** The worker read the streamed request (its first T_ACK): send the body held so far. */
  private uploadStarted(ex: Exchange): void {
    const pending = ex.pending;
    ex.pending = null;
    if (ex.cancelled || this.gone) {
      ex.upload = UP_DROP;
      this.host.streamControl(ex, T_CANCEL, 0); // the client is gone, or the body was refused
      return;
    }
    ex.upload = ex.upload === UP_WAIT_END ? UP_END : UP_OPEN;
    // Half-closed: the T_CANCEL that followed its request (the dispatcher) ends it; no body goes.
    if (this.halfClosed) return;
    if (pending !== null) for (let i = 0; i < pending.length; i++) this.host.toWorker(ex, T_DATA, pending[i]!);
  }

  /**
   * The framer refused the streamed body mid-way (413, 400): the worker's request is cancelled, and
   * answered with `status` in its place unless part of its answer went out (then the connection is cut).
   */
  private refuseUpload(ex: Exchange, status: number): boolean {
    this.upload = null;
    if (ex.done) return false; // answered already: the error is answered after it, as usual
    ex.cancelled = true;
    ex.pending = null;
    if (ex.upload === UP_OPEN || ex.upload === UP_END) {
      ex.upload = UP_DROP;
      this.host.streamControl(ex, T_CANCEL, 0);
    } // else: cancelled when the worker says it read the request (uploadStarted)
    this.noMore = true;
    if (ex.streamed || ex.out !== null) {
      this.destroy();
      return true;
    }
    this.deliver(ex, statusResponse(status, true), true, true);
    return true;
  }

  /** Dispatch the undispatched requests, in order, as far as the rule allows. */
  private release(): void {
    const list = this.undispatched!;
    let i = 0;
    while (i < list.length && this.mayDispatch(list[i] as Exchange, list[i + 1] as FramedRequest)) {
      this.dispatch(list[i] as Exchange, list[i + 1] as FramedRequest);
      i += 2;
    }
    if (i === list.length) this.undispatched = null;
    else if (i > 0) list.splice(0, i);
  }

  onError(status: number, _reason: string): void {
    const up = this.upload;
    if (up !== null && up.done) {
      // The app answered before its streamed body was in, and the rest of that body is now too
      // slow, too large or malformed: there is no request left to answer (a status here would read
      // as the answer to a next request), so close once the responses owed are written.
      this.upload = null;
      this.noMore = true;
      this.ending = true;
      if (this.queue.length === 0) this.end();
      return;
    }
    if (up !== null && this.refuseUpload(up, status)) return;
    // The framer stops at the bad request: answer it in order after those before it, then close.
    if (this.noMore) return;
    this.noMore = true;
    const ex = new Exchange(newExchangeId(), this);
    this.queue.push(ex);
    this.respond(ex, statusResponse(status, true), true);
  }

  onContinue(): void {
    // An interim 100 may only go out when no earlier response is owed (it would overtake them);
    // otherwise the client sends the body after its own short wait, as RFC 9110 allows.
    if (this.queue.length === 0) this.write(CONTINUE);
  }

  /** A complete response the acceptor makes itself (503, 4xx). */
  respond(ex: Exchange, bytes: Buffer, close: boolean): void {
    if (ex.done || this.gone) return; // answered already (refuseUpload), or nothing can go out
    if (ex.tunnel) {
      // Its worker was stopped (recycled or reloaded past --graceful-timeout, or it died): a
      // WebSocket is told "going away" in its own framing; any other protocol just closes.
      if (ex.websocket) this.write(GOING_AWAY);
      this.end();
      return;
    }
    if (ex.streamed) {
      // Part of its response went out already (its worker died mid-stream): a status line now
      // would corrupt it. Cut the connection, as a proxy does when its upstream breaks off.
      this.destroy();
      return;
    }
    if (ex.out !== null) {
      // Part of its response came from its worker but waits behind earlier responses: none of it
      // reached the client, so the status replaces it whole instead of following it.
      for (const b of ex.out) this.earlyBytes -= b.length;
      ex.out = null;
    }
    ex.close = ex.close || close;
    this.deliver(ex, bytes, true, ex.close);
  }

  /** Response bytes for `ex`; `end` completes it. Writes in request order. */
  deliver(ex: Exchange, data: Buffer, end: boolean, close: boolean): void {
    // Cancelled and answered here (refuseUpload), or left behind when the connection ended (end()):
    // the worker's remaining bytes, END | ABORT included, are dropped.
    if (ex.done || this.gone) return;
    if (close) ex.close = true;
    if (this.queue[0] !== ex) {
      if (data.length > 0) {
        (ex.out ??= []).push(data);
        this.earlyBytes += data.length;
        if (this.earlyBytes > MAX_EARLY_BYTES) this.updateReading();
      }
      if (end) ex.done = true;
      return;
    }
    if (ex === this.upgrading) this.upgraded(ex, data, end);
    if (data.length > 0) {
      this.write(data);
      if (!end) this.streamedOut(ex, data.length);
    }
    if (end) {
      ex.done = true;
      this.advance();
    }
  }

  /** The first answer to an upgrade request: a 101 makes this connection a tunnel to its worker. */
  private upgraded(ex: Exchange, data: Buffer, end: boolean): void {
    this.upgrading = null;
    if (!end && data.length >= 12 && data.toString('latin1', 8, 13) === ' 101 ') {
      ex.tunnel = true;
      ex.websocket = switchesToWebSocket(data);
      this.tunnel = ex;
      const rest = this.framer?.takeRest() ?? []; // paused at the upgrade request: in use
      for (let i = 0; i < rest.length; i++) this.tunnelIn(ex, rest[i]!);
    }
    // Otherwise an ordinary response: framing resumes once it is written (advance / updateReading).
    this.updateReading();
  }

  /** Client bytes of a tunnel go to its worker; reading pauses while a window of them is unacknowledged. */
  private tunnelIn(ex: Exchange, chunk: Buffer): void {
    if (chunk.length === 0) return;
    ex.unacked += chunk.length;
    this.host.toWorker(ex, T_DATA, chunk);
    if (ex.unacked > REQUEST_WINDOW) this.updateReading();
  }

  /** The worker took `n` tunnel or upload bytes (T_ACK); an upload's first T_ACK says it read the request. */
  tunnelAck(ex: Exchange, n: number): void {
    if (ex.upload === UP_WAIT || ex.upload === UP_WAIT_END) this.uploadStarted(ex);
    ex.unacked -= n;
    if (ex.unacked <= REQUEST_WINDOW) this.updateReading();
  }

  /** `n` bytes of a streamed response went to the socket: grant them back unless it is blocked. */
  private streamedOut(ex: Exchange, n: number): void {
    ex.streamed = true;
    ex.credit += n;
    this.lastActive = this.host.clock;
    if (!this.writeBlocked) this.grant(ex);
  }

  private grant(ex: Exchange): void {
    const n = ex.credit;
    ex.credit = 0;
    this.host.streamControl(ex, T_CREDIT, n);
  }

  /** Response bytes this connection holds in the acceptor: the socket's write buffer and pipelined responses. */
  get bufferedBytes(): number {
    const up = this.upload;
    return this.socket.writableLength + this.earlyBytes + (this.framer?.memory ?? 0) + (up !== null && up.pending !== null ? up.unacked : 0);
  }

  /**
   * Enforce the header timeout and the least body rate on the request being received (called
   * once a second by the server's sweep). Only while we read: a paused connection is not slow.
   */
  checkTimeouts(now: number): void {
    if (this.opts.sendTimeoutMs > 0 && this.sendStalled(now)) {
      this.destroy(); // --send-timeout: the client took nothing of what waits for it
      return;
    }
    if (this.opts.responseTimeoutMs > 0 && this.queue.length > 0) this.checkResponses(now);
    const head = this.queue[0];
    if (head !== undefined && head.streamed && this.opts.streamIdleMs > 0 && now - this.lastActive > this.opts.streamIdleMs) {
      this.destroy(); // --stream-idle-timeout: no byte either way for that long
      return;
    }
    const framer = this.framer;
    if (framer === null) return; // between requests: nothing being received
    // After a request that closes the connection nothing more is answered (noMore), but its own
    // streamed body, still arriving, is bound by the rate all the same.
    const held = framer.buffered;
    if (held === 0 || (this.noMore && this.upload === null) || this.destroyed || this.socket.isPaused()) return;
    const elapsed = now - this.partialSince;
    if (elapsed <= this.opts.headerTimeoutMs) return;
    if (framer.inHead) return this.onError(408, 'header timeout');
    const rate = this.opts.minBodyRate;
    if (rate > 0 && (held * 1000) / elapsed < rate) this.onError(408, 'body too slow');
  }

  /**
   * --send-timeout: whether bytes have waited in the socket for the client for that long with none
   * of them taken. Taken: the kernel accepted more bytes since the last check (what node handed
   * to libuv minus libuv's write queue: it grows even while new response bytes keep the buffers
   * as full as before), the socket's buffer (what node holds) or libuv's write queue shrank, or
   * 'drain' came.
   */
  private sendStalled(now: number): boolean {
    const pending = this.socket.writableLength;
    if (pending === 0) {
      this.sendSince = 0;
      return false;
    }
    const queued = writeQueueSize(this.socket);
    const accepted = bytesDispatched(this.socket) - queued;
    if (this.sendSince === 0 || pending < this.sendPending || queued < this.sendQueued || accepted > this.sendAccepted) this.sendSince = now;
    this.sendPending = pending;
    this.sendQueued = queued;
    this.sendAccepted = accepted;
    return now - this.sendSince > this.opts.sendTimeoutMs;
  }

  /**
   * --response-timeout: a request received whole that long ago whose response has not begun (no
   * byte of it came back, no tunnel) is cancelled and answered 504 by the host. An upload still
   * arriving is the body rate's to judge; its deadline starts when its body is in.
   */
  private checkResponses(now: number): void {
    const limit = this.opts.responseTimeoutMs;
    const q = this.queue;
    for (let i = 0; i < q.length; i++) {
      const ex = q[i]!;
      if (ex.done || ex.out !== null || ex.streamed || ex.tunnel || ex.cancelled) continue;
      if (ex.upload !== UP_NONE && ex.upload !== UP_END) continue;
      if (ex.at === 0) ex.at = now; // an upload whose body just ended
      else if (now - ex.at > limit) this.host.expire(ex);
    }
  }

  /** Close the connection once the responses owed are written (graceful shutdown). */
  closeWhenIdle(): void {
    if (this.idle) this.destroy();
    else this.ending = true;
  }

  destroy(): void {
    if (!this.destroyed) this.socket.destroy();
  }

  /**
   * Shutdown: a tunnel (WebSocket) is sent the close frame 1001 (going away) and ended, as when its
   * worker retires (respond()). False, doing nothing, for any other connection.
   */
  goAway(): boolean {
    const t = this.tunnel;
    if (t === null || t.done || this.gone) return false; // gone: ending or closed, nothing more is written
    this.respond(t, EMPTY, true);
    t.done = true; // what its worker still sends (or its exit) writes nothing after the close frame
    return true;
  }

  /**
   * Shutdown past --graceful-timeout: the request at the head of the queue, still owed and with
   * nothing of its response sent, is answered with `bytes` (a 503 that closes) and the connection
   * ends after it; returns that exchange. Null, doing nothing, when nothing is owed, the
   * connection is ending or closed, or it is a tunnel.
   */
  expire(bytes: Buffer): Exchange | null {
    const head = this.queue[0];
    if (head === undefined || head.done || head.streamed || head.tunnel || this.gone) return null;
    this.respond(head, bytes, true);
    return head;
  }

  private advance(): void {
    const q = this.queue;
    while (q.length > 0 && q[0]!.done) {
      const ex = q.shift()!;
      if (ex.close) return this.end();
      const next = q[0];
      if (next !== undefined && next.out !== null) {
        let n = 0;
        for (const b of next.out) {
          this.earlyBytes -= b.length;
          n += b.length;
          this.write(b);
        }
        next.out = null;
        // Its response streams and is not done: what was held here now counts as written.
        if (!next.done) this.streamedOut(next, n);
      }
    }
    this.lastActive = this.host.clock;
    if (this.undispatched !== null) this.release();
    if (this.ending && q.length === 0) return this.endOrFrame();
    this.updateReading();
  }

  /**
   * Ending (the client half-closed, or shutdown) and no response owed: close, unless the framer
   * holds back bytes (paused at MAX_PIPELINE, or after an upgrade answered as plain HTTP), which
   * may be complete requests the client sent before its FIN: those are framed and answered first.
   */
  private endOrFrame(): void {
    if (this.framer !== null && this.framer.paused && this.framer.buffered > 0) this.updateReading();
    else this.end();
  }

  private write(data: Buffer): void {
    if (this.destroyed) return;
    if (!this.isCorked) {
      this.isCorked = true;
      this.socket.cork();
      this.host.corked(this);
    }
    // A frame in a piece of the frame pool goes back to it once this write is done with it.
    const done = framePool.doneFor(data);
    if (!(done === null ? this.socket.write(data) : this.socket.write(data, done))) {
      this.writeBlocked = true;
      if (this.sendSince === 0) this.sendSince = this.host.clock; // --send-timeout counts from here
    }
  }

  private end(): void {
    if (this.gone) return;
    this.gone = true;
    this.noMore = true; // nothing after a closing response is ever interpreted
    this.socket.off('data', Connection.onSocketData);
    this.socket.end();
    // Requests pipelined behind the closing response will get no answer: those running hear of it
    // as if the client had closed, those held here or waiting for a worker never run (gone).
    this.cancelOwed();
    this.queue = [];
    this.undispatched = null;
    this.earlyBytes = 0;
    // Lingering close: keep reading (and discarding) briefly so that bytes the client already
    // sent do not turn our FIN into a reset that destroys the response in flight.
    this.socket.resume();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private get mayRead(): boolean {
    const t = this.tunnel;
    if (t !== null) return t.unacked <= REQUEST_WINDOW;
    const up = this.upload;
    if (up !== null && up.unacked > REQUEST_WINDOW && !up.done && !up.cancelled && up.upload !== UP_DROP) return false;
    return !this.writeBlocked && this.queue.length < MAX_PIPELINE && this.earlyBytes <= MAX_EARLY_BYTES && this.upgrading === null;
  }

  /**
   * Frame bytes the framer held back (after pause(), or after an Upgrade request, which is not
   * taken over yet: the app answered it as plain HTTP, so what follows is HTTP again).
   */
  private resumeFraming(): void {
    if (this.upgrading !== null || this.tunnel !== null) return; // held for the new protocol, or taken
    const framer = this.framer;
    if (framer === null) return;
    while (framer.paused && this.mayRead && !this.gone) framer.resume();
  }

  private updateReading(): void {
    if (this.gone) return; // ended: the lingering close reads on, whatever is owed
    const stop = !this.mayRead;
    if (stop) {
      if (!this.socket.isPaused()) this.socket.pause();
    } else if (this.socket.isPaused()) {
      // The client was not slow while we did not read: its timeouts start over.
      this.partialSince = this.host.clock;
      this.socket.resume();
    }
    // Held requests are framed on a later turn: this runs inside the response pump.
    if (!stop && this.framer !== null && this.framer.paused && !this.resumeScheduled) {
      this.resumeScheduled = true;
      setImmediate(() => {
        this.resumeScheduled = false;
        this.resumeFraming();
        // Ending, and what the framer held framed no request (only part of one, which can never
        // complete now): nothing is owed, close.
        if (this.ending && this.queue.length === 0 && !(this.framer?.paused ?? false)) this.end();
        else this.releaseFramer();
      });
    }
  }

  private onClose(): void {
    this.destroyed = true;
    // The client is gone: handlers still owing it a response (a stream, an async handler) hear of it.
    if (!this.gone) {
      this.gone = true;
      this.cancelOwed();
    }
    this.host.closed(this);
  }

  /**
   * The client half-closed: exchanges already written to a worker's ring get T_CANCEL now (it
   * follows their request there); those not written yet get it when they are (the dispatcher).
   */
  private cancelWritten(): void {
    const q = this.queue;
    for (let i = 0; i < q.length; i++) {
      const ex = q[i]!;
      if (!ex.done && ex.worker !== null && ex.seq >= 0 && ex.upload !== UP_WAIT && ex.upload !== UP_WAIT_END) this.host.streamControl(ex, T_CANCEL, 0);
    }
  }

  /** Cancel (T_CANCEL) every exchange of the queue that a worker has and has not answered yet. */
  private cancelOwed(): void {
    const q = this.queue;
    for (let i = 0; i < q.length; i++) {
      const ex = q[i]!;
      // An upload its worker has not read yet is cancelled when it says it did (uploadStarted).
      if (!ex.done && ex.worker !== null && ex.upload !== UP_WAIT && ex.upload !== UP_WAIT_END) this.host.streamControl(ex, T_CANCEL, 0);
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** The socket property that leads the shared listeners to their Connection. */
const kConnection = Symbol('greenserve.connection');
type LinkedSocket = Socket & { [kConnection]: Connection };

function destroySocket(this: Socket): void {
  this.destroy();
}

/** Clean framers kept for reuse, per FramerLimits object (one per server's connection options). */
const framerPools = new WeakMap<FramerLimits, Framer[]>();
/** Clean framers kept per pool, at most: only connections receiving a request at once need one. */
const FRAMER_POOL_MAX = 64;

function acquireFramer(limits: FramerLimits, handler: Connection): Framer {
  const f = framerPools.get(limits)?.pop();
  if (f === undefined) return new Framer(limits, handler);
  f.attach(handler);
  return f;
}

function returnFramer(limits: FramerLimits, f: Framer): void {
  f.attach(DETACHED);
  let pool = framerPools.get(limits);
  if (pool === undefined) framerPools.set(limits, (pool = []));
  if (pool.length < FRAMER_POOL_MAX) pool.push(f);
}

/** The handler of a framer in the pool: it frames nothing there, so nothing calls it. */
const DETACHED: FramerHandler = {
  onRequest: () => {},
  onError: () => {},
  onBody: () => {},
  onBodyEnd: () => {},
};

/** Exchange.upload: no streamed body; body streaming, worker has not read the request yet (and the body ended meanwhile); sent on; all of it sent; given up. */
const UP_NONE = 0;
const UP_WAIT = 1;
const UP_WAIT_END = 2;
const UP_OPEN = 3;
const UP_END = 4;
const UP_DROP = 5;
/** A WebSocket close frame (RFC 6455 §5.5.1), unmasked as a server's: code 1001, going away. */
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

/** RFC 9110 §9.2.1 safe methods. */
function isSafe(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'TRACE';
}

/** Bytes of a write that libuv still holds for the kernel (it shrinks as the client reads); 0 where the handle does not say. */
/** Bytes node has handed to libuv on this socket so far (0 where the socket does not say). */
function bytesDispatched(socket: Socket): number {
  const n = (socket as unknown as { _bytesDispatched?: unknown })._bytesDispatched;
  return typeof n === 'number' ? n : 0;
}

function writeQueueSize(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { writeQueueSize?: unknown } | null })._handle;
  const n = handle?.writeQueueSize;
  return typeof n === 'number' ? n : 0;
}

/**
 * Peer prefixes live as long as their connection, so they are cut from slabs of their own: cut
 * from Buffer's shared pool (allocUnsafe), each would keep alive the whole 8 KiB pool slab it came
 * from, filled meanwhile by short-lived buffers (measured: ~180 bytes per idle connection).
 */
const PEER_SLAB = 4096;
let peerSlab = Buffer.allocUnsafeSlow(PEER_SLAB);
let peerSlabUsed = 0;

function peerBytes(n: number): Buffer {
  if (n > PEER_SLAB / 8) return Buffer.allocUnsafeSlow(n);
  if (peerSlabUsed + n > PEER_SLAB) {
    peerSlab = Buffer.allocUnsafeSlow(PEER_SLAB);
    peerSlabUsed = 0;
  }
  const b = peerSlab.subarray(peerSlabUsed, peerSlabUsed + n);
  peerSlabUsed += n;
  return b;
}

const UPGRADE_WEBSOCKET = /\r\nupgrade:[ \t]*websocket[ \t]*\r\n/i;

/** Whether a 101's head (the start of `data`) names WebSocket in its Upgrade field. */
function switchesToWebSocket(data: Buffer): boolean {
  const end = data.indexOf('\r\n\r\n');
  return UPGRADE_WEBSOCKET.test(data.toString('latin1', 0, end < 0 ? data.length : end + 2));
}

function peerPrefix(socket: Socket): Buffer {
  const addr = socket.remoteAddress ?? '';
  const b = peerBytes(3 + addr.length);
  b.writeUInt16LE(socket.remotePort ?? 0, 0);
  b[2] = addr.length;
  b.write(addr, 3, 'latin1');
  return b;
}
