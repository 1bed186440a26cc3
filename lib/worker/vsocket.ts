// design: a VirtualSocket is the Duplex that a worker's unlistened `http.Server` sees as a client
// connection (`server.emit('connection', socket)` accepts any Duplex). The worker pushes the exact
// bytes of one framed request into it; node's own parser (llhttp) builds a real IncomingMessage and
// ServerResponse, so `(req, res)` apps (Express, Koa, Connect) run unchanged. Everything the
// ServerResponse writes is collected and handed to `onOutput`, which publishes it on the response
// ring. One VirtualSocket carries one request at a time; idle ones are reused (keep-alive), so the
// per-request cost is a push and a parse, not a new connection.
//
// Flow control (lib/ring/layout.ts, RESPONSE_WINDOW): bytes published in non-END frames count as
// `unacked` until the acceptor's T_CREDIT says they reached the client. A write that would take
// the response past the window keeps its callback until credit() frees room, so node's writable
// buffer fills, `res.write()` returns false and 'drain' comes later: the node way of backpressure.
// A write is also held once STREAM_FRAME bytes wait unpublished, until the runner's turn published
// them (release()): frames stay small enough to pipeline (the acceptor writes one while the worker
// fills the next) and to fit a transfer buffer (lib/ring/layout.ts, TRANSFER_PIECE).
// Nothing ever blocks the thread on it (a sync loop that ignores write()'s result buffers in the
// worker, as node:http would). Whatever node hands over at once (a burst of writes made while one
// was held comes in a single _writev, and one write may be a large Buffer) is taken into `out`
// only as far as the window and a frame's worth allow; the rest waits in `later`, in the worker,
// and moves on as release() finds room: the acceptor never holds more than about the window.
//
// Uploads (a streamed request body, lib/ring/layout.ts REQUEST_WINDOW): the body's T_DATA pieces
// are pushed in as they come. node's parser pauses this socket when `req`'s buffer is full (the app
// does not read); pieces pushed meanwhile wait in this socket's readable buffer. Only bytes that
// left it (its 'data' events: what the parser took) are acknowledged, so an app that does not read
// stops the client's upload at the acceptor's window, and the worker holds about that much.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import { RESPONSE_WINDOW, STREAM_FRAME } from '../ring/layout.js';

export interface VirtualSocketOwner {
  /** The socket holds unflushed response bytes again (called when its output goes from empty to non-empty). */
  pending(socket: VirtualSocket): void;
  /** The socket ended or was destroyed by node's http server or the app. */
  gone(socket: VirtualSocket): void;
  /** Upload bytes were taken by the parser (`taken` grew from 0): acknowledge them soon. */
  uploadTaken(socket: VirtualSocket): void;
}

/** 'data' listener of a socket carrying an upload (`this` is the socket): count what the parser took. */
function onUploadData(this: VirtualSocket, chunk: Buffer): void {
  this.taken += chunk.length;
  if (!this.ackQueued) {
    this.ackQueued = true;
    this.owner.uploadTaken(this);
  }
}

export class VirtualSocket extends Duplex {
  /** The request now carried (0 = none). */
  reqId = 0;
  connId = 0;
  /** Set when node's parser emitted the request of the current frame. */
  requests = 0;
  /** The acceptor closes the connection after the request now carried. */
  last = false;
  /** The response now being written on this socket. */
  res: ServerResponse | null = null;
  /** A socket for direct requests (no node parser on it; see Runner.direct). */
  light = false;
  /** The direct request now open on this socket, until its response finished (aborted if the socket closes first). */
  req: IncomingMessage | null = null;
  out: Buffer[] = [];
  outLen = 0;
  alive = true;
  /** Bytes of the current response published in non-END frames and not yet credited by the acceptor. */
  unacked = 0;
  /** The callback of a write deferred because the window is full or a frame's worth waits (called by release()). */
  private deferred: ((err?: Error | null) => void) | null = null;
  /** Bytes written that did not fit in `out` yet (window or frame full): moved there by release(). */
  private later: Buffer[] = [];
  /** node handed this socket to the app's upgrade listener: it carries a tunnel now, never another request. */
  upgraded = false;
  /** The response is tracked by the runner for T_CREDIT / T_CANCEL (it outlived its handler's synchronous run). */
  tracked = false;
  /** The peer of the frame now carried (undefined over a unix socket, as node's net.Socket says). */
  remoteAddress: string | undefined = '127.0.0.1';
  remotePort = 0;
  remoteFamily: string | undefined = 'IPv4';
  readonly localAddress = '127.0.0.1';
  localPort = 0;
  /** The client's connection is TLS (FL_TLS), or a trusted proxy says it was https: `req.protocol` is https. */
  encrypted = false;
  /** The frame came from a trusted proxy (FL_TRUSTED_PROXY): its X-Forwarded-* headers are applied. */
  proxied = false;
  /** The request id the acceptor sent in the sub-header of the frame now carried, until the request is built. */
  requestId: string | null = null;
  /** The request now carried has a streamed body (set before its frame is pushed); its 'data' is counted for T_ACK once startUpload() ran. */
  upload = false;
  /** Upload bytes the parser took and not yet acknowledged; `ackQueued`: the owner has this socket listed. */
  taken = 0;
  ackQueued = false;
  readonly owner: VirtualSocketOwner;

