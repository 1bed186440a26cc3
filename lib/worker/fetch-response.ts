// design: the worker's global `Response` (installed before the app loads) is a lightweight one.
// undici's Response does a lot on construction (WebIDL conversions, a Headers object, a
// ReadableStream around even a string body) that the adapter then undoes, reading the stream back
// chunk by chunk. Most responses an app makes have a body whose bytes are already here: null, a
// string, an ArrayBuffer or typed array, URLSearchParams. For those, `new Response(body, init)`
// keeps the body (bytes copied, as undici copies them), the status, the status text and the
// header pairs (validated now, so that a bad name or value throws here, as it would), and the
// adapter writes them straight to ServerResponse: res.end(string), with Content-Length. Nothing of
// undici's is built unless the app reaches for it: `headers` makes a Headers (kept: the same one
// each time, and the one written); the body's stream or readers (`body`, `text()`, `json()`,
// `arrayBuffer()`, `blob()`, `formData()`, anything else on Response.prototype) build the
// platform's Response once ("materialize") and defer to it from then on.
// Everything else (a stream, Blob, FormData body, a status of 204/205/304 with a body, an unusual
// init) builds the platform's Response at once and defers to it for everything, so that its
// errors and behaviour are the platform's own. `instanceof Response` holds for both and for
// the platform's own responses (fetch(), Response.error(), clone() of those).
// Content-Length: the size of a body is known when it is one of the kinds above, or a Blob
// (noted when the platform's Response is built for it, as for the others when an unusual init
// sends them that way); the adapter uses parts() and sizeOf().

/** The platform's Response (undici's), kept before installResponse() replaces the global one. */
export const NativeResponse: typeof Response = globalThis.Response;

/** undici's default Content-Type for a string body, and for URLSearchParams. */
const TEXT_TYPE = 'text/plain;charset=UTF-8';
const FORM_TYPE = 'application/x-www-form-urlencoded;charset=UTF-8';
const JSON_HEADERS = Object.freeze({ 'content-type': 'application/json' });

/** An HTTP token (a header name); values may not hold NUL, CR or LF, nor start or end with whitespace (Headers trims it). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PLAIN_VALUE = /^(?:[^\0\r\n\t ](?:[^\0\r\n]*[^\0\r\n\t ])?)?$/;
const PLAIN_STATUS_TEXT = /^[\t\x20-\x7e]*$/;

/** What the adapter writes for a lightweight response that was never materialized. */
export interface ResponseParts {
  status: number;
  statusText: string;
  /** The Headers the app has seen (and may have changed), else the init's pairs: [name, value, ...], lower-case names. */
  headers: Headers | string[];
  /** Content-Type to add to `headers` (a string array) when it has none. */
  type: string | undefined;
  body: string | Uint8Array | null;
}

/** Known size of a body the platform's Response keeps: the string itself (measured only when written), a byte count, or -1 (unknown). */
function knownSize(body: unknown): string | number {
  if (typeof body === 'string') return body;
  if (body === null || typeof body !== 'object') return -1;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return body.byteLength;
  if (body instanceof Blob) return body.size;
  if (body instanceof URLSearchParams) return body.toString();
  return -1;
}

/** The bytes of a BufferSource, copied (as undici copies them); null for anything else. */
function copyBytes(body: object): Uint8Array | null {
  if (body instanceof ArrayBuffer) return new Uint8Array(body.slice(0));
  if (ArrayBuffer.isView(body) && body.buffer instanceof ArrayBuffer) {
    return new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
  }
  return null;
}

/** A record of string header values as [lower-name, value, ...], or null when it needs the platform's Headers (odd names or values, repeats, a Headers, pairs). */
function plainHeaders(init: unknown): string[] | null {
  if (init === null || typeof init !== 'object' || Array.isArray(init) || init instanceof Headers) return null;
  const proto = Object.getPrototypeOf(init) as unknown;
  if (proto !== Object.prototype && proto !== null) return null;
  const out: string[] = [];
  for (const name of Object.keys(init)) {
    const value = (init as Record<string, unknown>)[name];
    if (typeof value !== 'string' || !TOKEN.test(name) || !PLAIN_VALUE.test(value)) return null;
    const lower = name.toLowerCase();
    for (let i = 0; i < out.length; i += 2) if (out[i] === lower) return null; // Headers would join them
    out.push(lower, value);
  }
  return out;
}

