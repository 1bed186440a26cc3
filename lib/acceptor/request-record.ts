// What the acceptor records about one request for the access log and the metrics (./observe.ts
// fills it in; each Exchange carries one while observing, ./connection.ts). A module of its own so
// that connection.ts and observe.ts do not import each other.

/** What is known about one request while it is answered. One shape for every request. */
export class RequestRecord {
  /** performance.now() when the request was framed (or answered, for framer errors) */
  readonly start: number;
  method = '-';
  target = '-';
  http10 = false;
  /** parsed from the first response bytes; 0 until then */
  status = 0;
  /** response bytes, status line and headers included */
  bytes = 0;
  requestId = '';
  referer = '';
  userAgent = '';

  constructor(start: number) {
    this.start = start;
  }
}
