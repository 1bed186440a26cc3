// design: run a Fetch-style handler (`fetch(request) -> Response`, sync or async; Hono's shape)
// behind the worker's node request listener. The request is built from node's parsed
// IncomingMessage. A body that is already complete (the acceptor buffered it: up to
// --body-buffer-size) is read whole first; a streamed one (an upload: VirtualSocket.upload)
// becomes `request.body`, a ReadableStream that pulls from `req` (pausing it while the stream's
// queue is full, so an app that reads slowly slows the client down). The Response is written
// back through ServerResponse, streaming its body chunk by chunk as the handler produces it.
// Streaming: each chunk read from the Response body is written before the next is read, and a
// write that returns false (the flow-control window is full: the client reads slowly) waits for
// 'drain', so a ReadableStream body (ReadableStream.from(generator) for a sync generator) is
// pulled only as fast as the client takes it. When the client goes away before the response is
// complete, `request.signal` aborts and the body stream is cancelled.
//
// Content-Length: a Response does not say how long its body is, and reading its stream to find
// out would hold back a streamed one. So the worker's global `Response` is a subclass that notes,
// when it is made, a body whose size is known without reading it (a string, ArrayBuffer, typed
// array, Blob, URLSearchParams; `Response.json`); such a response goes out with Content-Length
// (a string one is written with res.end(string), its stream never read), so that HTTP/1.0
// keep-alive clients can keep their connection. Anything else (a
// stream, FormData, a Response from fetch() or clone()) is written chunk by chunk, chunked.
import type { IncomingMessage, ServerResponse } from 'node:http';

export type FetchHandler = (request: Request) => unknown;

const NO_BODY = new Set(['GET', 'HEAD']);

/** The platform's Response (undici's), kept before installResponse() replaces the global one. */
const NativeResponse: typeof Response = globalThis.Response;

/** Known size of a body: the string itself (measured only when written), a byte count, or -1 (unknown). */
function knownSize(body: unknown): string | number {
  if (typeof body === 'string') return body;
  if (body === null || typeof body !== 'object') return -1;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return body.byteLength;
  if (body instanceof Blob) return body.size;
  if (body instanceof URLSearchParams) return body.toString();
  return -1;
}

/**
 * The worker's global Response: the platform's, noting the size of a body whose size is known.
 * `instanceof Response` holds for every Response (fetch()'s and clone()'s too), as before.
 */
class SizedResponse extends NativeResponse {
  readonly #size: string | number;

  constructor(body?: ConstructorParameters<typeof Response>[0], init?: ResponseInit) {
    super(body, init);
    this.#size = body === undefined || body === null ? -1 : knownSize(body);
  }

  /** Response.json(), made through the constructor, so that its size is known too. */
  static override json(data: unknown, init?: ResponseInit): Response {
    const text = JSON.stringify(data) as string | undefined;
    if (text === undefined) return NativeResponse.json(data, init); // throws the platform's TypeError
    const headers = new Headers(init?.headers);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    return new SizedResponse(text, { status: init?.status, statusText: init?.statusText, headers });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // An app's own subclass of Response keeps the ordinary instanceof.
    if (this !== SizedResponse) return Function.prototype[Symbol.hasInstance].call(this, value);
    return value instanceof NativeResponse;
  }

  /** The body's known size (see knownSize), or -1: unknown, or not a SizedResponse. */
  static sizeOf(response: Response): string | number {
    return #size in response ? (response as SizedResponse).#size : -1;
  }
}
Object.defineProperty(SizedResponse, 'name', { value: 'Response' });

