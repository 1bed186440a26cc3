// design: the Request a Fetch-style handler gets is a lightweight one. undici's Request does a
// lot on construction (URL parsing, a Headers copy, an AbortSignal that follows the given one, a
// body stream) that most handlers never look at: a router reads `method` and `url`, perhaps a
// header or two. So the adapter makes a FetchRequest: `method` and `url` are plain strings
// (the URL string is built as the URL parser would write it, and checked to be one it would leave
// as it is; anything else goes the full way), `headers` is a Headers made from the raw header
// pairs on first use (then kept: the same object each time), `signal` is the adapter's own
// AbortController's (made on first use; it aborts when the client goes away before the response is
// complete, also when asked for after that). A complete body (not an upload) is read by text(),
// json() and arrayBuffer() straight from its bytes. The body stream, and everything else on
// Request.prototype (formData(), blob(), clone(), cache, ...), build the platform's Request once
// ("materialize", from these same method, url, headers, signal and body; one whose body was
// read that way has it used) and defer to it.
// A request with an unusual method, a URL the parser would rewrite, or a streamed (upload) body
// builds the platform's Request at once and defers to it for everything but `signal`.
// `instanceof Request` holds (the prototype chain reaches the platform's Request.prototype). The
// platform's own constructor and fetch() do not know this object, so the worker's global
// `Request` is a subclass that turns a FetchRequest argument into its platform Request, and the
// global `fetch` does the same (installRequest); both are otherwise the platform's.
import type { IncomingMessage } from 'node:http';
import { deferRest } from './fetch-response.js';

/** The platform's Request and fetch (undici's), kept before installRequest() replaces the globals. */
export const NativeRequest: typeof Request = globalThis.Request;
const nativeFetch: typeof fetch = globalThis.fetch;

/** Methods the platform keeps as they are (node's parser gives them upper-case). */
const PLAIN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

/** A host the URL parser leaves as it is: lower-case name or dotted quad, optional port without a leading zero. */
const HOST = /^([a-z0-9](?:[a-z0-9.-]*[a-z0-9.])?)(?::([1-9][0-9]{0,4}))?$/;
/** A last label that makes the parser read the host as an IPv4 address. */
const NUMERIC_LABEL = /(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)\.?$/;
const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;
/** A request target the parser leaves as it is: characters it does not percent-encode ("'" not in the query). */
const TARGET = /^\/[A-Za-z0-9!$%&'()*+,\-./:;=@_~]*(?:\?[A-Za-z0-9!$%&()*+,\-./:;=?@_~]*)?$/;
/** A "." or ".." segment (or its %2e spelling), which the parser removes. */
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:[/?]|$)/i;

/**
 * `${scheme}://${host}${target}` when the URL parser would give exactly that string as the href;
 * null when it would rewrite it (or reject it): the caller then lets the platform parse it.
 */
export function plainUrl(scheme: 'http' | 'https', host: string, target: string): string | null {
  const m = HOST.exec(host);
  if (m === null) return null;
  const name = m[1]!;
  if (name.includes('xn--')) return null; // IDNA checks it
  if (NUMERIC_LABEL.test(name) && !DOTTED_QUAD.test(name)) return null;
  if (m[2] !== undefined) {
    const port = Number(m[2]);
    if (port > 65535 || port === (scheme === 'http' ? 80 : 443)) return null;
  }
  if (!TARGET.test(target) || DOT_SEGMENT.test(target)) return null;
  return `${scheme}://${host}${target}`;
}

const EMPTY = Buffer.alloc(0);
const utf8 = new TextDecoder();

function rawHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}

/** The Request a Fetch-style handler gets. See the design note above. */
export class FetchRequest {
  readonly #req: IncomingMessage;
  readonly #method: string;
  readonly #url: string;
  /** A complete body (possibly empty), or null (GET, HEAD). */
  readonly #body: Buffer | null;
  #headers: Headers | undefined;
  #controller: AbortController | undefined;
  #aborted = false;
  #native: Request | undefined;
  /** The complete body was read straight from its bytes (text(), json(), arrayBuffer()). */
  #used = false;
  /** Built at construction: everything but `signal` defers to #native. */
  #eager = false;

