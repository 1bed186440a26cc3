// design: the worker's request runner. Each T_REQUEST frame is pushed into an idle VirtualSocket
// of an unlistened http.Server; node's parser calls the app's listener synchronously inside that
// push, so a synchronous handler runs (and may block) right there, inside the ring read loop. The
// response bytes are published on the response ring at 'finish' in one frame (streamed responses:
// one frame per turn, see VirtualSocket). The worker's parse must agree with the acceptor's
// framing: exactly one complete request per frame, or the request gets a 400 and the connection
// closes.
//
// Streams: a response that outlives its handler's synchronous run (it was not ended when the
// handler returned) or that publishes a non-END frame is tracked by request id, so the acceptor's
// T_CREDIT (flow control, see VirtualSocket) and T_CANCEL (the client went away: the socket is
// destroyed, so `req`/`res` emit 'close') reach it. A response ended inside the handler, the
// common case, is never tracked: one `writableEnded` read per request.
//
// Upgrades: with an app `upgrade` export, node's parser emits 'upgrade' for an Upgrade request and
// hands the VirtualSocket over (as node:http does with a real socket); the app (a `ws` server's
// handleUpgrade) writes its 101 and frames on it. The socket then carries tunnel bytes both ways
// (T_DATA in, streamed T_RESPONSE frames out) until it ends.
//
// Uploads: a frame flagged FL_BODY_STREAM holds the head and the start of the body
// only. Once the push emitted the request, the runner tracks it and answers T_ACK 0 ("read"); the
// acceptor then sends the rest as T_DATA, pushed in on the next turn (as tunnel bytes are), and
// acknowledged as node's parser takes them (VirtualSocket). `req` is an ordinary readable that
// ends when the body does; the Fetch adapter streams `request.body` from it. A response that
// finishes before its body was all read leaves that socket's parser mid-body: the socket is
// dropped, not reused (the acceptor discards the rest of the body).
import { channel } from 'node:diagnostics_channel';
import http, { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Throttle, type Logger } from '../log.js';
import { RequestContext, requestContext } from '../request-context.js';
import { FL_ABORT, FL_CLOSE, FL_END, FL_ENDED, FL_BODY_STREAM, FL_LAST, FL_TLS, FL_TRUSTED_PROXY, T_ACK, T_CANCEL, T_CREDIT, T_DATA, T_REQUEST, T_RESPONSE, T_RETURN } from '../ring/layout.js';
import { ring, type Doorbell, type RingWriter } from '../ring/ring.js';
import type { WorkerControl } from '../ring/control.js';
import type { Listener, UpgradeListener } from './app.js';
import { applyForwarded } from './forwarded.js';
import { readHead, type Head } from './head.js';
import { VirtualSocket, type VirtualSocketOwner } from './vsocket.js';

export interface RunnerOptions {
  listener: Listener;
  /** The app's upgrade listener (WebSocket), or null: upgrade requests are then ordinary requests. */
  upgrade: UpgradeListener | null;
  writer: RingWriter;
  acceptorBell: Doorbell;
  control: WorkerControl;
  log: Logger;
  maxHeaderSize: number;
  keepAliveMs: number;
  /** Add `Server: greenserve` to responses that do not set their own (--server-header). */
  serverHeader: boolean;
  /** Lower-case header name under which the app sees a request id the acceptor sent. */
  requestIdHeader: string;
}

const BAD_REQUEST = Buffer.from('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\nBad Request\n', 'latin1');
const HEADERS_TOO_LARGE = Buffer.from('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 32\r\nContent-Type: text/plain\r\n\r\nRequest Header Fields Too Large\n', 'latin1');

/**
 * Calls the app. Hot-path trick: this call site is made megamorphic at load time (two different
 * targets, below), so V8 never inlines the app's handler into the runner. Measured: with the app
 * inlined into `request()`, a 1 ms CPU loop in a handler ran 3x slower (3.2 ms) in optimized code
 * (with --threads 2 under load); node:http avoids this because EventEmitter.emit's call site is
 * already megamorphic. Costs a few ns per request.
 */