/** Make the global Response a SizedResponse (in a worker, before the app loads). Idempotent. */
export function installResponse(): void {
  if (globalThis.Response === SizedResponse) return;
  Object.defineProperty(globalThis, 'Response', { value: SizedResponse, writable: true, configurable: true, enumerable: false });
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** `req`'s body as a byte stream with backpressure; it errors if the client goes away mid-body. */
function bodyStream(req: IncomingMessage): ReadableStream<Uint8Array> {
  let open = true;
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        req.on('data', (c: Buffer) => {
          if (!open) return;
          controller.enqueue(new Uint8Array(c.buffer, c.byteOffset, c.length));
          if ((controller.desiredSize ?? 0) <= 0) req.pause();
        });
        req.on('end', () => {
          if (open) controller.close();
          open = false;
        });
        req.on('close', () => {
          if (open) controller.error(new Error('request aborted: the client went away before the body was complete'));
          open = false;
        });
        req.on('error', () => {}); // 'close' reports it
        req.pause();
      },
      pull() {
        req.resume();
      },
      cancel() {
        open = false;
        req.resume(); // the app does not want the rest: let it drain (the acceptor reads on)
      },
    },
    { highWaterMark: 64 * 1024, size: (c) => c.byteLength },
  );
}

/** The body streams in (the acceptor's frame said so: VirtualSocket.upload), rather than being all here. */
function isUpload(req: IncomingMessage): boolean {
  return (req.socket as unknown as { upload?: boolean }).upload === true;
}

function toRequest(req: IncomingMessage, body: Buffer | ReadableStream<Uint8Array> | null, signal: AbortSignal): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const host = req.headers.host ?? 'localhost';
  const init: RequestInit = { method: req.method ?? 'GET', headers, signal };
  if (body instanceof ReadableStream) {
    init.body = body;
    (init as { duplex?: string }).duplex = 'half'; // undici wants it said for a stream body
  } else if (body !== null && body.length > 0) init.body = body;
  // https over TLS, or when a trusted proxy says the client used it (X-Forwarded-Proto).
  const scheme = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
  return new Request(`${scheme}://${host}${req.url ?? '/'}`, init);
}

async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  const cookies = response.headers.getSetCookie();
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') res.setHeader(name, value);
  }
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  const body = response.body;
  if (body === null) {
    // No body: length 0 (node's res.end() gives none to an HTTP/1.0 client); never on a 204 or 304.
    if (response.status !== 204 && response.status !== 304 && !res.hasHeader('content-length') && !res.hasHeader('transfer-encoding')) {
      res.setHeader('content-length', 0);
    }
    res.end();
    return;
  }
  const size = SizedResponse.sizeOf(response);
  if (size !== -1 && !response.bodyUsed && !body.locked) {
    // The whole body is known: Content-Length, unless the app set a length or a transfer coding
    // itself (node's res.end(data) gives none to an HTTP/1.0 client, which then loses keep-alive).
    // A string is written as it is; bytes and Blobs are read from the stream as usual.
    if (!res.hasHeader('content-length') && !res.hasHeader('transfer-encoding')) {
      res.setHeader('content-length', typeof size === 'string' ? Buffer.byteLength(size) : size);
    }
    if (typeof size === 'string') {
      res.end(size);
      return;
    }
  }
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (res.destroyed) break;
    if (!res.write(value)) await drained(res);
    if (res.destroyed) break;
  }
  if (res.destroyed) {
    // The client went away: stop the producer (a generator's finally blocks run).
    await reader.cancel().catch(() => {});
    return;
  }
  res.end();
}

/** Resolves at 'drain', or at 'close' when the client went away meanwhile. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function isResponse(value: unknown): value is Response {
  return value instanceof NativeResponse;
}

async function respond(handler: FetchHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = NO_BODY.has(req.method ?? 'GET') ? null : isUpload(req) ? bodyStream(req) : await readBody(req);
  // request.signal aborts when the client goes away before the response is complete. undici's
  // Request.signal follows the signal it was given only while the Request object lives (a WeakRef
  // to its own controller): an app that keeps only request.signal, or nothing, would never see the
  // abort once a GC ran. The 'close' listener keeps the Request alive as long as the response.
  const aborter = new AbortController();
  const request = toRequest(req, body, aborter.signal);
  res.once('close', () => {
    if (!res.writableFinished) aborter.abort();
    void request;
  });
  let result = handler(request);
  if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
    result = await result;
  }
  if (!isResponse(result)) {
    throw new TypeError(`fetch handler returned ${result === null ? 'null' : typeof result}, expected a Response`);
  }
  await writeResponse(result, res);
}

/** A node request listener that runs `handler`; it returns a promise that rejects on handler errors. */
export function fetchListener(handler: FetchHandler): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return (req, res) => respond(handler, req, res);
}
