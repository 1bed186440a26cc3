// design: a strict, incremental HTTP/1.1 request framer for the acceptor's hot path (RFC 9112).
// It does not parse requests (workers re-parse with llhttp); it finds where each request ends,
// rejects anything that could frame differently elsewhere (request smuggling), and extracts only
// what decides framing and connection handling (method, target, version, Host, Content-Length,
// Transfer-Encoding, Connection, Expect, Upgrade).
//
// State machine (`state`), advanced by push() over as many requests as a chunk holds:
//
//   HEAD ──blank line──> BODY (Content-Length left) ──┐
//     │  └──────────────> CHUNKED (sub-state `cst`) ───┤──> onRequest ──> HEAD (next request)
//     └── no body ─────────────────────────────────────┘          ├──> CLOSED (not keep-alive)
//   any rule broken ──> onError ──> FAILED                         └──> PAUSED (upgrade)
//
//   CHUNKED: SIZE line ─n>0─> DATA ─> DATA_CR ─> DATA_LF ─> SIZE ...
//              └─n=0─> TRAILER lines ─blank─> END_LF ─> onRequest
//
// HEAD is scanned line by line. Fast path: the head lies in one chunk, each line is validated by
// one byte loop in place and nothing is copied. Slow path: a head that runs off the end of a chunk
// is copied into `acc` (its own buffer, later handed out as parts[0]); further chunks are searched
// for LF with the native indexOf and each line is validated once, when complete, so a head sent
// byte by byte costs linear time. Chunk-size and trailer lines that straddle chunks are completed
// in `lineBuf` (a scratch copy used only for scanning) the same way. Every other state works byte
// by byte or by counting, so any split point, inside CRLF, a hex size or an extension, is fine.
//
// Invariant: a request's parts are exactly its bytes, in order, as received: the head (through
// the blank line) then the body with its chunked framing. parts[0] always holds the whole head
// (its first headEnd bytes). Every part is a subarray of an input chunk except a head that spanned
// chunks, which is one copy. Bytes dropped by the framer: empty lines before a request line
// (RFC 9112 §2.2), and anything after a non-persistent request (the connection is closing).
// A chunk is not copied or retained beyond the subarrays in parts, so callers may not reuse a
// pushed Buffer's memory while a framed request that references it is alive.
//
// Long functions: requestLine(), field() and bodyChunked() are the per-byte hot path and stay
// whole on purpose (one loop each, locals in registers, no closures); see STYLE.md rule 10.

import { Buffer } from 'node:buffer';

export interface FramerLimits {
  requestLine: number; // longest request line, CRLF excluded -> 414
  fields: number; // most header + trailer field lines -> 431
  fieldSize: number; // longest field line, CRLF excluded -> 431
  body: number; // largest decoded body -> 413
}

export interface FramedRequest {
  parts: Buffer[]; // exactly this request's bytes: head + body as received (chunked framing kept)
  size: number; // total bytes in parts
  headEnd: number; // head length; the head is parts[0].subarray(0, headEnd)
  method: string;
  target: string;
  http10: boolean;
  keepAlive: boolean; // RFC 9112 §9.3
  expectContinue: boolean; // HTTP/1.1 with Expect: 100-continue
  upgrade: boolean; // Upgrade field present and Connection: upgrade
  bodyLength: number; // decoded body length
  chunked: boolean; // body framed by Transfer-Encoding: chunked
}

export interface FramerHandler {
  onRequest(req: FramedRequest): void;
  /** Called once; the framer then ignores further input (the acceptor answers and closes). */
  onError(status: number, reason: string): void;
  /** Head with Expect: 100-continue parsed, body not (fully) in yet, declared length in limits. */
  onContinue?(): void;
}

const S_HEAD = 0;
const S_BODY = 1;
const S_CHUNKED = 2;
const S_PAUSED = 3;
const S_CLOSED = 4;
const S_FAILED = 5;

const C_SIZE = 0;
const C_DATA = 1;
const C_DATA_CR = 2;
const C_DATA_LF = 3;
const C_TRAILER = 4;
const C_END_LF = 5;

// Scanner results besides "next position" (always >= 0).
const NEED = -1; // the line is not complete in this buffer
const STOP = -2; // onError was called (or framing stopped)
const SKIP = -3; // an empty line before the request line

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const COMMA = 0x2c;
const SEMI = 0x3b;
const DQUOTE = 0x22;
const BSLASH = 0x5c;

/** Longest chunk-size line (size + extensions), CRLF excluded. */
export const CHUNK_LINE_MAX = 4096;