function callApp(fn: Listener, req: IncomingMessage, res: ServerResponse): unknown {
  return fn(req, res);
}
{
  // V8 allocates a function's feedback vector only after several calls, so alternate the two
  // targets long enough for the feedback to exist and to record both.
  const targets = [function warmA(): void {}, function warmB(): void {}];
  for (let i = 0; i < 64; i++) callApp(targets[i & 1]!, null as unknown as IncomingMessage, null as unknown as ServerResponse);
}

function expectationFailed(_req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(417, { 'content-type': 'text/plain', 'content-length': 19 });
  res.end('Expectation Failed\n');
}

/** Put `id` in the request's header `name`: in req.headers and rawHeaders (what fetch-style apps read). */
function setRequestId(req: IncomingMessage, name: string, id: string): void {
  req.headers[name] = id;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === name) {
      raw[i + 1] = id;
      return;
    }
  }
  raw.push(name, id);
}

/** The connection closes after this response: it said so, or the frame held more than one request. */
function lastOn(socket: VirtualSocket, res: ServerResponse): boolean {
  return (res as unknown as { _last?: boolean })._last === true || socket.requests > 1;
}

/** node's diagnostics channels for server requests, published for direct requests as node:http does. */
const requestStart = channel('http.server.request.start');
const responseFinish = channel('http.server.response.finish');

/** node internals a direct request sets, as node's parser and server do. */
interface ReqInternals {
  _addHeaderLines(raw: string[], n: number): void;
  _dumped: boolean;
}
interface ResInternals {
  _keepAliveTimeout: number;
}

/** ServerResponse with the options node's server passes (its type declares only `req`). */
const Response = ServerResponse as unknown as new (req: IncomingMessage, options: object) => ServerResponse;

function noop(): void {}

/** node's `emitCloseNT` for a finished response. */
function emitClose(res: ServerResponse): void {
  const r = res as unknown as { _closed: boolean; destroyed: boolean };
  if (r._closed) return;
  r.destroyed = true;
  r._closed = true;
  res.emit('close');
}

/**
 * node's flag for a response whose write() returned false. Its server forwards the socket's
 * 'drain' to such a response (`socketOnDrain`); a direct request's socket does the same. Found by
 * name on a response; where a node version lacks it, every request goes through node's parser.
 */
const kNeedDrain = Object.getOwnPropertySymbols(new ServerResponse(new IncomingMessage(null as unknown as Socket))).find((k) => k.description === 'kNeedDrain');

/** Newer node versions (`req.signal`): a finished request's signal is detached from its socket. */
const kDetachAbortSignal = Object.getOwnPropertySymbols(IncomingMessage.prototype).find((k) => k.description === 'kDetachAbortSignal');

function drainToResponse(this: VirtualSocket): void {
  const msg = (this as unknown as { _httpMessage: (ServerResponse & Record<symbol, boolean>) | null })._httpMessage;
  if (msg && !msg.finished && msg[kNeedDrain!]) {
    msg[kNeedDrain!] = false;
    msg.emit('drain');
  }
}

/** A direct request's socket closed before its response finished: node's `abortIncoming`. */
function abortOnClose(this: VirtualSocket): void {
  const req = this.req;
  if (req === null) return;
  this.req = null;
  const err = new Error('aborted') as NodeJS.ErrnoException;
  err.code = 'ECONNRESET';
  req.destroy(err);
}

/** Heartbeat period while responses outlive their handlers (well under any useful --timeout). */
const STREAM_BEAT_MS = 100;

interface Carried {
  socket: VirtualSocket;
  req: IncomingMessage | null;
}

export class Runner implements VirtualSocketOwner {
  inflight = 0;
  /** Called when the last request in flight completes outside the read loop. */
  onIdle: () => void = () => {};
  private readonly server: http.Server;
  private readonly idle: VirtualSocket[] = [];
  /** Responses that outlived their handler's synchronous run or stream: by request id. */
  private readonly live = new Map<number, VirtualSocket>();
  private beat: NodeJS.Timeout | null = null;
  private readonly onBeat = (): void => this.o.control.beat();
  private partials: VirtualSocket[] = [];
  private unverified: Carried[] = [];
  private turnScheduled = false;
  private readonly o: RunnerOptions;
  /** The parser's refusals (an unknown method...): a client sends them at will, so at most one line a minute. */
  private readonly refusals = new Throttle();
  private readonly onTurn = (): void => this.turn();

