// design: one client connection on the acceptor. Bytes go through the Framer; each framed
// request becomes an Exchange, queued in request order and handed to the dispatcher. Responses
// come back as byte frames and are written verbatim, strictly in request order (pipelining): the
// exchange at the head of the queue writes straight to the socket, later ones buffer until they
// reach the head. Reading pauses while too many responses are owed or the socket's write buffer
// is full, so a client can neither make the acceptor buffer without bound nor starve others.
import type { Socket } from 'node:net';
import { Framer, type FramedRequest, type FramerHandler, type FramerLimits } from './framer.js';
import { CONTINUE, statusResponse } from './responses.js';

/** Responses owed on one connection before the acceptor stops reading more requests from it. */
const MAX_PIPELINE = 32;
/** How long a closing connection waits for the client's FIN before it is destroyed. */
const LINGER_MS = 2000;

export interface ConnectionHost {
  /** Hand a framed request to a worker (or the wait queue). */
  submit(ex: Exchange, req: FramedRequest): void;
  /** Make sure the written data of this turn is flushed (the host corks and uncorks sockets). */
  corked(conn: Connection): void;
  closed(conn: Connection): void;
  /** Coarse clock (ms), refreshed by the host's sweep timer. */
  readonly clock: number;
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
  lastActive: number;
  destroyed = false;
  private readonly framer: Framer;
  private readonly host: ConnectionHost;
  private queue: Exchange[] = [];
  private ending = false;
  /** A request said close, or the connection is ending: nothing after it is interpreted. */
  private noMore = false;
  private writeBlocked = false;
  isCorked = false;
  private readonly onData = (chunk: Buffer): void => {
    this.lastActive = this.host.clock;
    this.framer.push(chunk);
    // Upgrades (WebSocket) are not taken over yet: the request was answered as plain HTTP by
    // the app, so the bytes after it are framed as HTTP again.
    while (this.framer.paused) this.framer.resume();
  };

  constructor(id: number, socket: Socket, limits: FramerLimits, host: ConnectionHost) {
    this.id = id;
    this.socket = socket;
    this.host = host;
    this.lastActive = host.clock;
    this.framer = new Framer(limits, this);
    this.peer = peerPrefix(socket);
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
    if (!req.keepAlive) this.noMore = true;
    const ex = new Exchange(newExchangeId(), this);
    ex.keepAlive = req.keepAlive;
    ex.close = !req.keepAlive;
    this.queue.push(ex);
    this.host.submit(ex, req);
    if (this.queue.length >= MAX_PIPELINE) this.updateReading();
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
      if (data.length > 0) (ex.out ??= []).push(data);
      if (end) ex.done = true;
      return;
    }
    if (data.length > 0) this.write(data);
    if (end) {
      ex.done = true;
      this.advance();
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

  private advance(): void {
    const q = this.queue;
    while (q.length > 0 && q[0]!.done) {
      const ex = q.shift()!;
      if (ex.close) return this.end();
      const next = q[0];
      if (next !== undefined && next.out !== null) {
        for (const b of next.out) this.write(b);
        next.out = null;
      }
    }
    this.lastActive = this.host.clock;
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
    // Lingering close: keep reading (and discarding) briefly so that bytes the client already
    // sent do not turn our FIN into a reset that destroys the response in flight.
    this.socket.resume();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private updateReading(): void {
    if (this.destroyed) return;
    const stop = this.writeBlocked || this.queue.length >= MAX_PIPELINE;
    if (stop) {
      if (!this.socket.isPaused()) this.socket.pause();
    } else if (this.socket.isPaused()) {
      this.socket.resume();
    }
  }

  private onClose(): void {
    this.destroyed = true;
    this.host.closed(this);
  }
}

function peerPrefix(socket: Socket): Buffer {
  const addr = socket.remoteAddress ?? '';
  const b = Buffer.allocUnsafe(3 + addr.length);
  b.writeUInt16LE(socket.remotePort ?? 0, 0);
  b[2] = addr.length;
  b.write(addr, 3, 'latin1');
  return b;
}