// One table lookup per byte classifies it; cheaper than range compares in every loop.
const TCHAR = 1; // token character (RFC 9110 §5.6.2)
const FVALUE = 2; // field-value byte: HTAB, SP, VCHAR, obs-text
const TARGET = 4; // request-target byte: visible ASCII 0x21-0x7E
const QDTEXT = 8; // quoted-string byte other than DQUOTE and backslash
const CC = new Uint8Array(256);
const HEX = new Uint8Array(256).fill(255);
for (let c = 0; c < 256; c++) {
  const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  if (alnum || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c))) CC[c] |= TCHAR;
  if (c === HTAB || (c >= 0x20 && c !== 0x7f)) CC[c] |= FVALUE;
  if (c >= 0x21 && c <= 0x7e) CC[c] |= TARGET;
  if ((CC[c] & FVALUE) !== 0 && c !== DQUOTE && c !== BSLASH) CC[c] |= QDTEXT;
}
for (let d = 0; d < 16; d++) {
  const ch = d.toString(16);
  HEX[ch.charCodeAt(0)] = d;
  HEX[ch.toUpperCase().charCodeAt(0)] = d;
}

const lower = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1')); // bytes of s, as written
const L_HOST = lower('host');
const L_EXPECT = lower('expect');
const L_UPGRADE = lower('upgrade');
const L_CONNECTION = lower('connection');
const L_CONTENT_LENGTH = lower('content-length');
const L_TRANSFER_ENCODING = lower('transfer-encoding');
const L_CHUNKED = lower('chunked');
const L_CLOSE = lower('close');
const L_KEEP_ALIVE = lower('keep-alive');
const L_100_CONTINUE = lower('100-continue');

const F_HOST = 1;
const F_EXPECT = 2;
const F_UPGRADE = 3;
const F_CONNECTION = 4;
const F_CONTENT_LENGTH = 5;
const F_TRANSFER_ENCODING = 6;

/**
 * Case-insensitive compare against a lower-case literal. `b | 0x20` folds only ASCII letters onto
 * the literal's letters; the other bytes it could fold (CR onto '-', 0x10-0x19 onto digits) never
 * reach here, they are rejected as field or token bytes first.
 */
function ciEq(buf: Buffer, s: number, lit: Uint8Array): boolean {
  for (let k = 0; k < lit.length; k++) if ((buf[s + k] | 0x20) !== lit[k]) return false;
  return true;
}

/** Which framing field a name is; names are only compared at the six interesting lengths. */
function fieldId(buf: Buffer, s: number, len: number): number {
  switch (len) {
    case 4: return ciEq(buf, s, L_HOST) ? F_HOST : 0;
    case 6: return ciEq(buf, s, L_EXPECT) ? F_EXPECT : 0;
    case 7: return ciEq(buf, s, L_UPGRADE) ? F_UPGRADE : 0;
    case 10: return ciEq(buf, s, L_CONNECTION) ? F_CONNECTION : 0;
    case 14: return ciEq(buf, s, L_CONTENT_LENGTH) ? F_CONTENT_LENGTH : 0;
    case 17: return ciEq(buf, s, L_TRANSFER_ENCODING) ? F_TRANSFER_ENCODING : 0;
    default: return 0;
  }
}

// Buffer#asciiSlice is undocumented but present since Node 0.x; it skips toString()'s encoding
// dispatch (~55 ns vs ~100 ns for a 16-byte target). Targets are validated ASCII, so it is exact.
type Sliceable = Buffer & { asciiSlice?: (s: number, e: number) => string };
const hasAsciiSlice = typeof (Buffer.prototype as Sliceable).asciiSlice === 'function';
function ascii(buf: Buffer, s: number, e: number): string {
  return hasAsciiSlice ? (buf as Sliceable).asciiSlice!(s, e) : buf.toString('latin1', s, e);
}

const M_PATCH = lower('PATCH');
const M_DELETE = lower('DELETE');
const M_OPTIONS = lower('OPTIONS');

function eqAt(b: Buffer, s: number, lit: Uint8Array): boolean {
  for (let k = 0; k < lit.length; k++) if (b[s + k] !== lit[k]) return false;
  return true;
}

/** Common methods as interned literals: no string allocation for them. */
function methodName(b: Buffer, s: number, len: number): string {
  const c = b[s];
  switch (len) {
    case 3:
      if (c === 0x47 && b[s + 1] === 0x45 && b[s + 2] === 0x54) return 'GET';
      if (c === 0x50 && b[s + 1] === 0x55 && b[s + 2] === 0x54) return 'PUT';
      break;
    case 4:
      if (c === 0x50 && b[s + 1] === 0x4f && b[s + 2] === 0x53 && b[s + 3] === 0x54) return 'POST';
      if (c === 0x48 && b[s + 1] === 0x45 && b[s + 2] === 0x41 && b[s + 3] === 0x44) return 'HEAD';
      break;
    case 5:
      if (eqAt(b, s, M_PATCH)) return 'PATCH';
      break;
    case 6:
      if (eqAt(b, s, M_DELETE)) return 'DELETE';
      break;
    case 7:
      if (eqAt(b, s, M_OPTIONS)) return 'OPTIONS';
      break;
  }
  return ascii(b, s, s + len);
}