  constructor(o: RunnerOptions) {
    this.o = o;
    const server = http.createServer({ maxHeaderSize: o.maxHeaderSize, insecureHTTPParser: false });
    server.keepAliveTimeout = o.keepAliveMs; // only for the Keep-Alive header: the acceptor enforces it
    server.requestTimeout = 0;
    server.headersTimeout = 0;
    server.timeout = 0;
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => this.request(req, res);
    server.on('request', onRequest);
    // The acceptor already answered (or waived) 100-continue: the body is here, run the app.
    // node would otherwise close the connection after a response it sent no 100 for.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      (res as unknown as { _expect_continue: boolean })._expect_continue = false;
      this.request(req, res);
    });
    // An expectation other than 100-continue cannot be met: 417, as node:http answers (RFC 9110 §10.1.1).
    server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => this.request(req, res, expectationFailed));
    if (o.upgrade !== null) {
      const up = o.upgrade;
      server.on('upgrade', (req: IncomingMessage, socket: VirtualSocket, head: Buffer) => this.upgrade(up, req, socket, head));
    }
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => this.clientError(err, socket as unknown as VirtualSocket));
    this.server = server;
  }

  /** True while the runner has deferred work for the next turn (never block the thread then). */
  get busy(): boolean {
    return this.turnScheduled;
  }

  /** Ring frame entry point. */
  frame(type: number, flags: number, connId: number, reqId: number, payload: Buffer): void {
    if (type !== T_REQUEST) return this.streamControl(type, reqId, payload);
    // The sub-header (ring layout, T_REQUEST): port, address, request id; then the request's bytes.
    const at = 3 + payload[2]!;
    const idLength = payload[at]!;
    const requestId = idLength === 0 ? null : payload.toString('latin1', at + 1, at + 1 + idLength);
    const off = at + 1 + idLength;
    const end = payload.length;
    const upload = (flags & FL_BODY_STREAM) !== 0;
    const head = upload || kNeedDrain === undefined ? null : readHead(payload, off, end, this.o.maxHeaderSize);
    const socket = head !== null ? (this.lightIdle.pop() ?? this.newLightSocket()) : (this.idle.pop() ?? this.newSocket());
    socket.reqId = reqId;
    socket.connId = connId;
    socket.requests = 0;
    socket.unacked = 0;
    this.peer(socket, payload, at);
    socket.encrypted = (flags & FL_TLS) !== 0;
    socket.proxied = (flags & FL_TRUSTED_PROXY) !== 0;
    socket.last = (flags & FL_LAST) !== 0;
    socket.requestId = requestId;
    this.inflight++;
    this.o.control.setInflight(this.inflight);
    const carried: Carried = { socket, req: null };
    this.current = carried;
    if (head !== null) {
      this.direct(socket, head, payload, end);
      this.current = null;
      this.afterRun();
      return;
    }
    // Set before the push, so that the app (the Fetch adapter) can tell a streamed body.
    socket.upload = upload;
    socket.push(payload.subarray(off, end));
    this.current = null;
    this.afterRun();
    if (socket.upload && carried.req !== null) return this.uploadStarts(socket, reqId);
    // The push parses synchronously (the socket is flowing); a request that is not complete now
    // means node's parser wants bytes the acceptor did not frame. Checked again next turn to be
    // robust to a stream that delivered asynchronously.
    if (socket.reqId === reqId && !socket.upgraded && (carried.req === null || !carried.req.complete)) {
      this.unverified.push(carried);
      this.scheduleTurn();
    }
  }

  /**
   * Direct requests: build `req` and `res` from the head the worker read (head.ts), as node's
   * parser and http server would (`parserOnHeadersComplete`, `parserOnIncoming`, `resOnFinish` in
   * node's lib/_http_common.js and lib/_http_server.js), run the app, then hand `req` its body and
   * its end, in the order node's parser does: the handler's synchronous run sees an incomplete
   * `req`, exactly as under node:http.
   */
  private direct(socket: VirtualSocket, head: Head, payload: Buffer, end: number): void {
    const req = new IncomingMessage(socket as unknown as Socket);
    req.httpVersionMajor = 1;
    req.httpVersionMinor = head.minor;
    req.httpVersion = head.minor === 1 ? '1.1' : '1.0';
    req.url = head.url;
    (req as unknown as { upgrade: boolean }).upgrade = false;
    (req as unknown as ReqInternals)._addHeaderLines(head.raw, head.raw.length);
    req.method = head.method;
    const server = this.server;
    const res = new Response(req, {
      highWaterMark: socket.writableHighWaterMark,
      rejectNonStandardBodyWrites: (server as unknown as { rejectNonStandardBodyWrites?: boolean }).rejectNonStandardBodyWrites,
    });
    (res as unknown as ResInternals)._keepAliveTimeout = server.keepAliveTimeout;
    res.shouldKeepAlive = head.keepAlive;
    if (requestStart.hasSubscribers) requestStart.publish({ request: req, response: res, socket, server });
    res.assignSocket(socket as unknown as Socket);
    socket.req = req;
    res.on('finish', () => this.directFinished(req, res, socket));
    this.request(req, res);
    // What node's parser does after the head: the body (unless the request was dumped), then the end.
    if (head.bodyStart < end && !(req as unknown as ReqInternals)._dumped) req.push(payload.subarray(head.bodyStart, end));
    req.complete = true;
    req.push(null);
  }

  /** node's `resOnFinish` for a direct request: the socket is free for the next one. */
  private directFinished(req: IncomingMessage, res: ServerResponse, socket: VirtualSocket): void {
    if (responseFinish.hasSubscribers) responseFinish.publish({ request: req, response: res, socket, server: this.server });
    socket.req = null;
    if (kDetachAbortSignal !== undefined) (req as unknown as Record<symbol, () => void>)[kDetachAbortSignal]!();
    const r = req as unknown as { _consuming: boolean; _readableState: { resumeScheduled: boolean }; _dump(): void };
    if (!r._consuming && !r._readableState.resumeScheduled) r._dump();
    res.detachSocket(socket as unknown as Socket);
    process.nextTick(emitClose, res);
  }

  /** Sockets for direct requests: no parser, no http server listeners (see direct()). */
  private readonly lightIdle: VirtualSocket[] = [];

  private newLightSocket(): VirtualSocket {
    const socket = new VirtualSocket(this);
    socket.light = true;
    (socket as unknown as { server: http.Server }).server = this.server;
    // node's server socket: an error is the connection's end (gone() aborts the request), and a
    // close while a request is open aborts it ('aborted', then 'close' on req and res).
    socket.on('error', noop);
    socket.on('close', abortOnClose);
    socket.on('drain', drainToResponse);
    return socket;
  }

  /** The handler's synchronous run is over: a turn only if a response still has bytes to publish. */
  private afterRun(): void {
    const p = this.partials;
    while (p.length > 0 && p[p.length - 1]!.outLen === 0) p.pop();
    if (p.length > 0) this.scheduleTurn();
  }

  private current: Carried | null = null;

  /** The head of an upload was parsed: let its body come (T_ACK 0 once: "read"). */
  private uploadStarts(socket: VirtualSocket, reqId: number): void {
    if (socket.reqId !== reqId) return; // answered within the push: the acceptor drops the rest
    socket.startUpload();
    if (!socket.tracked) this.track(socket);
    this.ack(socket.connId, reqId, 0);
  }

  private ack(connId: number, reqId: number, n: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(n, 0);
    this.write(T_ACK, 0, connId, reqId, [b], 4);
  }

  /** Upload sockets whose parser took bytes since the last turn. */
  private acks: VirtualSocket[] = [];

  uploadTaken(socket: VirtualSocket): void {
    this.acks.push(socket);
    this.scheduleTurn();
  }

  private flushAcks(): void {
    const list = this.acks;
    this.acks = [];
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      s.ackQueued = false;
      if (s.upload && s.taken > 0 && s.reqId !== 0) this.ack(s.connId, s.reqId, s.taken);
      s.taken = 0;
    }
  }

  /** A T_CREDIT, T_CANCEL or T_DATA from the acceptor (also read while the thread is about to park). */
  streamControl(type: number, reqId: number, payload: Buffer): void {
    const socket = this.live.get(reqId);
    if (socket === undefined) return; // stale: the response is complete
    if (type === T_CREDIT) socket.credit(payload.readUInt32LE(0));
    else if (type === T_CANCEL) {
      // On the next turn, as tunnel bytes are: never inside a handler parked in a shim, and a
      // response its handler is completing in this turn (microtasks, ticks) still goes out.
      setImmediate(() => {
        if (socket.reqId === reqId) socket.destroy();
      });
    } else if (type === T_DATA) {
      // Pushed on the next turn, never here: this may run while a handler is parked in a shim,
      // and the app's data listeners must not run inside it.
      this.tunnelIn.push(socket, payload);
      this.scheduleTurn();
    }
  }

  /** Tunnel bytes waiting for the next turn (pairs: socket, payload). */
  private tunnelIn: Array<VirtualSocket | Buffer> = [];

  private upgrade(up: UpgradeListener, req: IncomingMessage, socket: VirtualSocket, head: Buffer): void {
    const carried = this.current;
    if (carried !== null && carried.socket === socket) carried.req = req;
    socket.upgraded = true;
    this.track(socket);
    const control = this.o.control;
    control.enter(socket.reqId);
    try {
      const r = up(req, socket, head) as Promise<unknown> | undefined;
      if (r !== undefined && r !== null && typeof r.then === 'function') r.then(undefined, (err: unknown) => this.upgradeFailed(req, socket, err));
    } catch (err) {
      this.upgradeFailed(req, socket, err);
    } finally {
      control.leave();
    }
  }

  private upgradeFailed(req: IncomingMessage, socket: VirtualSocket, err: unknown): void {
    this.o.log.error({ err, method: req.method, url: req.url }, 'upgrade handler threw');
    socket.destroy();
  }

  /** Push the tunnel bytes that arrived, and acknowledge them so the acceptor reads on. */
  private pushTunnel(): void {
    const list = this.tunnelIn;
    this.tunnelIn = [];
    for (let i = 0; i < list.length; i += 2) this.pushOne(list[i] as VirtualSocket, list[i + 1] as Buffer);
  }

  private pushOne(socket: VirtualSocket, data: Buffer): void {
    if (!socket.alive || socket.reqId === 0) return;
    if (socket.upload) {
      socket.push(data); // acknowledged as the parser takes it (VirtualSocket)
      return;
    }
    if (data.length === 0) {
      socket.push(null); // the client half-closed
      return;
    }
    const reqId = socket.reqId;
    socket.push(data);
    this.ack(socket.connId, reqId, data.length);
  }

  private track(socket: VirtualSocket): void {
    socket.tracked = true;
    this.live.set(socket.reqId, socket);
    // While only streams and awaiting handlers are in flight, this thread may sit in
    // Atomics.waitAsync for long: beat from a timer, so the supervisor sees its event loop turn
    // (the request deadline covers only a handler's synchronous run, not a stream's lifetime).
    if (this.beat === null) this.beat = setInterval(this.onBeat, STREAM_BEAT_MS);
  }

  private untrack(socket: VirtualSocket): void {
    socket.tracked = false;
    this.live.delete(socket.reqId);
    if (this.live.size === 0 && this.beat !== null) {
      clearInterval(this.beat);
      this.beat = null;
    }
  }

  pending(socket: VirtualSocket): void {
    this.partials.push(socket);
    // Inside a frame's run, afterRun() decides: most responses are published when the handler returns.
    if (this.current === null) this.scheduleTurn();
  }

  gone(socket: VirtualSocket): void {
    const list = socket.light ? this.lightIdle : this.idle;
    const i = list.indexOf(socket);
    if (i >= 0) list.splice(i, 1);
    if (socket.reqId === 0) return;
    // node ends the socket from its own 'finish' listener when the response said close; that
    // runs before ours, so a finished response is a normal end here, anything else an abort.
    const finished = socket.res !== null && socket.res.writableFinished;
    this.complete(socket, finished ? FL_END | FL_CLOSE : FL_END | FL_CLOSE | FL_ABORT);
  }

  private newSocket(): VirtualSocket {
    const socket = new VirtualSocket(this);
    this.server.emit('connection', socket);
    // Start the flow now so every later push() is parsed synchronously.
    socket.read(0);
    return socket;
  }

  /** Read the peer part of the sub-header (u16 port, u8 address length, address), which ends at `off`. */
  private peer(socket: VirtualSocket, payload: Buffer, off: number): void {
    if (off > 3) {
      socket.remoteAddress = payload.toString('latin1', 3, off);
      socket.remoteFamily = socket.remoteAddress.includes(':') ? 'IPv6' : 'IPv4';
    } else {
      // A unix socket: no address (sockets are reused, so a stale one must not show through).
      socket.remoteAddress = undefined;
      socket.remoteFamily = undefined;
    }
    socket.remotePort = payload.readUInt16LE(0);
  }

  private request(req: IncomingMessage, res: ServerResponse, listener: Listener = this.o.listener): void {
    const socket = req.socket as unknown as VirtualSocket;
    socket.requests++;
    const carried = this.current;
    if (carried === null || carried.socket !== socket || socket.requests > 1) {
      // A second request inside one frame: the acceptor and node disagree on where it ended.
      this.o.log.warn({ reqId: socket.reqId }, 'worker parse disagrees with acceptor framing (extra request)');
      socket.requests = 2;
      res.destroy();
      return;
    }
    carried.req = req;
    socket.res = res;
    const reqId = socket.reqId;
    res.once('finish', () => this.finished(socket, res, reqId));
    // Both only when enabled / flagged: a field test each per request otherwise (cheaper than a
    // swapped-in no-op call). setHeader before the app runs lets the app's own Server replace it.
    if (socket.proxied) applyForwarded(socket, req.rawHeaders);
    if (this.o.serverHeader) res.setHeader('Server', 'greenserve');
    if (socket.requestId !== null) {
      // The id the access log shows for this request: the client's own, or one the acceptor made
      // (the client sent none, or one it would not log). The app sees the same one.
      const name = this.o.requestIdHeader;
      if (req.headers[name] !== socket.requestId) setRequestId(req, name, socket.requestId);
      socket.requestId = null;
    }
    // The acceptor closes after this response (--max-requests-per-connection, --keep-alive 0).
    if (socket.last) res.shouldKeepAlive = false;
    const control = this.o.control;
    // The request's log context, only once something in this thread logs for the app
    // (request-context.ts): a field test per request otherwise.
    const als = requestContext.als;
    const ctx = als === null ? null : new RequestContext(req.headers, this.o.requestIdHeader);
    control.enter(reqId);
    try {
      const r = (ctx === null ? callApp(listener, req, res) : als!.run(ctx, callApp, listener, req, res)) as Promise<unknown> | undefined;
      if (r !== undefined && r !== null && typeof r.then === 'function') {
        r.then(undefined, (err: unknown) => this.fail(req, res, err, ctx));
      }
    } catch (err) {
      this.fail(req, res, err, ctx);
    } finally {
      control.leave();
    }
    if (socket.reqId !== reqId) return;
    // The handler's synchronous run is over (the request deadline covered only that). A response
    // it ended is published now rather than at 'finish' (node emits that a tick later): it leaves
    // before the next frame's handler runs, so a later handler that blocks, times out or kills
    // the thread can neither hold it back nor lose it. A response still open streams or waits on
    // async work: let credits and a cancel find it.
    if (res.writableEnded) this.endedInHandler(socket, res, reqId);
    else if (!socket.tracked) this.track(socket);
  }

  /** The handler ended its response synchronously: complete it now if all its bytes are here. */
  private endedInHandler(socket: VirtualSocket, res: ServerResponse, reqId: number): void {
    // An upload's parser may be mid-body, a tunnel or a stream has its own end: 'finish' decides.
    if (socket.upload || socket.upgraded || socket.tracked || !socket.flushed) return;
    socket.settled = reqId;
    this.complete(socket, lastOn(socket, res) ? FL_END | FL_CLOSE : FL_END);
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown, ctx: RequestContext | null): void {
    const requestId = ctx !== null ? ctx.requestId : req.headers[this.o.requestIdHeader];
    this.o.log.error({ err, method: req.method, url: req.url, requestId }, 'handler threw');
    if (res.headersSent || res.writableEnded) {
      res.destroy();
      return;
    }
    const body = 'Internal Server Error\n';
    res.writeHead(500, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  private finished(socket: VirtualSocket, res: ServerResponse, reqId: number): void {
    if (socket.settled === reqId) {
      // Published when its handler returned (endedInHandler): only the socket is left to recycle.
      socket.settled = 0;
      if (lastOn(socket, res)) socket.destroy();
      else if (socket.alive) (socket.light ? this.lightIdle : this.idle).push(socket);
      return;
    }
    if (socket.reqId !== reqId) return;
    const last = lastOn(socket, res);
    // An upload answered before its body was all in: this socket's parser is mid-body, never reuse it.
    const midBody = socket.upload && !(res as unknown as { req: IncomingMessage }).req.complete;
    this.complete(socket, last ? FL_END | FL_CLOSE : FL_END);
    if (last || midBody) socket.destroy();
    else if (socket.alive) (socket.light ? this.lightIdle : this.idle).push(socket);
  }

  private clientError(err: NodeJS.ErrnoException, socket: VirtualSocket): void {
    if (socket.reqId !== 0) {
      const suppressed = this.refusals.take(performance.now());
      if (suppressed !== null) {
        this.o.log.warn({ code: err.code, reqId: socket.reqId, suppressed }, `worker parser rejected a framed request (${err.code}); ` +
          `at most one such line a minute${suppressed > 0 ? ` (${suppressed} more since the last one)` : ''}`);
      }
      socket.drainOutput();
      socket.out.push(err.code === 'HPE_HEADER_OVERFLOW' ? HEADERS_TOO_LARGE : BAD_REQUEST);
      socket.outLen = socket.out[0]!.length;
      this.complete(socket, FL_END | FL_CLOSE);
    }
    socket.destroy();
  }

  /** Publish what the socket holds as the end of its response, and release the request. */
  private complete(socket: VirtualSocket, flags: number): void {
    this.publish(socket, flags);
    if (socket.tracked) this.untrack(socket);
    if (socket.upload) socket.endUpload();
    socket.reqId = 0;
    socket.res = null;
    this.inflight--;
    this.o.control.setInflight(this.inflight);
    this.o.control.served();
    if (this.inflight === 0) this.onIdle();
  }

  /** Hand an unread request back to the acceptor (the thread is about to park). */
  giveBack(connId: number, reqId: number): void {
    this.write(T_RETURN, 0, connId, reqId, [], 0);
  }

  private publish(socket: VirtualSocket, flags: number): void {
    const len = socket.outLen;
    if ((flags & FL_END) !== 0) {
      this.write(T_RESPONSE, flags, socket.connId, socket.reqId, socket.drainOutput(), len);
      return;
    }
    // A piece of a streamed response: it counts against the window until credited. A write held
    // because a frame's worth was waiting may go on now (if the window allows).
    socket.unacked += len;
    if (!socket.tracked) this.track(socket);
    // Ended by its handler: what is left only waits for the client (it frees its slot).
    if (socket.res !== null && socket.res.writableEnded) flags |= FL_ENDED;
    this.write(T_RESPONSE, flags, socket.connId, socket.reqId, socket.drainOutput(), len);
    socket.release();
  }

  private write(type: number, flags: number, connId: number, reqId: number, chunks: Buffer[], len: number): void {
    const w = this.o.writer;
    while (!w.write(type, flags, connId, reqId, chunks, len)) {
      // The acceptor drains the response ring from its loop; make sure it is awake, then wait.
      ring(this.o.acceptorBell);
      w.waitForSpace(10);
    }
    ring(this.o.acceptorBell);
  }

  private scheduleTurn(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(this.onTurn);
  }

  /** Once per event-loop turn: flush streamed output, verify frames that did not parse whole. */
  private turn(): void {
    this.turnScheduled = false;
    if (this.tunnelIn.length > 0) this.pushTunnel();
    if (this.acks.length > 0) this.flushAcks();
    const partials = this.partials;
    this.partials = [];
    for (let i = 0; i < partials.length; i++) {
      const s = partials[i]!;
      if (s.outLen > 0 && s.reqId !== 0) this.publish(s, 0);
    }
    const unverified = this.unverified;
    this.unverified = [];
    for (let i = 0; i < unverified.length; i++) this.verify(unverified[i]!);
    if (this.inflight === 0 && !this.turnScheduled) this.onIdle();
  }

  private verify(c: Carried): void {
    if (c.req !== null && c.req.complete) return;
    const socket = c.socket;
    if (socket.reqId === 0) return;
    this.o.log.warn({ reqId: socket.reqId }, 'worker parse disagrees with acceptor framing (incomplete request)');
    socket.drainOutput();
    socket.out.push(BAD_REQUEST);
    socket.outLen = BAD_REQUEST.length;
    this.complete(socket, FL_END | FL_CLOSE);
    socket.destroy();
  }
}
