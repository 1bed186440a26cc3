// design: the public entry `greenserve/shims`: blocking versions of async Node APIs for
// synchronous handlers (the gevent part of greenserve). Each one parks the calling worker thread
// (see ./park.ts) while the I/O helper thread does the async work, so a synchronous handler can
// wait on the network without callbacks or await, and the acceptor sends other requests to other
// workers meanwhile. Semantics and timeouts of each shim: docs/shims.md.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ShimFetchResult } from '../lib/messages.js';
import { shimContext } from './context.js';
import { headerPairs, hasHeader, SyncHeaders, type SyncHeadersInit } from './headers.js';
import { callHelper, callHelperAsync, parkFor } from './park.js';

export { installShimContext, type ShimContext } from './context.js';
export { SyncHeaders, type SyncHeadersInit } from './headers.js';

/** Defaults (ms / bytes); each call may pass its own. */
export const DEFAULT_FETCH_TIMEOUT_MS = 30_000;
export const DEFAULT_FETCH_MAX_BODY = 16 * 1024 * 1024;
export const DEFAULT_FN_TIMEOUT_MS = 30_000;
export const DEFAULT_LOOKUP_TIMEOUT_MS = 10_000;
export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
const MAX_WAIT_MS = 2 ** 31 - 1;

/** Block this worker thread for `ms` milliseconds, published as `parked` (no helper involved). */
export function sleep(ms: number): void {
  parkFor(ms, sleep);
}

// ── fetchSync ───────────────────────────────────────────────────────────────────────────────────
export interface FetchSyncInit {
  method?: string;
  /** What fetch() takes: a Headers, `[name, value]` pairs, or a record. */
  headers?: SyncHeadersInit;
  body?: string | Uint8Array | ArrayBuffer | URLSearchParams | null;
  redirect?: 'follow' | 'error' | 'manual';
  /** Milliseconds for the whole exchange, body included (default 30 000). */
  timeout?: number;
  /** Largest response body accepted, in bytes (default 16 MiB); larger: BodyTooLargeError. */
  maxBodySize?: number;
}

export interface FetchSyncResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly url: string;
  readonly redirected: boolean;
  /** The read side of a Headers (not an instance of it: see ./headers.ts); `new Headers(r.headers)` makes one. */
  readonly headers: SyncHeaders;
  /** The whole body (a view of the transferred buffer: no copy). */
  readonly body: Buffer;
  text(): string;
  json(): unknown;
  arrayBuffer(): ArrayBuffer;
}

/** `fetch()`, blocking: returns once the whole response body is here. */
export function fetchSync(url: string | URL, init: FetchSyncInit = {}): FetchSyncResponse {
  // Plain pairs, not a Headers: the helper's fetch() validates them (see ./headers.ts for why).
  const headers = headerPairs(init.headers);
  let body = init.body ?? null;
  if (body instanceof URLSearchParams) {
    if (!hasHeader(headers, 'content-type')) headers.push(['content-type', 'application/x-www-form-urlencoded;charset=UTF-8']);
    body = body.toString();
  }
  const r = callHelper(
    'fetchSync()',
    {
      op: 'fetch',
      url: String(url),
      method: (init.method ?? 'GET').toUpperCase(),
      headers,
      body,
      redirect: init.redirect ?? 'follow',
      maxBytes: init.maxBodySize ?? DEFAULT_FETCH_MAX_BODY,
    },
    init.timeout ?? DEFAULT_FETCH_TIMEOUT_MS,
    [],
    fetchSync,
  ) as ShimFetchResult;
  return new SyncResponse(r);
}

class SyncResponse implements FetchSyncResponse {
  readonly status: number;
  readonly statusText: string;
  readonly url: string;
  readonly redirected: boolean;
  readonly headers: SyncHeaders;
  readonly body: Buffer;

  constructor(r: ShimFetchResult) {
    this.status = r.status;
    this.statusText = r.statusText;
    this.url = r.url;
    this.redirected = r.redirected;
    this.headers = new SyncHeaders(r.headers);
    this.body = Buffer.from(r.body);
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  text(): string {
    return this.body.toString('utf8');
  }

  json(): unknown {
    return JSON.parse(this.text());
  }

  arrayBuffer(): ArrayBuffer {
    return this.body.buffer.slice(this.body.byteOffset, this.body.byteOffset + this.body.byteLength) as ArrayBuffer;
  }
}

// ── createSyncFn ────────────────────────────────────────────────────────────────────────────────
export interface SyncFnOptions {
  /** Milliseconds each call may take (default 30 000). */
  timeout?: number;
}

/** A module URL the helper thread can import: URLs as given, paths made absolute (from the cwd). */
function moduleUrlOf(m: string | URL): string {
  if (m instanceof URL) return m.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(m) && !/^[a-z]:[\\/]/i.test(m)) return m; // file:, data:, node:
  if (m.startsWith('.') || isAbsolute(m)) return pathToFileURL(isAbsolute(m) ? m : resolve(m)).href;
  return m; // a bare package name: resolved from greenserve's own location
}