/** absolute-form: scheme "://" ... (authority-form is CONNECT-only, which is refused anyway). */
function absoluteForm(b: Buffer, s: number, e: number): boolean {
  const c = b[s] | 0x20;
  if (c < 0x61 || c > 0x7a) return false;
  let i = s + 1;
  for (; i < e; i++) {
    const x = b[i];
    const lc = x | 0x20;
    if (!((lc >= 0x61 && lc <= 0x7a) || (x >= 0x30 && x <= 0x39) || x === 0x2b || x === 0x2d || x === 0x2e)) break;
  }
  return e - i > 3 && b[i] === COLON && b[i + 1] === 0x2f && b[i + 2] === 0x2f;
}

export class Framer {
  private readonly lim: FramerLimits;
  private readonly handler: FramerHandler;
  private readonly maxHead: number;
  private readonly maxFraming: number;
  private state = S_HEAD;

  // current request's bytes gathered from earlier chunks (null: none yet)
  private parts: Buffer[] | null = null;
  private partsSize = 0;
  private reqStart = 0; // where the current request starts in the chunk being pushed

  // head: slow-path copy, the start of its incomplete line, whether that is the request line
  private acc: Buffer | null = null;
  private accLen = 0;
  private lineStart = 0;
  private inRequestLine = true;

  // what the head said (reset per request in resetHead)
  private method = '';
  private target = '';
  private http10 = false;
  private headLen = 0;
  private fieldCount = 0;
  private hostCount = 0;
  private clSeen = false;
  private contentLength = 0;
  private teSeen = false;
  private chunked = false;
  private connClose = false;
  private connKeepAlive = false;
  private connUpgrade = false;
  private hasUpgrade = false;
  private expect100 = false;
  private keepAlive = true;
  private continuePending = false;

  // body
  private remaining = 0; // Content-Length bytes still to come
  private cst = C_SIZE;
  private chunkLeft = 0;
  private bodyLength = 0;
  private framing = 0; // chunked framing bytes so far (size lines, CRLFs)
  private lineBuf: Buffer | null = null;
  private lineLen = 0;

  // after an upgrade request
  private held: Buffer[] = [];
  private heldSize = 0;

  constructor(limits: FramerLimits, handler: FramerHandler) {
    this.lim = { ...limits };
    this.handler = handler;
    this.maxHead = limits.requestLine + 2 + limits.fields * (limits.fieldSize + 2) + 2;
    // A chunked body's framing may not outweigh its data by much: 1-byte chunks with 4 KiB
    // extensions would otherwise buffer ~4000x the body limit.
    this.maxFraming = Math.max(65536, limits.body);
  }

  /** Bytes of an incomplete request held (or, while paused, bytes held for the new protocol). */
  get buffered(): number {
    const s = this.state;
    if (s === S_HEAD) return this.acc === null ? 0 : this.accLen;
    if (s === S_BODY || s === S_CHUNKED) return this.partsSize;
    return s === S_PAUSED ? this.heldSize : 0;
  }

  /** An incomplete head is buffered (for the header-read timeout). */
  get inHead(): boolean {
    return this.state === S_HEAD && this.acc !== null && this.accLen > 0;
  }

  get failed(): boolean {
    return this.state === S_FAILED;
  }

  /** A non-persistent request was framed (or takeRest() was called): input is now ignored. */
  get closed(): boolean {
    return this.state === S_CLOSED;
  }

  /** An upgrade request was framed; later bytes are held, not framed, until resume()/takeRest(). */
  get paused(): boolean {
    return this.state === S_PAUSED;
  }

  /** The upgrade was declined: frame the held bytes as HTTP again. */
  resume(): void {
    if (this.state !== S_PAUSED) return;
    this.state = this.keepAlive ? S_HEAD : S_CLOSED;
    const held = this.held;
    this.held = [];
    this.heldSize = 0;
    // push() holds again if a held request is itself an upgrade, and ignores input once closed.
    for (let i = 0; i < held.length; i++) this.push(held[i]);
  }

  /** The upgrade was accepted: take the bytes that followed the request; the framer is done. */
  takeRest(): Buffer[] {
    const held = this.held;
    this.held = [];
    this.heldSize = 0;
    if (this.state === S_PAUSED) this.state = S_CLOSED;
    return held;
  }

