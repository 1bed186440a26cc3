// design: what the acceptor records about each request for the access log and the metrics.
// Off by default and then free: the server opens plain Connections and keeps its plain submit.
// Only with --access-log or --metrics-bind does it open ObservedConnections (whose deliver sees
// every response's bytes: the first frame starts with the status line, the last carries END) and
// wrap its submit with Observer.begin (start time, method, target, request id). Every response,
// from a worker or from the acceptor itself (framer 4xx, 503, 408, health), passes through
// Connection.deliver, so each request that gets an answer is counted and logged exactly once.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { Connection, type ConnectionHost, type ConnectionOptions, type Exchange } from './connection.js';
import type { FramedRequest } from './framer.js';
import { RequestRecord } from './request-record.js';

/** Receives finished requests; implemented by Metrics and AccessLog. */
export interface RequestSink {
  /** a response started with `status` (counted once per request) */
  status?(status: number): void;
  /** the response ended (END seen) `ms` after the request was framed */
  end(rec: RequestRecord, ms: number, conn: ObservedConnection, slot: number): void;
}

/** A request id as the request frame's sub-header carries it: one length byte, then the id's bytes (ring layout, T_REQUEST). */
export function requestIdPart(id: string): Buffer {
  const b = Buffer.allocUnsafe(id.length + 1);
  b[0] = id.length;
  b.write(id, 1, 'latin1');
  return b;
}

/** A client-sent id is kept when it is 1..128 visible ASCII characters other than `"` and `\`. */
const GOOD_ID = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

export interface ObserverOptions {
  sinks: RequestSink[];
  /** lower-case header name carrying request ids, or null when ids are off */
  requestIdHeader: string | null;
  /** also read Referer and User-Agent (the combined log format) */
  wantAgent: boolean;
}

export class Observer {
  private readonly sinks: RequestSink[];
  private readonly idName: Buffer | null;
  private readonly wantAgent: boolean;

  constructor(o: ObserverOptions) {
    this.sinks = o.sinks;
    this.idName = o.requestIdHeader === null ? null : Buffer.from(o.requestIdHeader.toLowerCase(), 'latin1');
    this.wantAgent = o.wantAgent;
  }

  /** Whether requests carry an id to the worker (in the frame's sub-header). */
  get requestIds(): boolean {
    return this.idName !== null;
  }

  /** A framed request is about to be submitted: start its record (and give the frame its id). */
  begin(ex: Exchange, req: FramedRequest): void {
    const rec = new RequestRecord(performance.now());
    rec.method = req.method;
    rec.target = req.target;
    rec.http10 = req.http10;
    const head = req.parts[0]!;
    if (this.idName !== null) {
      const sent = headerValue(head, req.headEnd, this.idName);
      const id = sent !== null && GOOD_ID.test(sent) ? sent : randomUUID();
      rec.requestId = id;
      ex.idPart = requestIdPart(id);
    }
    if (this.wantAgent) {
      rec.referer = headerValue(head, req.headEnd, REFERER) ?? '';
      rec.userAgent = headerValue(head, req.headEnd, USER_AGENT) ?? '';
    }
    ex.rec = rec;
  }

  status(status: number): void {
    const sinks = this.sinks;
    for (let i = 0; i < sinks.length; i++) sinks[i]!.status?.(status);
  }

  end(ex: Exchange, rec: RequestRecord, conn: ObservedConnection): void {
    const ms = performance.now() - rec.start;
    const sinks = this.sinks;
    for (let i = 0; i < sinks.length; i++) sinks[i]!.end(rec, ms, conn, ex.slot);
  }
}

const REFERER = Buffer.from('referer', 'latin1');
const USER_AGENT = Buffer.from('user-agent', 'latin1');

/**
 * The value of the first header field named `name` (lower-case) in the head, or null.
 * The framer has checked the head's syntax; this only scans field lines.
 */
export function headerValue(head: Buffer, headEnd: number, name: Buffer): string | null {
  const n = name.length;
  let i = head.indexOf(10) + 1; // past the request line
  while (i > 0 && i + n < headEnd) {
    let k = 0;
    while (k < n && (head[i + k]! | 0x20) === name[k]) k++;
    if (k === n && head[i + n] === 0x3a) {
      let s = i + n + 1;
      let e = head.indexOf(13, s);
      if (e < 0 || e > headEnd) e = headEnd;
      while (s < e && (head[s] === 0x20 || head[s] === 0x09)) s++;
      while (e > s && (head[e - 1] === 0x20 || head[e - 1] === 0x09)) e--;
      return head.toString('latin1', s, e);
    }
    i = head.indexOf(10, i) + 1;
  }
  return null;
}

/** A Connection whose responses are observed: status, bytes and end of every exchange. */
export class ObservedConnection extends Connection {
  /** The client's address as the log shows it (`-` for a unix socket). */
  readonly remote: string;
  private readonly observer: Observer;

  constructor(id: number, socket: Socket, opts: ConnectionOptions, host: ConnectionHost, observer: Observer) {
    super(id, socket, opts, host);
    this.observer = observer;
    this.remote = socket.remoteAddress ?? '-';
  }

  override deliver(ex: Exchange, data: Buffer, end: boolean, close: boolean): void {
    // Answers the acceptor makes before submit (framer errors, timeouts) have no record yet.
    const rec = ex.rec ?? (ex.rec = new RequestRecord(performance.now()));
    if (rec.status === 0 && data.length >= 12) {
      rec.status = (data[9]! - 48) * 100 + (data[10]! - 48) * 10 + (data[11]! - 48);
      this.observer.status(rec.status);
    }
    rec.bytes += data.length;
    super.deliver(ex, data, end, close);
    if (end) this.observer.end(ex, rec, this);
  }
}
