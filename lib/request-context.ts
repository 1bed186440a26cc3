// design: which request a worker thread is running, so that log records written by the app (the
// app logger, captured console output) carry that request's id, in synchronous handlers and in
// async ones with many requests in flight on one thread. It is an AsyncLocalStorage the runner
// enters around each call of the app. It is off until something in the thread needs it (the app
// imports the app logger, or --capture-output is on): creating an AsyncLocalStorage turns on
// promise hooks on Node 20, and entering it costs about 0.03 µs (Node 20) to 0.27 µs (Node 24) per
// request (docs/decisions/0008-app-logs.md), so a thread that never logs pays one field test per
// request. The holder lives on globalThis under a registered symbol: an app that resolves
// `greenserve` to another copy of the package still shares this thread's context.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** A client-sent id is used when it is 1..128 visible ASCII characters other than `"` and `\` (as the acceptor's rule). */
const GOOD_ID = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

/** The request a piece of app code runs for. Its id is found on first use: most requests log nothing. */
export class RequestContext {
  private id: string | null = null;
  private readonly headers: IncomingHttpHeaders;
  private readonly header: string;

  /** `header`: the lower-case name of the request-id header (--request-id-header). */
  constructor(headers: IncomingHttpHeaders, header: string) {
    this.headers = headers;
    this.header = header;
  }

  /**
   * The acceptor's id when the access log is on (the runner put it in the header); otherwise the
   * client's own when usable, else one made here, the same for every record of the request.
   */
  get requestId(): string {
    if (this.id !== null) return this.id;
    const sent = this.headers[this.header];
    this.id = typeof sent === 'string' && GOOD_ID.test(sent) ? sent : randomUUID();
    return this.id;
  }
}

interface ContextHolder {
  /** null until enableRequestContext(). */
  als: AsyncLocalStorage<RequestContext> | null;
}

const KEY = Symbol.for('greenserve.requestContext');
const registry = globalThis as unknown as Record<symbol, ContextHolder | undefined>;

/** This thread's holder (the runner reads `als` once per request). */
export const requestContext: ContextHolder = (registry[KEY] ??= { als: null });

/** From now on, the runner runs each request inside a RequestContext. */
export function enableRequestContext(): void {
  requestContext.als ??= new AsyncLocalStorage<RequestContext>();
}

/** The id of the request the calling code runs for, or undefined outside one (or while off). */
export function currentRequestId(): string | undefined {
  return requestContext.als?.getStore()?.requestId;
}
