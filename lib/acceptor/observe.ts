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
  private readonly requestIds: boolean;
  private readonly wantAgent: boolean;
  /**
   * The header fields the framer captures for the records (FramerLimits.capture): the request id
   * field (when ids are on), then Referer and User-Agent (combined format). Read from
   * FramedRequest.captured by index; the head is not scanned again.
   */
  readonly capture: readonly string[];
  private readonly iReferer: number;

  constructor(o: ObserverOptions) {
    this.sinks = o.sinks;
    this.requestIds = o.requestIdHeader !== null;
    this.wantAgent = o.wantAgent;
    const capture: string[] = [];
    if (o.requestIdHeader !== null) capture.push(o.requestIdHeader.toLowerCase());
    this.iReferer = capture.length;
    if (o.wantAgent) capture.push('referer', 'user-agent');
    this.capture = capture;
  }

  /** A framed request is about to be submitted: start its record (and give the frame its id). */
  begin(ex: Exchange, req: FramedRequest): void {
    const rec = new RequestRecord(performance.now());
    rec.method = req.method;
    rec.target = req.target;
    rec.http10 = req.http10;
    // What the framer captured in its pass over the head (null: none of the fields was there).
    const got = req.captured;
    if (this.requestIds) {
      const sent = got === null ? null : got[0]!;
      const id = sent !== null && GOOD_ID.test(sent) ? sent : randomUUID();
      rec.requestId = id;
      ex.idPart = requestIdPart(id);
    }
    if (this.wantAgent && got !== null) {
      rec.referer = got[this.iReferer] ?? '';
      rec.userAgent = got[this.iReferer + 1] ?? '';
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
