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
// The Request is lightweight (./fetch-request.ts): method, url, headers and signal without
// building undici's Request, which is built only when the app reaches for the body or anything
// else. So is the Response the worker's global `Response` makes (./fetch-response.ts): one with a
// string, bytes, URLSearchParams or no body, never read by the app, is written straight from what
// it was made with: res.end(body), with Content-Length. Any other Response is read through the
// platform's machinery: its headers, then its body stream chunk by chunk (chunked), except that a
// body whose size is known without reading it (a Blob, or a string or bytes that an unusual init
// sent the platform's way) still gets Content-Length, so that HTTP/1.0 keep-alive clients can
// keep their connection. Content-Length is left out where the app set it or a transfer coding.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FetchRequest, installRequest } from './fetch-request.js';
import { FetchResponse, NativeResponse, hasPair, type ResponseParts } from './fetch-response.js';

export type FetchHandler = (request: Request) => unknown;

const NO_BODY = new Set(['GET', 'HEAD']);

/** Make the global Request, fetch and Response the lightweight ones (in a worker, before the app loads). Idempotent. */
export function installResponse(): void {
  installRequest();
  if (globalThis.Response === (FetchResponse as unknown)) return;
  Object.defineProperty(globalThis, 'Response', { value: FetchResponse, writable: true, configurable: true, enumerable: false });
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

function setHeaders(headers: Headers, res: ServerResponse): void {
  const cookies = headers.getSetCookie();
  for (const [name, value] of headers) {
    if (name !== 'set-cookie') res.setHeader(name, value);
  }
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
}

/** No body: length 0 (node's res.end() gives none to an HTTP/1.0 client); never on a 204 or 304. */
function endEmpty(status: number, res: ServerResponse): void {
  if (status !== 204 && status !== 304 && !res.hasHeader('content-length') && !res.hasHeader('transfer-encoding')) {
    res.setHeader('content-length', 0);
  }
  res.end();
}

/** A lightweight Response the app never read: written from what it was made with. */
function writeParts(parts: ResponseParts, res: ServerResponse): void {
  res.statusCode = parts.status;
  if (parts.statusText) res.statusMessage = parts.statusText;
  const headers = parts.headers;
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) res.setHeader(headers[i]!, headers[i + 1]!);
    if (parts.type !== undefined && !hasPair(headers, 'content-type')) res.setHeader('content-type', parts.type);
  } else setHeaders(headers, res);
  const body = parts.body;
  if (body === null) {
    endEmpty(parts.status, res);
    return;
  }
  if (!res.hasHeader('content-length') && !res.hasHeader('transfer-encoding')) {
    res.setHeader('content-length', typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
  }
  res.end(body);
}

async function writeResponse(response: Response, res: ServerResponse): Promise<void> {
  const parts = FetchResponse.parts(response);
  if (parts !== null) {
    writeParts(parts, res);
    return;
  }
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  setHeaders(response.headers, res);
  const body = response.body;
  if (body === null) {
    endEmpty(response.status, res);
    return;
  }
  const size = FetchResponse.sizeOf(response);
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
  const request = FetchRequest.from(req, body);
  // request.signal aborts when the client goes away before the response is complete (also when
  // the app asks for it only after that). The listener keeps the Request alive as long as the response.
  res.once('close', () => {
    if (!res.writableFinished) FetchRequest.abort(request);
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