  constructor(owner: VirtualSocketOwner) {
    super({ allowHalfOpen: true, decodeStrings: true });
    this.owner = owner;
  }

  /** The request now carried streams its body: count the body bytes node's parser takes from here on. */
  startUpload(): void {
    this.upload = true;
    // Bytes of the request frame the parser has not taken yet (it is paused) are not the acceptor's to count.
    this.taken = -this.readableLength;
    this.on('data', onUploadData);
  }

  endUpload(): void {
    this.upload = false;
    this.taken = 0;
    this.off('data', onUploadData);
  }

  /**
   * The request whose response the runner published when its handler returned (0 = none): that
   * response's 'finish', a tick later, only recycles the socket.
   */
  settled = 0;

  /** Everything written so far is in `out`: nothing buffered in the stream, held or waiting in `later`. */
  get flushed(): boolean {
    return this.writableLength === 0 && this.deferred === null && this.later.length === 0;
  }

  /** Take the bytes written so far. */
  drainOutput(): Buffer[] {
    const out = this.out;
    this.out = [];
    this.outLen = 0;
    return out;
  }

  override _read(): void {
    // Bytes are pushed by the worker when a request frame arrives; nothing to pull.
  }

  // A write is held (its callback kept) while the window is full, or while a frame's worth
  // (STREAM_FRAME) waits unpublished: the runner's next turn publishes it and calls release().
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.accept(chunk);
    this.settle(cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    for (let i = 0; i < chunks.length; i++) this.accept(chunks[i]!.chunk);
    this.settle(cb);
  }

  /** The acceptor wrote `n` more bytes of this response to its client (T_CREDIT). */
  credit(n: number): void {
    this.unacked -= n;
    if (this.unacked < 0) this.unacked = 0;
    this.release();
  }

  /**
   * After credit or a publish: move what waits in `later` into `out` as far as there is room now,
   * then call a held write's callback once nothing waits and the window and the unpublished bytes allow it.
   */
  release(): void {
    const later = this.later;
    while (later.length > 0) {
      const room = this.room();
      if (room <= 0) break;
      const chunk = later[0]!;
      if (chunk.length <= room) {
        later.shift();
        this.append(chunk);
      } else {
        this.append(chunk.subarray(0, room));
        later[0] = chunk.subarray(room);
      }
    }
    const cb = this.deferred;
    if (cb !== null && later.length === 0 && this.outLen < STREAM_FRAME && this.unacked + this.outLen <= RESPONSE_WINDOW) {
      this.deferred = null;
      cb();
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.die();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.die();
    cb(err);
  }

  // The acceptor enforces every timeout on the real connection; node's http server only asks.
  setTimeout(_ms: number, _cb?: () => void): this {
    return this;
  }
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }
  setKeepAlive(_enable?: boolean, _delay?: number): this {
    return this;
  }
  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress, family: 'IPv4', port: this.localPort };
  }

  /** Bytes `out` may take now: up to a frame's worth unpublished, and within the window. */
  private room(): number {
    return Math.min(STREAM_FRAME - this.outLen, RESPONSE_WINDOW - this.unacked - this.outLen);
  }

  /** Take a written chunk into `out` as far as there is room, the rest into `later` (after what waits there). */
  private accept(chunk: Buffer): void {
    if (this.later.length > 0) {
      this.later.push(chunk);
      return;
    }
    const room = this.room();
    if (chunk.length <= room) return this.append(chunk);
    if (room > 0) this.append(chunk.subarray(0, room));
    this.later.push(room > 0 ? chunk.subarray(room) : chunk);
  }

  /** Call a write's callback now, or hold it until release() finds room for everything written. */
  private settle(cb: (err?: Error | null) => void): void {
    if (this.later.length > 0 || this.outLen >= STREAM_FRAME || this.unacked + this.outLen > RESPONSE_WINDOW) this.deferred = cb;
    else cb();
  }

  private append(chunk: Buffer): void {
    if (this.outLen === 0) this.owner.pending(this);
    this.out.push(chunk);
    this.outLen += chunk.length;
  }

  private die(): void {
    if (!this.alive) return;
    this.alive = false;
    this.deferred = null;
    this.later = [];
    this.owner.gone(this);
  }
}