  private constructor(req: IncomingMessage, body: Buffer | ReadableStream<Uint8Array> | null) {
    this.#req = req;
    this.#method = req.method ?? 'GET';
    const host = req.headers.host ?? 'localhost';
    const target = req.url ?? '/';
    // https over TLS, or when a trusted proxy says the client used it (X-Forwarded-Proto).
    const scheme = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
    const url = PLAIN_METHODS.has(this.#method) && !(body instanceof ReadableStream) ? plainUrl(scheme, host, target) : null;
    this.#url = url ?? `${scheme}://${host}${target}`;
    this.#body = body instanceof ReadableStream ? null : body;
    if (url === null) {
      const init: RequestInit = { method: this.#method, headers: rawHeaders(req), signal: this.signal };
      if (body instanceof ReadableStream) {
        init.body = body;
        (init as { duplex?: string }).duplex = 'half'; // undici wants it said for a stream body
      } else if (body !== null && body.length > 0) init.body = body;
      this.#native = new NativeRequest(this.#url, init); // throws as it always did for what it rejects
      this.#eager = true;
    }
  }

  /** The Request for node's `req`; `body`: the complete body, a stream of it (an upload), or null. */
  static from(req: IncomingMessage, body: Buffer | ReadableStream<Uint8Array> | null): Request {
    return new FetchRequest(req, body) as unknown as Request;
  }

  /** Abort `request.signal` (the client went away); a signal asked for later starts aborted. */
  static abort(request: Request): void {
    const r = request as unknown as FetchRequest;
    r.#aborted = true;
    r.#controller?.abort();
  }

  /** Whether `value` is a FetchRequest. */
  static is(value: unknown): value is FetchRequest {
    return typeof value === 'object' && value !== null && #native in value;
  }

  /** The platform's Request for a FetchRequest (built now if need be). */
  static native(request: FetchRequest): Request {
    return request.#materialize();
  }

  #materialize(): Request {
    if (this.#native === undefined) {
      const init: RequestInit = { method: this.#method, headers: this.headers, signal: this.signal };
      if (this.#body !== null && this.#body.length > 0) init.body = this.#body;
      this.#native = new NativeRequest(this.#url, init);
      // Already read straight from its bytes: the platform's body is used too (read, locked).
      if (this.#used) this.#native.arrayBuffer().catch(() => {});
    }
    return this.#native;
  }

  get method(): string {
    return this.#eager ? this.#native!.method : this.#method;
  }

  get url(): string {
    return this.#eager ? this.#native!.url : this.#url;
  }

  get headers(): Headers {
    if (this.#eager) return this.#native!.headers;
    return (this.#headers ??= rawHeaders(this.#req));
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#native === undefined && (this.#body === null || this.#body.length === 0)) return null;
    return this.#materialize().body;
  }

  get bodyUsed(): boolean {
    return this.#native === undefined ? this.#used : this.#native.bodyUsed;
  }

  text(): Promise<string> {
    return this.#read('text', (bytes) => utf8.decode(bytes));
  }

  json(): Promise<unknown> {
    return this.#read('json', (bytes) => JSON.parse(utf8.decode(bytes)) as unknown);
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#read('arrayBuffer', (bytes) => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  }

  /**
   * A complete body read straight from its bytes, as the platform's Request reads it: once (a
   * second read fails with its TypeError; none is "used" when there is no body), UTF-8 without
   * a BOM. Once the platform's Request is built, it reads.
   */
  #read<T>(name: 'text' | 'json' | 'arrayBuffer', convert: (bytes: Buffer) => T): Promise<T> {
    if (this.#native !== undefined) return this.#native[name]() as Promise<T>;
    const body = this.#body ?? EMPTY;
    if (body.length > 0) {
      if (this.#used) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
      this.#used = true;
    }
    try {
      return Promise.resolve(convert(body));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  static {
    // Whatever else the platform's Request.prototype has (text(), clone(), cache, ...; it differs
    // between Node versions) defers to the platform's Request built for this one.
    deferRest(FetchRequest.prototype, NativeRequest.prototype, (r: FetchRequest) => (#native in r ? r.#materialize() : r));
  }
}

/** The worker's global Request: the platform's, taking a FetchRequest as its input too. */
class GlobalRequest extends NativeRequest {
  constructor(input: ConstructorParameters<typeof Request>[0], init?: RequestInit) {
    super(FetchRequest.is(input) ? FetchRequest.native(input) : input, init);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // An app's own subclass of Request keeps the ordinary instanceof.
    if (this !== GlobalRequest) return Function.prototype[Symbol.hasInstance].call(this, value);
    return value instanceof NativeRequest;
  }
}
Object.defineProperty(GlobalRequest, 'name', { value: 'Request' });
Object.setPrototypeOf(FetchRequest.prototype, GlobalRequest.prototype);
Object.defineProperty(FetchRequest.prototype, 'constructor', { value: GlobalRequest, writable: true, configurable: true });

/** The worker's global fetch: the platform's, taking a FetchRequest as its input too. */
function fetchRequest(input: ConstructorParameters<typeof Request>[0], init?: RequestInit): Promise<Response> {
  return nativeFetch(FetchRequest.is(input) ? FetchRequest.native(input) : input, init);
}
Object.defineProperty(fetchRequest, 'name', { value: 'fetch' });

/** Make the global Request and fetch take a FetchRequest (in a worker, before the app loads). Idempotent. */
export function installRequest(): void {
  if (globalThis.Request === GlobalRequest) return;
  Object.defineProperty(globalThis, 'Request', { value: GlobalRequest, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(globalThis, 'fetch', { value: fetchRequest, writable: true, configurable: true, enumerable: true });
}