/**
 * Turn an async function exported by a module into a synchronous one. The module is imported once
 * in the I/O helper thread (on the first call); arguments and results are structured-cloned, and a
 * result that is an ArrayBuffer (or a typed array spanning its whole buffer) is transferred.
 */
export function createSyncFn<A extends unknown[] = unknown[], R = unknown>(
  moduleUrl: string | URL,
  exportName = 'default',
  options: SyncFnOptions = {},
): (...args: A) => R {
  const module = moduleUrlOf(moduleUrl);
  const timeout = options.timeout ?? DEFAULT_FN_TIMEOUT_MS;
  const what = `createSyncFn(${module}#${exportName})`;
  const fn = (...args: A): R => asBuffer(callHelper(what, { op: 'fn', module, name: exportName, args }, timeout, [], fn)) as R;
  return fn;
}

/** A Uint8Array that came back as a result was most likely a Buffer there: make it one again (no copy). */
function asBuffer(v: unknown): unknown {
  return v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
}

// ── lookupSync ──────────────────────────────────────────────────────────────────────────────────
export interface LookupSyncOptions {
  family?: 0 | 4 | 6;
  all?: boolean;
  verbatim?: boolean;
  /** Milliseconds (default 10 000). */
  timeout?: number;
}
export interface LookupAddress {
  address: string;
  family: number;
}

/** `dns.lookup()` (getaddrinfo: /etc/hosts, then DNS), blocking. */
export function lookupSync(host: string, options: LookupSyncOptions & { all: true }): LookupAddress[];
export function lookupSync(host: string, options?: LookupSyncOptions): LookupAddress;
export function lookupSync(host: string, options: LookupSyncOptions = {}): LookupAddress | LookupAddress[] {
  const { timeout = DEFAULT_LOOKUP_TIMEOUT_MS, ...rest } = options;
  return callHelper('lookupSync()', { op: 'lookup', host, options: rest }, timeout, [], lookupSync) as LookupAddress | LookupAddress[];
}

// ── execFileSync ────────────────────────────────────────────────────────────────────────────────
export interface ExecFileSyncOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string | Uint8Array;
  maxBuffer?: number;
  killSignal?: string;
  /** Milliseconds; the child is killed with killSignal past it (default 60 000). */
  timeout?: number;
  /** 'buffer' (default) or a text encoding for the returned stdout. */
  encoding?: BufferEncoding | 'buffer';
}

/**
 * Like child_process.execFileSync, but the child runs from the I/O helper thread: this worker is
 * parked (interruptible by the supervisor's deadline) instead of stuck in a native wait. Returns
 * stdout; a failing command throws with `status`, `signal`, `stdout` and `stderr`.
 */
export function execFileSync(file: string, args: readonly string[] = [], options: ExecFileSyncOptions = {}): Buffer | string {
  const { timeout = DEFAULT_EXEC_TIMEOUT_MS, encoding = 'buffer', input, ...rest } = options;
  const inputData = input === undefined ? undefined : typeof input === 'string' ? input : input.slice().buffer;
  const r = callHelper(
    'execFileSync()',
    { op: 'exec', file, args: [...args], options: { ...rest, ...(inputData === undefined ? {} : { input: inputData }) } },
    timeout,
    [],
    execFileSync,
  ) as { stdout: Uint8Array };
  const out = Buffer.from(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength);
  return encoding === 'buffer' ? out : out.toString(encoding);
}

// ── heavy jobs ──────────────────────────────────────────────────────────────────────────────────
export interface JobOptions {
  /** Milliseconds to wait, queue included (default: twice --jobs-timeout plus 30 s; the job itself is stopped at --jobs-timeout). */
  timeout?: number;
  /** ArrayBuffers in `input` to move to the job instead of copying (they are detached here). */
  transfer?: ArrayBuffer[];
}

function jobTimeout(o: JobOptions): number {
  if (o.timeout !== undefined) return o.timeout;
  // The job itself is stopped at --jobs-timeout from its start; this also covers its time in the
  // pool's queue. The supervisor's request deadline still applies to the parked worker.
  const limit = shimContext()?.shims?.jobsTimeoutMs ?? 0;
  return limit > 0 ? Math.min(2 * limit + 30_000, MAX_WAIT_MS) : MAX_WAIT_MS;
}

/** The heavy-jobs pool (`--jobs NAME=MODULE`): CPU-heavy work off the request threads. */
export const jobs = {
  /** From an async handler: resolves with the job's result. */
  run(name: string, input?: unknown, options: JobOptions = {}): Promise<unknown> {
    return callHelperAsync(`jobs.run(${name})`, { op: 'job', name, input }, jobTimeout(options), options.transfer ?? [], jobs.run).then(asBuffer);
  },
  /** From a synchronous handler: parks this worker until the job is done. */
  runSync(name: string, input?: unknown, options: JobOptions = {}): unknown {
    return asBuffer(callHelper(`jobs.runSync(${name})`, { op: 'job', name, input }, jobTimeout(options), options.transfer ?? [], jobs.runSync));
  },
};
