// Headers for fetchSync without the WHATWG `Headers` class on the worker side. On Node 20 the
// `Headers` global is a lazy getter that loads undici into the thread on first use: measured
// here, 22-33 ms of CPU per worker thread, about as much as starting the worker itself (Node 24's
// node:http loads undici at import anyway). fetchSync is the shim elastic threads exist for, so a
// worker's first call must not pay that: request headers go to the I/O helper as plain pairs (its
// fetch() validates them), and the response headers come back as a SyncHeaders, the read side of
// a Headers over the pairs the helper read.

/** What fetchSync accepts as `init.headers`: what `fetch()` accepts (HeadersInit). */
export type SyncHeadersInit = Iterable<readonly [string, string]> | Record<string, string> | ReadonlyArray<readonly [string, string]>;

/** Plain `[name, value]` pairs from any HeadersInit (a Headers, a SyncHeaders, pairs or a record). */
export function headerPairs(init: SyncHeadersInit | undefined | null): Array<[string, string]> {
  if (init === undefined || init === null) return [];
  const out: Array<[string, string]> = [];
  if (typeof (init as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const pair of init as Iterable<readonly [string, string]>) {
      if (pair.length !== 2) throw new TypeError(`fetchSync(): a header must be a [name, value] pair (got ${pair.length} items)`);
      out.push([String(pair[0]), String(pair[1])]);
    }
    return out;
  }
  for (const [name, value] of Object.entries(init)) out.push([name, String(value)]);
  return out;
}

/** Whether `pairs` has a header `name` (lower-case), case-insensitively. */
export function hasHeader(pairs: ReadonlyArray<readonly [string, string]>, name: string): boolean {
  for (const [n] of pairs) if (n.toLowerCase() === name) return true;
  return false;
}

/**
 * The response headers of a fetchSync call: `get`, `has`, `getSetCookie`, `forEach`, `entries`,
 * `keys`, `values` and iteration behave as on a WHATWG `Headers` (names lower-case, in order,
 * values of one name joined with ", "). Read-only; `new Headers(r.headers)` makes a real one.
 */
export class SyncHeaders implements Iterable<[string, string]> {
  /** As `[...headers]` of the helper's Response gives them: sorted, lower-case, set-cookie unjoined. */
  private readonly list: ReadonlyArray<readonly [string, string]>;

  constructor(list: ReadonlyArray<readonly [string, string]>) {
    this.list = list;
  }

  get(name: string): string | null {
    const n = name.toLowerCase();
    let value: string | null = null;
    for (const [k, v] of this.list) if (k === n) value = value === null ? v : `${value}, ${v}`;
    return value;
  }

  has(name: string): boolean {
    const n = name.toLowerCase();
    for (const [k] of this.list) if (k === n) return true;
    return false;
  }

  getSetCookie(): string[] {
    const out: string[] = [];
    for (const [k, v] of this.list) if (k === 'set-cookie') out.push(v);
    return out;
  }

  forEach(callback: (value: string, name: string, headers: SyncHeaders) => void, thisArg?: unknown): void {
    for (const [k, v] of this.list) callback.call(thisArg, v, k, this);
  }

  *entries(): IterableIterator<[string, string]> {
    for (const [k, v] of this.list) yield [k, v];
  }

  *keys(): IterableIterator<string> {
    for (const [k] of this.list) yield k;
  }

  *values(): IterableIterator<string> {
    for (const [, v] of this.list) yield v;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'SyncHeaders';
  }
}