export function hasPair(pairs: string[], name: string): boolean {
  for (let i = 0; i < pairs.length; i += 2) if (pairs[i] === name) return true;
  return false;
}

/**
 * Give `proto` every getter and method of `platform` (a platform class's prototype) that it does
 * not define itself, each applied to the platform object `materialize` builds for the instance
 * (or, called on a platform object itself, to that).
 */
export function deferRest<T>(proto: T, platform: object, materialize: (self: T) => object): void {
  const own = proto as Record<PropertyKey, unknown>;
  for (const key of Reflect.ownKeys(platform)) {
    if (key === 'constructor' || Object.prototype.hasOwnProperty.call(own, key)) continue;
    const d = Object.getOwnPropertyDescriptor(platform, key)!;
    const enumerable = d.enumerable ?? false;
    if (d.get !== undefined) {
      const get = d.get;
      Object.defineProperty(own, key, { get(this: T) { return get.call(materialize(this)); }, configurable: true, enumerable });
    } else if (typeof d.value === 'function') {
      const fn = d.value as (...args: unknown[]) => unknown;
      const value = function (this: T, ...args: unknown[]): unknown { return fn.apply(materialize(this), args); };
      Object.defineProperty(own, key, { value, writable: true, configurable: true, enumerable });
    }
  }
}

/** The worker's global Response. See the design note above. */
export class FetchResponse {
  /** The platform's Response, once built (at once for the bodies kept as they are not). */
  #native: Response | undefined;
  /** The state of a lightweight response (unused once #native is set at construction). */
  #status = 200;
  #statusText = '';
  #body: string | Uint8Array | null = null;
  #type: string | undefined;
  #pairs: string[] | null = null;
  #headers: Headers | undefined;
  /** Built at construction: everything defers to #native. */
  #eager = false;
  /** The known size of an eager one's body (see knownSize), or -1. */
  #size: string | number = -1;

  constructor(body?: ConstructorParameters<typeof Response>[0], init?: ResponseInit) {
    if (!this.#light(body, init)) {
      this.#native = new NativeResponse(body, init);
      this.#eager = true;
      this.#size = body === undefined || body === null ? -1 : knownSize(body);
    }
  }

  /** Take the lightweight shape if body and init allow it; false: build the platform's. */
  #light(body: unknown, init: ResponseInit | undefined): boolean {
    if (body !== undefined && body !== null) {
      if (typeof body === 'string') {
        this.#body = body;
        this.#type = TEXT_TYPE;
      } else if (typeof body !== 'object') {
        return false;
      } else if (body instanceof URLSearchParams) {
        this.#body = body.toString();
        this.#type = FORM_TYPE;
      } else {
        const bytes = copyBytes(body);
        if (bytes === null) return false;
        this.#body = bytes;
      }
    }
    if (init === undefined || init === null) return true;
    if (typeof init !== 'object') return false;
    const { status, statusText, headers } = init;
    if (status !== undefined) {
      if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) return false;
      // A null-body status with a body: the platform's TypeError.
      if (this.#body !== null && (status === 204 || status === 205 || status === 304)) return false;
      this.#status = status;
    }
    if (statusText !== undefined) {
      if (typeof statusText !== 'string' || !PLAIN_STATUS_TEXT.test(statusText)) return false;
      this.#statusText = statusText;
    }
    if (headers === null) return false; // the platform's TypeError
    if (headers !== undefined) {
      const pairs = plainHeaders(headers);
      if (pairs !== null) this.#pairs = pairs;
      else {
        this.#headers = new Headers(headers); // throws on a bad name or value, as the platform would
        if (this.#type !== undefined && !this.#headers.has('content-type')) this.#headers.set('content-type', this.#type);
      }
    }
    return true;
  }

