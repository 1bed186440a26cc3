// design: one client connection on the acceptor. Bytes go through the Framer; each framed
// request becomes an Exchange, queued in request order and handed to the dispatcher. Responses
// come back as byte frames and are written verbatim, strictly in request order (pipelining): the
// exchange at the head of the queue writes straight to the socket, later ones buffer until they
// reach the head. Reading pauses while too many responses are owed or the socket's write buffer
// is full, so a client can neither make the acceptor buffer without bound nor starve others.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { FL_TLS, FL_TRUSTED_PROXY } from '../ring/layout.js';
import { Framer, type FramedRequest, type FramerHandler, type FramerLimits } from './framer.js';
import type { RequestRecord } from './observe.js';
import { CONTINUE, statusResponse } from './responses.js';

/** Responses owed on one connection before the acceptor stops reading more requests from it. */
const MAX_PIPELINE = 32;
/** Response bytes held for pipelined requests (waiting for an earlier response) before reading pauses. */
const MAX_HELD_BYTES = 1 << 20;
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
  /** Flags OR-ed into every request frame of every connection (FL_REQUEST_ID), or 0. */
  frameFlags: number;
}

export interface ConnectionHost {
  /** Hand a framed request to a worker (or the wait queue). */
  submit(ex: Exchange, req: FramedRequest): void;
  /** Make sure the written data of this turn is flushed (the host corks and uncorks sockets). */
  corked(conn: Connection): void;
  closed(conn: Connection): void;
  /** Coarse clock (ms), refreshed by the host's sweep timer. */
  readonly clock: number;
  /** Whether the peer at this address may send X-Forwarded-* headers (--forwarded-allow-ips). */
  trustsProxy(address: string | undefined): boolean;
}

/** One request and its response. */
export class Exchange {
  readonly id: number;
  readonly conn: Connection;
  /** Response bytes that arrived before this exchange reached the head of the queue. */
  out: Buffer[] | null = null;
  done = false;
  close = false;
  /** Set by the dispatcher: the worker slot handling it (-1 = not dispatched). */
  slot = -1;
  /** Request bytes, kept until dispatched (the wait queue, a full ring, a re-dispatch). */
  parts: Buffer[] | null = null;
  size = 0;
  keepAlive = true;
  /** The connection closes after this response (the worker answers with Connection: close). */
  last = false;
  /** Set by the dispatcher from the framed request: what the supervisor's log lines name. */
  method = '';
  target = '';
  /** Only while observing (--access-log, --metrics-bind): what observe.ts records; else null. */
  rec: RequestRecord | null = null;

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
  /** u16 port, u8 address length, address: prefixed to every request frame of this connection. */
  readonly peer: Buffer;
  /** The socket is a TLSSocket (an HTTPS listener). */
  readonly tls: boolean;
  /** The peer is a trusted proxy (decided once, here: it cannot change on a connection). */
  readonly trusted: boolean;
  /** FL_TLS | FL_TRUSTED_PROXY as they apply: OR-ed into every request frame's flags. */
  readonly frameFlags: number;
  lastActive: number;
  destroyed = false;
  private readonly framer: Framer;
  private readonly host: ConnectionHost;
  private queue: Exchange[] = [];
  private ending = false;
  /** A request said close, or the connection is ending: nothing after it is interpreted. */
  private noMore = false;
  private writeBlocked = false;
  /** Bytes of responses waiting behind an earlier one (pipelining). */
  private heldBytes = 0;
  /** Requests framed but not dispatched yet (pairs: Exchange, FramedRequest), see mayDispatch. */
  private held: Array<Exchange | FramedRequest> | null = null;
  /** The last unsafe request dispatched: later requests wait until it is done. */
  private barrier: Exchange | null = null;
  private resumeScheduled = false;
  /** Requests framed on this connection. */
  private requests = 0;
  /** Clock time at which the request now being received (incomplete) began. */
  private partialSince = 0;
  private readonly opts: ConnectionOptions;
  isCorked = false;
  private readonly onData = (chunk: Buffer): void => {
    this.lastActive = this.host.clock;
    if (this.framer.buffered === 0) this.partialSince = this.host.clock;
    this.framer.push(chunk);
    this.resumeFraming();
  };