  /** Frame as many complete requests as the data holds, in order. Not re-entrant. */
  push(chunk: Buffer): void {
    const st = this.state;
    if (st >= S_PAUSED) {
      if (st === S_PAUSED && chunk.length > 0) {
        this.held.push(chunk);
        this.heldSize += chunk.length;
      }
      return;
    }
    const end = chunk.length;
    let pos = 0;
    this.reqStart = 0;
    while (pos < end) {
      const s = this.state;
      if (s === S_HEAD) pos = this.acc === null ? this.headFast(chunk, pos, end) : this.headSlow(chunk, pos, end);
      else if (s === S_BODY) pos = this.bodyCL(chunk, pos, end);
      else if (s === S_CHUNKED) pos = this.bodyChunked(chunk, pos, end);
      else return;
      if (pos < 0) return;
    }
    const s = this.state;
    if (s === S_BODY || s === S_CHUNKED) {
      if (end > this.reqStart) this.stash(chunk.subarray(this.reqStart, end));
      if (this.continuePending) {
        this.continuePending = false;
        this.handler.onContinue?.();
      }
    }
  }

  // ---- head ---------------------------------------------------------------------------------

  /** The head starts in this chunk: scan it in place. */
  private headFast(chunk: Buffer, pos: number, end: number): number {
    let s = pos;
    let r: number;
    for (;;) {
      r = this.requestLine(chunk, s, end);
      if (r !== SKIP) break;
      s += 2; // an empty line before the request line is dropped (RFC 9112 §2.2)
      if (s === end) return end;
    }
    this.reqStart = s;
    if (r === NEED) return this.toSlow(chunk, s, s, end, true);
    if (r < 0) return STOP;
    s = r;
    for (;;) {
      if (s === end) return this.toSlow(chunk, this.reqStart, s, end, false);
      if (chunk[s] === CR) {
        if (s + 1 === end) return this.toSlow(chunk, this.reqStart, s, end, false);
        if (chunk[s + 1] !== LF) return this.fail(400, 'bare CR in header section');
        this.headLen = s + 2 - this.reqStart;
        return this.afterHead(chunk, s + 2);
      }
      r = this.field(chunk, s, end, false);
      if (r === NEED) return this.toSlow(chunk, this.reqStart, s, end, false);
      if (r < 0) return STOP;
      s = r;
    }
  }

  /** The head runs off this chunk: copy it (from hs) into its own buffer; ls starts the open line. */
  private toSlow(chunk: Buffer, hs: number, ls: number, end: number, inRL: boolean): number {
    if (!this.lineFits(end - ls, inRL)) return STOP;
    const n = end - hs;
    if (n > this.maxHead) return this.fail(431, 'request header section too large');
    const acc = Buffer.allocUnsafe(Math.min(Math.max(1024, n * 2), this.maxHead));
    chunk.copy(acc, 0, hs, end);
    this.acc = acc;
    this.accLen = n;
    this.lineStart = ls - hs;
    this.inRequestLine = inRL;
    return end;
  }

  /** Incomplete line of `len` bytes so far (it may end in CR): fail if it is already too long. */
  private lineFits(len: number, inRL: boolean): boolean {
    if (len <= (inRL ? this.lim.requestLine : this.lim.fieldSize) + 1) return true;
    if (inRL) this.fail(414, 'request line too long');
    else this.fail(431, 'header field too long');
    return false;
  }

  /** Continue a head held in acc: add whole lines found with indexOf, validate each once. */
  private headSlow(chunk: Buffer, pos: number, end: number): number {
    for (;;) {
      const lf = chunk.indexOf(LF, pos);
      const stop = lf === -1 ? end : lf + 1;
      const n = stop - pos;
      if (!this.lineFits(this.accLen - this.lineStart + n - (lf === -1 ? 0 : 1), this.inRequestLine)) return STOP;
      if (this.accLen + n > this.maxHead) {
        return this.fail(this.inRequestLine ? 414 : 431, 'request header section too large');
      }
      this.append(chunk, pos, stop);
      pos = stop;
      if (lf === -1) return end;
      const acc = this.acc!;
      const ls = this.lineStart;
      const le = this.accLen;
      if (this.inRequestLine) {
        const r = this.requestLine(acc, ls, le);
        if (r === SKIP) {
          this.acc = null; // only the empty line was held: drop it, back to the fast path
          this.accLen = 0;
          return pos;
        }
        if (r === NEED) return this.fail(400, 'invalid request line');
        if (r < 0) return STOP;
        this.inRequestLine = false;
      } else if (acc[ls] === CR) {
        if (le - ls !== 2) return this.fail(400, 'bare CR in header section');
        const head = acc.subarray(0, le);
        this.acc = null;
        this.accLen = 0;
        this.parts = [head];
        this.partsSize = le;
        this.headLen = le;
        this.reqStart = pos;
        return this.afterHead(chunk, pos);
      } else {
        const r = this.field(acc, ls, le, false);
        if (r === NEED) return this.fail(400, 'invalid header field');
        if (r < 0) return STOP;
      }
      this.lineStart = le;
      if (pos === end) return end;
    }
  }