  /** The platform's Response for this one, built on first need. */
  #materialize(): Response {
    if (this.#native === undefined) {
      this.#native = new NativeResponse(this.#body, { status: this.#status, statusText: this.#statusText, headers: this.headers });
    }
    return this.#native;
  }

  get status(): number {
    return this.#eager ? this.#native!.status : this.#status;
  }

  get statusText(): string {
    return this.#eager ? this.#native!.statusText : this.#statusText;
  }

  get ok(): boolean {
    const status = this.status;
    return status >= 200 && status <= 299;
  }

  get headers(): Headers {
    if (this.#eager) return this.#native!.headers;
    if (this.#headers === undefined) {
      const headers = new Headers();
      const pairs = this.#pairs;
      if (pairs !== null) for (let i = 0; i < pairs.length; i += 2) headers.append(pairs[i]!, pairs[i + 1]!);
      if (this.#type !== undefined && !headers.has('content-type')) headers.set('content-type', this.#type);
      this.#headers = headers;
      this.#pairs = null;
    }
    return this.#headers;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#native === undefined && this.#body === null) return null;
    return this.#materialize().body;
  }

  get bodyUsed(): boolean {
    if (this.#native === undefined) return false;
    return this.#native.bodyUsed;
  }

  get type(): Response['type'] {
    return this.#eager ? this.#native!.type : 'default';
  }

  get url(): string {
    return this.#eager ? this.#native!.url : '';
  }

  get redirected(): boolean {
    return this.#eager ? this.#native!.redirected : false;
  }

  clone(): Response {
    if (this.#eager) return this.#native!.clone();
    if (this.#native === undefined) {
      // Strings are immutable and the bytes are our own copy: the clone can share them.
      return new FetchResponse(this.#body, { status: this.#status, statusText: this.#statusText, headers: this.headers }) as unknown as Response;
    }
    // Materialized: the platform tees the body; the headers are ours (they may have changed since).
    const copy = this.#native.clone();
    return new NativeResponse(copy.body, { status: this.#status, statusText: this.#statusText, headers: this.headers });
  }

  /** Response.json(), made through the constructor, so that it is lightweight too. */
  static json(data: unknown, init?: ResponseInit): Response {
    const text = JSON.stringify(data) as string | undefined;
    if (text === undefined) return NativeResponse.json(data, init); // throws the platform's TypeError
    let headers: ResponseInit['headers'] = JSON_HEADERS;
    if (init?.headers !== undefined) {
      headers = new Headers(init.headers);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
    return new FetchResponse(text, { status: init?.status, statusText: init?.statusText, headers }) as unknown as Response;
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    // An app's own subclass of Response keeps the ordinary instanceof.
    if (this !== FetchResponse) return Function.prototype[Symbol.hasInstance].call(this, value);
    return value instanceof NativeResponse;
  }

  /** What to write for a lightweight response whose body was never touched; null: read it as a Response. */
  static parts(response: Response): ResponseParts | null {
    if (!(#native in response) || response.#native !== undefined) return null;
    const r = response;
    return { status: r.#status, statusText: r.#statusText, headers: r.#headers ?? r.#pairs ?? [], type: r.#type, body: r.#body };
  }

  /** The known size of a platform-built body (see knownSize), or -1: unknown, or not one of ours. */
  static sizeOf(response: Response): string | number {
    return #native in response ? response.#size : -1;
  }

  static {
    // Whatever else the platform's Response.prototype has (methods like text(), bytes(); getters
    // that differ between Node versions) defers to the platform's Response for this one.
    deferRest(FetchResponse.prototype, NativeResponse.prototype, (r: FetchResponse) => (#native in r ? r.#materialize() : r));
    Object.setPrototypeOf(FetchResponse, NativeResponse); // Response.error(), Response.redirect()
    Object.setPrototypeOf(FetchResponse.prototype, NativeResponse.prototype);
    Object.defineProperty(FetchResponse, 'name', { value: 'Response' });
  }
}
