// design: run a Fetch-style handler (`fetch(request) -> Response`, sync or async; Hono's shape)
// behind the worker's node request listener. The request is built from node's parsed
// IncomingMessage (the body is already complete: the acceptor buffered it), the Response is written
// back through ServerResponse, streaming its body chunk by chunk as the handler produces it.
import type { IncomingMessage, ServerResponse } from 'node:http';

export type FetchHandler = (request: Request) => unknown;

const NO_BODY = new Set(['GET', 'HEAD']);

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function toRequest(req: IncomingMessage, body: Buffer | null): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const host = req.headers.host ?? 'localhost';
  const init: RequestInit = { method: req.method ?? 'GET', headers };
  if (body !== null && body.length > 0) init.body = body;
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
    res.end();
    return;
  }
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!res.write(value)) await new Promise<void>((resolve) => res.once('drain', resolve));
  }
  res.end();
}

function isResponse(value: unknown): value is Response {
  return value instanceof Response;
}

async function respond(handler: FetchHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = NO_BODY.has(req.method ?? 'GET') ? null : await readBody(req);
  let result = handler(toRequest(req, body));
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
