// design: a VirtualSocket is the Duplex that a worker's unlistened `http.Server` sees as a client
// connection (`server.emit('connection', socket)` accepts any Duplex). The worker pushes the exact
// bytes of one framed request into it; node's own parser (llhttp) builds a real IncomingMessage and
// ServerResponse, so `(req, res)` apps (Express, Koa, Connect) run unchanged. Everything the
// ServerResponse writes is collected and handed to `onOutput`, which publishes it on the response
// ring. One VirtualSocket carries one request at a time; idle ones are reused (keep-alive), so the
// per-request cost is a push and a parse, not a new connection.
import type { ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';

export interface VirtualSocketOwner {
  /** The socket holds unflushed response bytes again (called when its output goes from empty to non-empty). */
  pending(socket: VirtualSocket): void;
  /** The socket ended or was destroyed by node's http server or the app. */
  gone(socket: VirtualSocket): void;
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
  out: Buffer[] = [];
  outLen = 0;
  alive = true;
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
  /** The request id the acceptor sent with the frame now carried (FL_REQUEST_ID), until the request is built. */
  requestId: string | null = null;
  private readonly owner: VirtualSocketOwner;

  constructor(owner: VirtualSocketOwner) {
    super({ allowHalfOpen: true, decodeStrings: true });
    this.owner = owner;
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

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.append(chunk);
    cb();
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    for (let i = 0; i < chunks.length; i++) this.append(chunks[i]!.chunk);
    cb();
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

  private append(chunk: Buffer): void {
    if (this.outLen === 0) this.owner.pending(this);
    this.out.push(chunk);
    this.outLen += chunk.length;
  }

  private die(): void {
    if (!this.alive) return;
    this.alive = false;
    this.owner.gone(this);
  }
}