  constructor(id: number, socket: Socket, opts: ConnectionOptions, host: ConnectionHost) {
    this.id = id;
    this.socket = socket;
    this.host = host;
    this.opts = opts;
    this.lastActive = host.clock;
    this.framer = new Framer(opts.limits, this);
    this.peer = peerPrefix(socket);
    this.tls = (socket as TLSSocket).encrypted === true;
    this.trusted = host.trustsProxy(socket.remoteAddress);
    this.frameFlags = (this.tls ? FL_TLS : 0) | (this.trusted ? FL_TRUSTED_PROXY : 0) | opts.frameFlags;
    socket.on('data', this.onData);
    socket.on('drain', () => {
      this.writeBlocked = false;
      this.updateReading();
    });
    // The client half-closed (sent FIN): answer what it sent, then close our side too.
    socket.on('end', () => {
      this.ending = true;
      if (this.queue.length === 0) this.end();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.onClose());
    socket.resume();
  }

  /** No request in progress and none owed: safe to close for idleness or shutdown. */
  get idle(): boolean {
    return this.queue.length === 0 && this.framer.buffered === 0;
  }

  /** Requests owed a response on this connection. */
  get owed(): number {
    return this.queue.length;
  }

  onRequest(req: FramedRequest): void {
    if (this.noMore) return;
    const ex = new Exchange(newExchangeId(), this);
    ex.keepAlive = req.keepAlive;
    ex.close = !req.keepAlive;
    const max = this.opts.maxRequests;
    if (max !== 0 && ++this.requests >= max) {
      ex.close = true;
      ex.last = true;
    }
    if (ex.close) this.noMore = true;
    this.queue.push(ex);
    if (this.held === null && this.mayDispatch(ex, req)) this.dispatch(ex, req);
    else (this.held ??= []).push(ex, req);
    if (this.queue.length >= MAX_PIPELINE) {
      // Too many responses owed: frame nothing more of what was already read, read no more.
      this.framer.pause();
      this.updateReading();
    }
  }

  /**
   * RFC 9112 §9.3.2: pipelined requests may run in parallel only while they are safe. An unsafe
   * one (POST, PUT, ...) waits until every response before it is done, and the requests after it
   * wait until it is done, so none runs if an earlier response closes the connection.
   */
  private mayDispatch(ex: Exchange, req: FramedRequest): boolean {
    if (!isSafe(req.method)) return this.queue[0] === ex;
    return this.barrier === null || this.barrier.done;
  }

  private dispatch(ex: Exchange, req: FramedRequest): void {
    if (!isSafe(req.method)) this.barrier = ex;
    this.host.submit(ex, req);
  }

  /** Dispatch held requests, in order, as far as the rule allows. */
  private release(): void {
    const held = this.held!;
    let i = 0;
    while (i < held.length && this.mayDispatch(held[i] as Exchange, held[i + 1] as FramedRequest)) {
      this.dispatch(held[i] as Exchange, held[i + 1] as FramedRequest);
      i += 2;
    }
    if (i === held.length) this.held = null;
    else if (i > 0) held.splice(0, i);
  }

  onError(status: number, _reason: string): void {
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
    ex.close = ex.close || close;
    this.deliver(ex, bytes, true, ex.close);
  }

  /** Response bytes for `ex`; `end` completes it. Writes in request order. */
  deliver(ex: Exchange, data: Buffer, end: boolean, close: boolean): void {
    if (close) ex.close = true;
    if (this.queue[0] !== ex) {
      if (data.length > 0) {
        (ex.out ??= []).push(data);
        this.heldBytes += data.length;
        if (this.heldBytes > MAX_HELD_BYTES) this.updateReading();
      }
      if (end) ex.done = true;
      return;
    }
    if (data.length > 0) this.write(data);
    if (end) {
      ex.done = true;
      this.advance();
    }
  }

  /**
   * Enforce the header timeout and the least body rate on the request being received (called
   * once a second by the server's sweep). Only while we read: a paused connection is not slow.
   */
  checkTimeouts(now: number): void {
    const held = this.framer.buffered;
    if (held === 0 || this.noMore || this.destroyed || this.socket.isPaused()) return;
    const elapsed = now - this.partialSince;
    if (elapsed <= this.opts.headerTimeoutMs) return;
    if (this.framer.inHead) return this.onError(408, 'header timeout');
    const rate = this.opts.minBodyRate;
    if (rate > 0 && (held * 1000) / elapsed < rate) this.onError(408, 'body too slow');
  }

  /** Close the connection once the responses owed are written (graceful shutdown). */
  closeWhenIdle(): void {
    if (this.idle) this.destroy();
    else this.ending = true;
  }

  destroy(): void {
    if (!this.destroyed) this.socket.destroy();
  }

  private advance(): void {
    const q = this.queue;
    while (q.length > 0 && q[0]!.done) {
      const ex = q.shift()!;
      if (ex.close) return this.end();
      const next = q[0];
      if (next !== undefined && next.out !== null) {
        for (const b of next.out) {
          this.heldBytes -= b.length;
          this.write(b);
        }
        next.out = null;
      }
    }
    this.lastActive = this.host.clock;
    if (this.held !== null) this.release();
    if (this.ending && q.length === 0) return this.end();
    this.updateReading();
  }

  private write(data: Buffer): void {
    if (this.destroyed) return;
    if (!this.isCorked) {
      this.isCorked = true;
      this.socket.cork();
      this.host.corked(this);
    }
    if (!this.socket.write(data)) this.writeBlocked = true;
  }

  private end(): void {
    if (this.destroyed) return;
    this.noMore = true; // nothing after a closing response is ever interpreted
    this.socket.off('data', this.onData);
    this.socket.end();
    this.queue = [];
    this.held = null;
    // Lingering close: keep reading (and discarding) briefly so that bytes the client already
    // sent do not turn our FIN into a reset that destroys the response in flight.
    this.socket.resume();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private get mayRead(): boolean {
    return !this.writeBlocked && this.queue.length < MAX_PIPELINE && this.heldBytes <= MAX_HELD_BYTES;
  }

  /**
   * Frame bytes the framer held back (after pause(), or after an Upgrade request, which is not
   * taken over yet: the app answered it as plain HTTP, so what follows is HTTP again).
   */
  private resumeFraming(): void {
    while (this.framer.paused && this.mayRead && !this.destroyed) this.framer.resume();
  }

  private updateReading(): void {
    if (this.destroyed) return;
    const stop = !this.mayRead;
    if (stop) {
      if (!this.socket.isPaused()) this.socket.pause();
    } else if (this.socket.isPaused()) {
      // The client was not slow while we did not read: its timeouts start over.
      this.partialSince = this.host.clock;
      this.socket.resume();
    }
    // Held requests are framed on a later turn: this runs inside the response pump.
    if (!stop && this.framer.paused && !this.resumeScheduled) {
      this.resumeScheduled = true;
      setImmediate(() => {
        this.resumeScheduled = false;
        this.resumeFraming();
      });
    }
  }

  private onClose(): void {
    this.destroyed = true;
    this.host.closed(this);
  }
}

/** RFC 9110 §9.2.1 safe methods. */
function isSafe(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'TRACE';
}

function peerPrefix(socket: Socket): Buffer {
  const addr = socket.remoteAddress ?? '';
  const b = Buffer.allocUnsafe(3 + addr.length);
  b.writeUInt16LE(socket.remotePort ?? 0, 0);
  b[2] = addr.length;
  b.write(addr, 3, 'latin1');
  return b;
}