  private append(chunk: Buffer, from: number, to: number): void {
    const n = to - from;
    let acc = this.acc!;
    if (this.accLen + n > acc.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(acc.length * 2, this.accLen + n), this.maxHead));
      acc.copy(grown, 0, 0, this.accLen);
      this.acc = acc = grown;
    }
    chunk.copy(acc, this.accLen, from, to);
    this.accLen += n;
  }

  /**
   * `method SP request-target SP HTTP-version CRLF` at s. Returns the position after its LF,
   * SKIP for an empty line, NEED if incomplete, STOP after onError.
   */
  private requestLine(buf: Buffer, s: number, end: number): number {
    if (buf[s] === CR) {
      if (s + 1 === end) return NEED;
      return buf[s + 1] === LF ? SKIP : this.fail(400, 'invalid request line');
    }
    const lim = this.lim.requestLine;
    let i = s;
    while (i < end && (CC[buf[i]] & TCHAR) !== 0) i++;
    if (i === end) return this.rlNeed(s, end);
    if (buf[i] !== SP || i === s) return this.fail(400, 'invalid request method');
    const me = i++;
    const ts = i;
    while (i < end && (CC[buf[i]] & TARGET) !== 0) i++;
    if (i === end) return this.rlNeed(s, end);
    if (buf[i] !== SP || i === ts) return this.fail(400, 'invalid request-target');
    const te = i++;
    if (te - s > lim) return this.fail(414, 'request line too long');
    if (end - i < 10) {
      // incomplete version: fail now if the line already ended early, else wait
      for (let k = i; k < end && k < i + 8; k++) if (buf[k] === CR || buf[k] === LF) return this.fail(400, 'invalid HTTP version');
      if (end - i === 9 && buf[i + 8] !== CR) return this.fail(400, 'invalid HTTP version');
      return this.rlNeed(s, end);
    }
    const major = buf[i + 5] - 0x30;
    const minor = buf[i + 7] - 0x30;
    if (
      buf[i] !== 0x48 || buf[i + 1] !== 0x54 || buf[i + 2] !== 0x54 || buf[i + 3] !== 0x50 ||
      buf[i + 4] !== 0x2f || major < 0 || major > 9 || buf[i + 6] !== 0x2e || minor < 0 || minor > 9
    ) {
      return this.fail(400, 'invalid HTTP version');
    }
    if (buf[i + 8] !== CR || buf[i + 9] !== LF) return this.fail(400, 'invalid request line ending');
    if (i + 8 - s > lim) return this.fail(414, 'request line too long');
    if (major !== 1 || minor > 1) return this.fail(505, 'HTTP version not supported');
    const method = methodName(buf, s, me - s);
    if (method === 'CONNECT') return this.fail(405, 'CONNECT is not supported');
    const t0 = buf[ts];
    if (t0 !== 0x2f) {
      if (t0 === 0x2a && te - ts === 1) {
        if (method !== 'OPTIONS') return this.fail(400, 'asterisk-form is only for OPTIONS');
      } else if (!absoluteForm(buf, ts, te)) {
        return this.fail(400, 'invalid request-target form');
      }
    }
    this.method = method;
    this.target = te - ts === 1 && t0 === 0x2f ? '/' : ascii(buf, ts, te);
    this.http10 = minor === 0;
    return i + 10;
  }

  private rlNeed(s: number, end: number): number {
    return end - s > this.lim.requestLine + 1 ? this.fail(414, 'request line too long') : NEED;
  }

  /**
   * One field line `name ":" OWS value OWS CRLF` at s (not the blank line). Returns the position
   * after its LF, NEED if incomplete, STOP after onError. Trailer lines may not carry any of the
   * fields the framer reads (framing, routing, connection control).
   */
  private field(buf: Buffer, s: number, end: number, trailer: boolean): number {
    const c0 = buf[s];
    if (c0 === SP || c0 === HTAB) return this.fail(400, 'obsolete line folding');
    let i = s;
    while (i < end && (CC[buf[i]] & TCHAR) !== 0) i++;
    if (i === end) return this.fieldNeed(s, end);
    if (buf[i] !== COLON || i === s) return this.fail(400, 'invalid header field name');
    // Only names of the six interesting lengths are compared at all.
    const id = fieldId(buf, s, i - s);
    i++;
    while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    const vs = i;
    while (i < end && (CC[buf[i]] & FVALUE) !== 0) i++;
    if (i === end) return this.fieldNeed(s, end);
    if (buf[i] !== CR) return this.fail(400, 'invalid character in header field value');
    if (i + 1 === end) return this.fieldNeed(s, end);
    if (buf[i + 1] !== LF) return this.fail(400, 'bare CR in header field');
    if (i - s > this.lim.fieldSize) return this.fail(431, 'header field too long');
    if (++this.fieldCount > this.lim.fields) return this.fail(431, 'too many header fields');
    if (id !== 0) {
      if (trailer) return this.fail(400, 'field not allowed in trailers');
      let ve = i;
      while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
      if (this.fieldValue(id, buf, vs, ve) < 0) return STOP;
    }
    return i + 2;
  }

  private fieldNeed(s: number, end: number): number {
    return end - s > this.lim.fieldSize + 1 ? this.fail(431, 'header field too long') : NEED;
  }

  /** Record one framing field (value trimmed to [vs, ve)); STOP after onError, else 0. */
  private fieldValue(id: number, buf: Buffer, vs: number, ve: number): number {
    switch (id) {
      case F_HOST:
        if (++this.hostCount > 1) return this.fail(400, 'duplicate Host');
        return 0;
      case F_CONTENT_LENGTH: {
        if (this.clSeen) return this.fail(400, 'duplicate Content-Length');
        if (ve === vs) return this.fail(400, 'invalid Content-Length');
        let v = 0;
        for (let i = vs; i < ve; i++) {
          const d = buf[i] - 0x30;
          if (d < 0 || d > 9) return this.fail(400, 'invalid Content-Length');
          v = v * 10 + d; // past 2^53 it loses precision but stays above any body limit
        }
        this.clSeen = true;
        this.contentLength = v;
        return 0;
      }
      case F_TRANSFER_ENCODING:
        return this.transferEncoding(buf, vs, ve);
      case F_CONNECTION:
        this.connection(buf, vs, ve);
        return 0;
      case F_EXPECT:
        if (ve - vs === 12 && ciEq(buf, vs, L_100_CONTINUE)) this.expect100 = true;
        return 0;
      default: // F_UPGRADE
        this.hasUpgrade = true;
        return 0;
    }
  }

  /** Only a lone `chunked` is accepted: chunked not last or twice -> 400; other codings -> 501. */
  private transferEncoding(buf: Buffer, vs: number, ve: number): number {
    if (this.teSeen) return this.fail(400, 'multiple Transfer-Encoding fields');
    this.teSeen = true;
    let i = vs;
    let chunkedCount = 0;
    let last = false;
    let other = false;
    for (;;) {
      const ts = i;
      while (i < ve && (CC[buf[i]] & TCHAR) !== 0) i++;
      if (i === ts) return this.fail(400, 'invalid Transfer-Encoding');
      last = i - ts === 7 && ciEq(buf, ts, L_CHUNKED);
      if (last) chunkedCount++;
      else other = true;
      while (i < ve && (buf[i] === SP || buf[i] === HTAB)) i++;
      if (i === ve) break;
      if (buf[i] !== COMMA) return this.fail(400, 'invalid Transfer-Encoding');
      i++;
      while (i < ve && (buf[i] === SP || buf[i] === HTAB)) i++;
    }
    if (!last || chunkedCount !== 1) return this.fail(400, 'chunked must be the final transfer coding, once');
    if (other) return this.fail(501, 'unsupported transfer coding');
    this.chunked = true;
    return 0;
  }

  /** Connection options: comma-separated, case-insensitive; unknown ones are ignored. */
  private connection(buf: Buffer, vs: number, ve: number): void {
    let i = vs;
    while (i < ve) {
      while (i < ve && (buf[i] === COMMA || buf[i] === SP || buf[i] === HTAB)) i++;
      const ts = i;
      while (i < ve && buf[i] !== COMMA) i++;
      let e = i;
      while (e > ts && (buf[e - 1] === SP || buf[e - 1] === HTAB)) e--;
      const n = e - ts;
      if (n === 5 && ciEq(buf, ts, L_CLOSE)) this.connClose = true;
      else if (n === 10 && ciEq(buf, ts, L_KEEP_ALIVE)) this.connKeepAlive = true;
      else if (n === 7 && ciEq(buf, ts, L_UPGRADE)) this.connUpgrade = true;
    }
  }

  /** The head (headLen bytes, ending at pos) is complete: check it as a whole, pick the body. */
  private afterHead(chunk: Buffer, pos: number): number {
    const http10 = this.http10;
    if (!http10 && this.hostCount !== 1) return this.fail(400, 'HTTP/1.1 request without Host');
    if (this.teSeen) {
      if (http10) return this.fail(400, 'Transfer-Encoding in HTTP/1.0');
      if (this.clSeen) return this.fail(400, 'both Content-Length and Transfer-Encoding');
    } else if (this.clSeen && this.contentLength > this.lim.body) {
      return this.fail(413, 'request body too large');
    }
    this.keepAlive = http10 ? this.connKeepAlive && !this.connClose : !this.connClose;
    const expect = this.expect100 && !http10; // RFC 9110 §10.1.1: ignored in HTTP/1.0
    this.expect100 = expect;
    if (this.chunked) {
      this.state = S_CHUNKED;
      this.cst = C_SIZE;
      this.continuePending = expect;
      return pos;
    }
    if (this.contentLength > 0) {
      this.state = S_BODY;
      this.remaining = this.contentLength;
      this.bodyLength = this.contentLength;
      this.continuePending = expect;
      return pos;
    }
    return this.finish(chunk, pos);
  }

  // ---- body ---------------------------------------------------------------------------------

  private bodyCL(chunk: Buffer, pos: number, end: number): number {
    const n = end - pos;
    if (n < this.remaining) {
      this.remaining -= n;
      return end;
    }
    pos += this.remaining;
    this.remaining = 0;
    return this.finish(chunk, pos);
  }

  private bodyChunked(chunk: Buffer, pos: number, end: number): number {
    while (pos < end) {
      switch (this.cst) {
        case C_DATA: {
          const n = end - pos;
          if (n < this.chunkLeft) {
            this.chunkLeft -= n;
            return end;
          }
          pos += this.chunkLeft;
          this.chunkLeft = 0;
          this.cst = C_DATA_CR;
          break;
        }
        case C_DATA_CR:
          if (chunk[pos] !== CR) return this.fail(400, 'chunk data not followed by CRLF');
          pos++;
          this.cst = C_DATA_LF;
          break;
        case C_DATA_LF:
          if (chunk[pos] !== LF) return this.fail(400, 'chunk data not followed by CRLF');
          pos++;
          this.cst = C_SIZE;
          break;
        case C_SIZE: {
          const r = this.line(chunk, pos, end, false);
          if (r < 0) return r === NEED ? end : STOP;
          pos = r;
          break;
        }
        case C_TRAILER: {
          if (this.lineLen === 0 && chunk[pos] === CR) {
            pos++;
            this.cst = C_END_LF;
            break;
          }
          const r = this.line(chunk, pos, end, true);
          if (r < 0) return r === NEED ? end : STOP;
          pos = r;
          break;
        }
        default: // C_END_LF
          if (chunk[pos] !== LF) return this.fail(400, 'chunked body not terminated by CRLF');
          return this.finish(chunk, pos + 1);
      }
    }
    return end;
  }

  /**
   * A chunk-size line or a trailer line at pos: scanned in place, or completed in lineBuf when
   * it straddles chunks (lineBuf is only for scanning; parts keep the original bytes).
   */
  private line(chunk: Buffer, pos: number, end: number, trailer: boolean): number {
    const max = trailer ? this.lim.fieldSize : CHUNK_LINE_MAX;
    if (this.lineLen === 0) {
      const r = trailer ? this.field(chunk, pos, end, true) : this.sizeLine(chunk, pos, end);
      if (r !== NEED) return r;
      return this.lineHold(chunk, pos, end, max, trailer);
    }
    const lf = chunk.indexOf(LF, pos);
    if (lf === -1) return this.lineHold(chunk, pos, end, max, trailer);
    if (this.lineLen + lf - pos > max + 1) return this.lineTooLong(trailer);
    chunk.copy(this.lineBuf!, this.lineLen, pos, lf + 1);
    const len = this.lineLen + lf + 1 - pos;
    this.lineLen = 0;
    const lb = this.lineBuf!;
    const r = trailer ? this.field(lb, 0, len, true) : this.sizeLine(lb, 0, len);
    if (r === NEED) return this.fail(400, trailer ? 'invalid trailer field' : 'invalid chunk size line');
    return r < 0 ? STOP : lf + 1;
  }

  private lineHold(chunk: Buffer, pos: number, end: number, max: number, trailer: boolean): number {
    const len = this.lineLen + end - pos;
    if (len > max + 1) return this.lineTooLong(trailer);
    if (this.lineBuf === null) this.lineBuf = Buffer.allocUnsafe(Math.max(this.lim.fieldSize, CHUNK_LINE_MAX) + 2);
    chunk.copy(this.lineBuf, this.lineLen, pos, end);
    this.lineLen = len;
    return NEED;
  }

  private lineTooLong(trailer: boolean): number {
    return trailer ? this.fail(431, 'trailer field too long') : this.fail(400, 'chunk extensions too long');
  }

  /** `1*HEXDIG *( ";" token [ "=" ( token / quoted-string ) ] ) CRLF`, no whitespace (as llhttp). */
  private sizeLine(buf: Buffer, s: number, end: number): number {
    let i = s;
    let size = 0;
    while (i < end) {
      const h = HEX[buf[i]];
      if (h === 255) break;
      size = size * 16 + h;
      i++;
    }
    if (i === end) return this.sizeNeed(s, end);
    const digits = i - s;
    if (digits === 0 || digits > 16) return this.fail(400, 'invalid chunk size');
    while (buf[i] === SEMI) {
      const ns = ++i;
      while (i < end && (CC[buf[i]] & TCHAR) !== 0) i++;
      if (i === end) return this.sizeNeed(s, end);
      if (i === ns) return this.fail(400, 'invalid chunk extension');
      if (buf[i] !== 0x3d) continue; // '='
      const vs = ++i;
      if (i < end && buf[i] === DQUOTE) {
        for (i++; ; i++) {
          if (i >= end) return this.sizeNeed(s, end);
          const c = buf[i];
          if (c === DQUOTE) break;
          if (c === BSLASH) {
            if (++i === end) return this.sizeNeed(s, end);
            if ((CC[buf[i]] & FVALUE) === 0) return this.fail(400, 'invalid chunk extension');
          } else if ((CC[c] & QDTEXT) === 0) {
            return this.fail(400, 'invalid chunk extension');
          }
        }
        i++;
      } else {
        while (i < end && (CC[buf[i]] & TCHAR) !== 0) i++;
        if (i === vs) return i === end ? this.sizeNeed(s, end) : this.fail(400, 'invalid chunk extension');
      }
      if (i === end) return this.sizeNeed(s, end);
    }
    if (buf[i] !== CR) return this.fail(400, 'invalid chunk size line');
    if (i + 1 === end) return this.sizeNeed(s, end);
    if (buf[i + 1] !== LF) return this.fail(400, 'invalid chunk size line');
    if (i - s > CHUNK_LINE_MAX) return this.fail(400, 'chunk extensions too long');
    if (size > this.lim.body - this.bodyLength) return this.fail(413, 'request body too large');
    this.framing += i + 4 - s; // this line's bytes and the CRLF after the data
    if (this.framing > this.maxFraming) return this.fail(413, 'chunked framing too large');
    this.bodyLength += size;
    if (size === 0) {
      this.cst = C_TRAILER;
    } else {
      this.cst = C_DATA;
      this.chunkLeft = size;
    }
    return i + 2;
  }

  private sizeNeed(s: number, end: number): number {
    return end - s > CHUNK_LINE_MAX + 1 ? this.fail(400, 'chunk extensions too long') : NEED;
  }

  // ---- requests out -------------------------------------------------------------------------

  private stash(part: Buffer): void {
    if (this.parts === null) this.parts = [part];
    else this.parts.push(part);
    this.partsSize += part.length;
  }

  /** The request ends at endPos in chunk: hand it out and get ready for the next one. */
  private finish(chunk: Buffer, endPos: number): number {
    let parts = this.parts;
    let size = this.partsSize;
    if (endPos > this.reqStart) {
      const last = chunk.subarray(this.reqStart, endPos);
      if (parts === null) parts = [last];
      else parts.push(last);
      size += endPos - this.reqStart;
    }
    // One literal, one site: every request object shares a hidden class.
    const req: FramedRequest = {
      parts: parts!,
      size,
      headEnd: this.headLen,
      method: this.method,
      target: this.target,
      http10: this.http10,
      keepAlive: this.keepAlive,
      expectContinue: this.expect100,
      upgrade: this.hasUpgrade && this.connUpgrade,
      bodyLength: this.bodyLength,
      chunked: this.chunked,
    };
    this.parts = null;
    this.partsSize = 0;
    this.reqStart = endPos;
    this.resetHead();
    this.handler.onRequest(req);
    if (req.upgrade) {
      this.state = S_PAUSED;
      this.keepAlive = req.keepAlive;
      if (endPos < chunk.length) {
        this.held.push(chunk.subarray(endPos));
        this.heldSize += chunk.length - endPos;
      }
      return STOP;
    }
    if (!req.keepAlive) {
      this.state = S_CLOSED;
      return STOP;
    }
    return endPos;
  }

  private resetHead(): void {
    this.state = S_HEAD;
    this.inRequestLine = true;
    this.method = '';
    this.target = '';
    this.http10 = false;
    this.headLen = 0;
    this.fieldCount = 0;
    this.hostCount = 0;
    this.clSeen = false;
    this.contentLength = 0;
    this.teSeen = false;
    this.chunked = false;
    this.connClose = false;
    this.connKeepAlive = false;
    this.connUpgrade = false;
    this.hasUpgrade = false;
    this.expect100 = false;
    this.keepAlive = true;
    this.continuePending = false;
    this.remaining = 0;
    this.chunkLeft = 0;
    this.bodyLength = 0;
    this.framing = 0;
    this.lineLen = 0;
  }

  private fail(status: number, reason: string): number {
    this.state = S_FAILED;
    this.acc = null;
    this.parts = null;
    this.partsSize = 0;
    this.continuePending = false;
    this.handler.onError(status, reason);
    return STOP;
  }
}
