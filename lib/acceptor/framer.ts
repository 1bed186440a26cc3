// design: a strict, incremental HTTP/1.1 request framer for the acceptor's hot path (RFC 9112).
// It does not parse requests (workers re-parse with llhttp); it finds where each request ends,
// rejects anything that could frame differently elsewhere (request smuggling), and extracts only
// what decides framing and connection handling (method, target, version, Host, Content-Length,
// Transfer-Encoding, Connection, Expect, Upgrade).
//
// State machine (`state`), advanced by push() over as many requests as a chunk holds:
//
//   HEAD ──blank line──> BODY (Content-Length bytes left) ──┐
//     │  └─────────────> CHUNKED (sub-state `cst`) ──────────┼──> onRequest ──> HEAD (next request)
//     └── no body ───────────────────────────────────────────┘          ├──> CLOSED (not keep-alive)
//   any rule broken ──> onError ──> FAILED                               └──> PAUSED (upgrade)
//
//   CHUNKED: SIZE line ──n>0──> DATA ──> DATA_CR ──> DATA_LF ──> SIZE line ...
//                └──n=0──> TRAILER lines ──blank line──> onRequest
//
// Lines (request line, field lines, chunk-size lines, trailer lines) are read by resumable
// scanners: each validates bytes in one loop and, when the buffer ends mid-line, saves where it
// stopped (`scan`, `phase`, positions `m1`/`m2`) and returns NEED; the next push resumes there.
// Nothing is scanned twice, so a head sent byte by byte costs linear time, and an error is
// reported at the same byte whatever the split (ties between "too long" and a bad byte go to
// whichever byte came first). Fast path: a head wholly inside one chunk is validated in place and
// never copied. Slow path: a head that runs off a chunk is copied into `acc` (a fresh buffer,
// later handed out as parts[0]) and scanning resumes there; later chunks are appended up to the
// next LF (native indexOf), never past the head. A chunk-size or trailer line that straddles
// chunks is completed in `lineBuf`, a scratch copy only for scanning. DATA is skipped by counting.
//
// Invariant: a request's parts are exactly its bytes, in order, as received: the head (through
// the blank line) then the body with its chunked framing. parts[0] holds the whole head (its
// first headEnd bytes). Every part is a subarray of an input chunk except a head that spanned
// chunks, which is one copy. Bytes the framer drops: empty lines before a request line (RFC 9112
// §2.2), and anything after a non-persistent request (the connection is closing). Pushed
// Buffers are referenced, not copied: their memory must not be reused while a request lives.
//
// Streamed bodies: a body larger than `bodyBuffer` (declared by Content-Length, or chunked bytes
// held past it) is not held: the request is handed out (onRequest, `streamed`) with the bytes so
// far, each later piece goes to onBody as it arrives (subarrays of the pushed chunks, split
// exactly at the request's end), and onBodyEnd comes where onRequest would have. Validation and
// limits are the same; an error mid-body is reported by onError as before.
//
// Size: the scanners are the per-byte hot path and stay whole functions on purpose (one loop
// per phase, locals in registers, no closures), which makes this file longer than the usual
// 400 lines.

import { Buffer } from 'node:buffer';

export interface FramerLimits {
  requestLine: number; // longest request line, CRLF excluded -> 414
  fields: number; // most header + trailer field lines -> 431
  fieldSize: number; // longest field line, CRLF excluded -> 431
  /** Longest head (request line, field lines, their CRLFs and the blank line) -> 431; absent: what the line limits allow. */
  head?: number;
  body: number; // largest decoded body -> 413
  /** Body bytes held before the request is handed out with its body to follow (onBody); absent: never. */
  bodyBuffer?: number;
  /**
   * Not a limit: lower-case names of header fields whose values the framer records as it scans
   * the head (FramedRequest.captured), for the access log (request id, Referer, User-Agent).
   * Absent or empty: none, and no name beyond the six framing fields is compared. A framing
   * field's name (Host, Content-Length...) is never captured.
   */
  capture?: readonly string[];
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
  streamed: boolean; // the body is not all in parts: the rest comes in onBody calls, then onBodyEnd
  /**
   * The values of the fields FramerLimits.capture names, in that order: the first field of each
   * name in the head (not the trailers), its value trimmed; null for a name not present. Null
   * when none was present, or nothing is captured.
   */
  captured: Array<string | null> | null;
}

export interface FramerHandler {
  onRequest(req: FramedRequest): void;
  /** Called once; the framer then ignores further input (the acceptor answers and closes). */
  onError(status: number, reason: string): void;
  /** Head with Expect: 100-continue parsed, body not (fully) in yet, declared length in limits. */
  onContinue?(): void;
  /**
   * More raw bytes (chunked framing kept) of the body of the streamed request handed out last.
   * The framer never reads `data`'s bytes again once it has called this (the handler may move the
   * buffer to a worker: lib/ring/layout.ts, UPLOAD_TRANSFER_MIN); it has scanned them already.
   */
  onBody?(data: Buffer): void;
  /** The streamed request's body is complete (and valid); framing goes on with the next request. */
  onBodyEnd?(): void;
}

/** Longest chunk-size line (size and extensions), CRLF excluded; past it 400. */
export const CHUNK_LINE_MAX = 4096;

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

// Scanner phases (where a line scan resumes).
const RL_METHOD = 0;
const RL_TARGET = 1;
const RL_VERSION = 2;
const F_NAME = 0;
const F_OWS = 1;
const F_VALUE = 2;
const F_LF = 3;
const CS_SIZE = 0;
const CS_NEXT = 1; // after the size or an extension: ';' or CR
const CS_NAME = 2;
const CS_VALUE = 3; // just after '='
const CS_TOKEN = 4;
const CS_QUOTED = 5;
const CS_ESCAPED = 6;
const CS_LF = 7;

// Scanner results besides "next position" (always >= 0).
const NEED = -1; // the line is not complete in this buffer; scan state saved
const STOP = -2; // onError was called, or framing stopped
const SKIP = -3; // an empty line before the request line
const BLANK = -4; // the blank line ending a header or trailer section

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const COMMA = 0x2c;
const SEMI = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BSLASH = 0x5c;

// One table lookup per byte classifies it; cheaper than range compares in every loop.
const TCHAR = 1; // token character (RFC 9110 §5.6.2)
const FVALUE = 2; // field-value byte: HTAB, SP, VCHAR, obs-text
const TARGET = 4; // request-target byte: visible ASCII 0x21-0x7E
const QDTEXT = 8; // quoted-string byte other than DQUOTE and backslash
const REGNAME = 16; // reg-name byte other than "%" (RFC 3986 §3.2.2: unreserved / sub-delims)
const CC = new Uint8Array(256);
const HEX = new Uint8Array(256).fill(255);
for (let c = 0; c < 256; c++) {
  const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  if (alnum || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c))) CC[c]! |= TCHAR;
  if (c === HTAB || (c >= 0x20 && c !== 0x7f)) CC[c]! |= FVALUE;
  if (c >= 0x21 && c <= 0x7e) CC[c]! |= TARGET;
  if ((CC[c]! & FVALUE) !== 0 && c !== DQUOTE && c !== BSLASH) CC[c]! |= QDTEXT;
  if (alnum || "-._~!$&'()*+,;=".includes(String.fromCharCode(c))) CC[c]! |= REGNAME;
}
for (let d = 0; d < 16; d++) {
  const ch = d.toString(16);
  HEX[ch.charCodeAt(0)] = d;
  HEX[ch.toUpperCase().charCodeAt(0)] = d;
}
// HTTP-version bytes; 0 stands for a DIGIT.
const VERSION = Uint8Array.from([0x48, 0x54, 0x54, 0x50, 0x2f, 0, 0x2e, 0, CR, LF]);

const bytes = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
const L_HOST = bytes('host');
const L_EXPECT = bytes('expect');
const L_UPGRADE = bytes('upgrade');
const L_CONNECTION = bytes('connection');
const L_CONTENT_LENGTH = bytes('content-length');
const L_TRANSFER_ENCODING = bytes('transfer-encoding');
const L_CHUNKED = bytes('chunked');
const L_CLOSE = bytes('close');
const L_KEEP_ALIVE = bytes('keep-alive');
const L_100_CONTINUE = bytes('100-continue');
const M_PATCH = bytes('PATCH');
const M_DELETE = bytes('DELETE');
const M_OPTIONS = bytes('OPTIONS');

const F_HOST = 1;
const F_EXPECT = 2;
const F_UPGRADE = 3;
const F_CONNECTION = 4;
const F_CONTENT_LENGTH = 5;
const F_TRANSFER_ENCODING = 6;
/** Field ids from here on are captured names: F_CAPTURE + their index in FramerLimits.capture. */
const F_CAPTURE = 16;

/**
 * Case-insensitive compare against a lower-case literal. `b | 0x20` folds only ASCII letters onto
 * the literal's letters; the other bytes it could fold (CR onto '-', 0x10-0x19 onto digits) never
 * get here, they are rejected as token or field-value bytes first.
 */
function ciEq(buf: Buffer, s: number, lit: Uint8Array): boolean {
  for (let k = 0; k < lit.length; k++) if ((buf[s + k]! | 0x20) !== lit[k]) return false;
  return true;
}

function eqAt(buf: Buffer, s: number, lit: Uint8Array): boolean {
  for (let k = 0; k < lit.length; k++) if (buf[s + k] !== lit[k]) return false;
  return true;
}

/** Which framing field a name is; names are compared only at the six interesting lengths. */
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

/** Common methods come back as interned literals: no string allocated for them. */
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

/** absolute-form: scheme "://" ... (authority-form is for CONNECT, which is refused anyway). */
function absoluteForm(b: Buffer, s: number, e: number): boolean {
  const c = b[s]! | 0x20;
  if (c < 0x61 || c > 0x7a) return false;
  let i = s + 1;
  for (; i < e; i++) {
    const x = b[i]!;
    const lc = x | 0x20;
    if (!((lc >= 0x61 && lc <= 0x7a) || (x >= 0x30 && x <= 0x39) || x === 0x2b || x === 0x2d || x === 0x2e)) break;
  }
  if (!(e - i > 3 && b[i] === COLON && b[i + 1] === 0x2f && b[i + 2] === 0x2f)) return false;
  return authority(b, i + 3, e);
}

/**
 * RFC 3986 §3.2 authority, up to the path: [userinfo "@"] host [":" port]. Only absolute-form
 * targets have one; node's parser does not check it, so the acceptor must.
 */
function authority(b: Buffer, s: number, e: number): boolean {
  let end = s;
  while (end < e && b[end] !== 0x2f && b[end] !== 0x3f && b[end] !== 0x23) end++;
  let at = -1;
  for (let i = s; i < end; i++) if (b[i] === 0x40) at = i;
  for (let i = s; i < at; i++) if (!(regNameByte(b[i]!) || b[i] === COLON)) return false;
  return hostPort(b, at + 1 > s ? at + 1 : s, end);
}

/**
 * `uri-host [ ":" port ]` filling [s, e) (RFC 3986 §3.2.2-3): the host is an IP-literal in
 * brackets or a reg-name (unreserved, pct-encoded, sub-delims; possibly empty), of which an IPv4
 * address is one; the port is digits, possibly none. The Host field (RFC 9112 §3.2) and the
 * authority of an absolute-form target.
 */
function hostPort(b: Buffer, s: number, e: number): boolean {
  let h = s;
  if (h < e && b[h] === 0x5b) {
    let close = h + 1;
    while (close < e && b[close] !== 0x5d) close++;
    if (close >= e || !ipLiteral(b, h + 1, close)) return false;
    h = close + 1;
  } else {
    while (h < e) {
      const x = b[h]!;
      if ((CC[x]! & REGNAME) !== 0) {
        h++;
      } else if (x === 0x25) {
        // pct-encoded: "%" HEXDIG HEXDIG
        if (h + 2 >= e || !isHex(b[h + 1]!) || !isHex(b[h + 2]!)) return false;
        h += 3;
      } else {
        break;
      }
    }
  }
  if (h === e) return true;
  if (b[h] !== COLON) return false;
  for (let i = h + 1; i < e; i++) if (b[i]! < 0x30 || b[i]! > 0x39) return false;
  return true;
}

/**
 * The inside of an IP-literal's brackets, [s, e): an IPvFuture ("v" 1*HEXDIG "." 1*( unreserved /
 * sub-delims / ":" )), or an IPv6 address, checked loosely: hex digits, ":" (one at least) and "."
 * (an IPv4 tail).
 */
function ipLiteral(b: Buffer, s: number, e: number): boolean {
  if (s < e && (b[s]! | 0x20) === 0x76) {
    let i = s + 1;
    while (i < e && isHex(b[i]!)) i++;
    if (i === s + 1 || i >= e || b[i] !== 0x2e || i + 1 === e) return false;
    for (i++; i < e; i++) if (!((regNameByte(b[i]!) && b[i] !== 0x25) || b[i] === COLON)) return false;
    return true;
  }
  let colons = 0;
  for (let i = s; i < e; i++) {
    const x = b[i]!;
    if (x === COLON) colons++;
    else if (!(isHex(x) || x === 0x2e)) return false;
  }
  return colons > 0;
}

/** unreserved / sub-delims / "%" (pct-encoded, checked loosely). */
function regNameByte(x: number): boolean {
  const lc = x | 0x20;
  return (
    (lc >= 0x61 && lc <= 0x7a) || (x >= 0x30 && x <= 0x39) ||
    x === 0x2d || x === 0x2e || x === 0x5f || x === 0x7e || x === 0x25 ||
    x === 0x21 || x === 0x24 || (x >= 0x26 && x <= 0x2c) || x === 0x3b || x === 0x3d
  );
}

function isHex(x: number): boolean {
  const lc = x | 0x20;
  return (x >= 0x30 && x <= 0x39) || (lc >= 0x61 && lc <= 0x66);
}

export class Framer {
  private readonly lim: FramerLimits;
  private handler: FramerHandler;
  private readonly maxHead: number;
  private readonly maxFraming: number;
  private state = S_HEAD;

  // the current request's bytes from earlier chunks (null: none yet)
  private parts: Buffer[] | null = null;
  private partsSize = 0;
  private reqStart = 0; // where the current request starts in the chunk being pushed

  // head slow path: the copy, where its open line starts, whether that is the request line
  private acc: Buffer | null = null;
  private accLen = 0;
  private lineStart = 0;
  private inRequestLine = true;

  // a suspended line scan: resume position, phase, saved positions, name id, chunk size so far
  private scan = 0;
  private phase = 0;
  private m1 = 0;
  private m2 = 0;
  private fid = 0;
  private csize = 0;

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
  private framing = 0; // chunked framing bytes so far (size lines and CRLFs)
  private lineBuf: Buffer | null = null;
  private lineLen = 0;

  // Input stashed unframed after an upgrade request, or pause(), until resume() or takeRest()
  private stashed: Buffer[] = [];
  private stashedSize = 0;
  private pauseRequested = false;

  // streamed body: the request handed out early, body bytes handed on since, the threshold
  private streaming: FramedRequest | null = null;
  private streamedBytes = 0;
  private readonly bodyBuffer: number;

  // FramerLimits.capture (null: none) and what this head had of them so far (null: nothing yet)
  private readonly capNames: Uint8Array[] | null;
  private captured: Array<string | null> | null = null;

  constructor(limits: FramerLimits, handler: FramerHandler) {
    this.lim = { ...limits };
    this.handler = handler;
    this.maxHead = Math.min(limits.requestLine + 2 + limits.fields * (limits.fieldSize + 2) + 2, limits.head ?? Infinity);
    // A chunked body's framing may not outweigh its data by much: 1-byte chunks with 4 KiB
    // extensions would otherwise buffer ~4000x the body limit.
    this.maxFraming = Math.max(65536, limits.body);
    this.bodyBuffer = limits.bodyBuffer === undefined || handler.onBody === undefined ? Infinity : limits.bodyBuffer;
    const cap = limits.capture;
    this.capNames = cap === undefined || cap.length === 0 ? null : cap.map((name) => bytes(name.toLowerCase()));
  }

  /** Bytes of an incomplete request held (while paused: bytes held for the new protocol). */
  get buffered(): number {
    const s = this.state;
    if (s === S_HEAD) return this.acc === null ? 0 : this.accLen;
    if (s === S_BODY || s === S_CHUNKED) return this.partsSize + this.streamedBytes;
    return s === S_PAUSED ? this.stashedSize : 0;
  }

  /** Bytes of input held in memory now (an incomplete request, bytes held while paused). */
  get memory(): number {
    return (this.acc === null ? 0 : this.accLen) + this.partsSize + this.stashedSize;
  }

  /**
   * Between requests, holding nothing: no byte of a request in, nothing held, not paused, closed
   * or failed. Such a framer carries no connection's state and can serve another (attach()).
   */
  get clean(): boolean {
    return this.state === S_HEAD && this.acc === null && this.parts === null && this.streaming === null
      && this.stashedSize === 0 && !this.pauseRequested;
  }

  /**
   * Hand a clean framer to another handler (a pool of framers shared by idle connections). The
   * handler must be of the same kind (onBody present or not) as the one it was made with.
   */
  attach(handler: FramerHandler): void {
    this.handler = handler;
  }

  /** An incomplete head is buffered (for the header-read timeout). */
  get inHead(): boolean {
    return this.state === S_HEAD && this.acc !== null;
  }

  get failed(): boolean {
    return this.state === S_FAILED;
  }

  /** A non-persistent request was framed (or takeRest() was called): input is now ignored. */
  get closed(): boolean {
    return this.state === S_CLOSED;
  }

  /**
   * Stop framing after the request being delivered (call from onRequest, e.g. when too many
   * responses are owed): later bytes are held, not framed, until resume().
   */
  pause(): void {
    this.pauseRequested = true;
  }

  /** An upgrade request was framed (or pause() was called); later bytes are held until resume()/takeRest(). */
  get paused(): boolean {
    return this.state === S_PAUSED;
  }

  /** The upgrade was declined: frame the held bytes as HTTP again (call after onRequest returns). */
  resume(): void {
    if (this.state !== S_PAUSED) return;
    this.state = this.keepAlive ? S_HEAD : S_CLOSED;
    const held = this.stashed;
    this.stashed = [];
    this.stashedSize = 0;
    // push() holds again if a held request is itself an upgrade, and ignores input once closed.
    for (let i = 0; i < held.length; i++) this.push(held[i]!);
  }

  /** The upgrade was accepted: take the bytes after the request (call after onRequest returns). */
  takeRest(): Buffer[] {
    const held = this.stashed;
    this.stashed = [];
    this.stashedSize = 0;
    if (this.state === S_PAUSED) this.state = S_CLOSED;
    return held;
  }

  /** Frame as many complete requests as the data holds, in order. Not re-entrant. */
  push(chunk: Buffer): void {
    const st = this.state;
    if (st >= S_PAUSED) {
      if (st === S_PAUSED && chunk.length > 0) {
        this.stashed.push(chunk);
        this.stashedSize += chunk.length;
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
      if (end > this.reqStart) {
        const rest = chunk.subarray(this.reqStart, end);
        if (this.streaming === null) this.stash(rest);
        else {
          this.streamedBytes += rest.length;
          this.handler.onBody!(rest);
        }
      }
      if (this.continuePending) {
        this.continuePending = false;
        this.handler.onContinue?.();
      }
      if (this.streaming === null && this.bodyBuffer !== Infinity && !this.hasUpgrade && this.state === s) this.maybeStream();
    }
  }

  /** The body outgrows bodyBuffer (or will: Content-Length): hand the request out now, its body to follow. */
  private maybeStream(): void {
    const held = this.partsSize - this.headLen;
    if ((this.clSeen ? this.contentLength : held) <= this.bodyBuffer) return;
    const req = this.request(this.parts!, this.partsSize, true);
    this.parts = null;
    this.partsSize = 0;
    this.streaming = req;
    this.streamedBytes = held;
    this.handler.onRequest(req);
  }

  /** One literal at one site: every request object shares a hidden class. */
  private request(parts: Buffer[], size: number, streamed: boolean): FramedRequest {
    return {
      parts,
      size,
      headEnd: this.headLen,
      method: this.method,
      target: this.target,
      http10: this.http10,
      keepAlive: this.keepAlive,
      expectContinue: this.expect100,
      upgrade: this.hasUpgrade,
      bodyLength: this.bodyLength,
      chunked: this.chunked,
      streamed,
      captured: this.captured,
    };
  }

  // ---- head ---------------------------------------------------------------------------------

  /** The head starts in this chunk: scan it in place. */
  private headFast(chunk: Buffer, pos: number, end: number): number {
    let s = pos;
    let r: number;
    for (;;) {
      r = this.requestLine(chunk, s, s, RL_METHOD, end);
      if (r !== SKIP) break;
      s += 2; // an empty line before the request line is dropped (RFC 9112 §2.2)
      if (s === end) return end;
    }
    this.reqStart = s;
    if (r === NEED) return this.toSlow(chunk, s, s, end, true);
    if (r < 0) return STOP;
    for (;;) {
      const ls = r;
      if (ls === end) {
        this.scan = ls;
        this.phase = F_NAME;
        return this.toSlow(chunk, this.reqStart, ls, end, false);
      }
      r = this.field(chunk, ls, ls, F_NAME, end, false);
      if (r >= 0) continue;
      if (r === BLANK) {
        this.headLen = ls + 2 - this.reqStart;
        if (this.headLen > this.maxHead) return this.fail(431, 'request header section too large');
        return this.afterHead(chunk, ls + 2);
      }
      return r === NEED ? this.toSlow(chunk, this.reqStart, ls, end, false) : STOP;
    }
  }

  /** The head runs off this chunk: copy it (from hs) into its own buffer; ls starts the open line. */
  private toSlow(chunk: Buffer, hs: number, ls: number, end: number, inRL: boolean): number {
    const n = end - hs;
    if (n > this.maxHead) return this.fail(431, 'request header section too large');
    const acc = Buffer.allocUnsafe(Math.min(Math.max(1024, n * 2), this.maxHead));
    chunk.copy(acc, 0, hs, end);
    this.acc = acc;
    this.accLen = n;
    this.lineStart = ls - hs;
    this.inRequestLine = inRL;
    // the suspended scan's positions move with the bytes
    this.scan -= hs;
    this.m1 -= hs;
    this.m2 -= hs;
    return end;
  }

  /** Continue a head held in acc: append up to the next LF, resume the suspended line scan. */
  private headSlow(chunk: Buffer, pos: number, end: number): number {
    for (;;) {
      const lf = chunk.indexOf(LF, pos);
      const stop = lf === -1 ? end : lf + 1;
      if (!this.append(chunk, pos, stop)) return STOP;
      pos = stop;
      const acc = this.acc!;
      const ls = this.lineStart;
      const le = this.accLen;
      let r: number;
      if (this.inRequestLine) {
        r = this.requestLine(acc, ls, this.scan, this.phase, le);
        if (r === SKIP) {
          this.acc = null; // only an empty line was held: drop it, back to the fast path
          this.accLen = 0;
          return pos;
        }
      } else {
        r = this.field(acc, ls, this.scan, this.phase, le, false);
        if (r === BLANK) {
          const head = acc.subarray(0, le);
          this.acc = null;
          this.accLen = 0;
          this.parts = [head];
          this.partsSize = le;
          this.headLen = le;
          this.reqStart = pos;
          return this.afterHead(chunk, pos);
        }
      }
      if (r === NEED) return end; // no LF in this chunk: all of it was appended
      if (r < 0) return STOP;
      this.inRequestLine = false;
      this.lineStart = this.scan = le;
      this.phase = F_NAME;
      if (pos === end) return end;
    }
  }

  private append(chunk: Buffer, from: number, to: number): boolean {
    const need = this.accLen + to - from;
    let acc = this.acc!;
    if (need > acc.length) {
      // the head limit (or, without one, the line limits) bound a head by maxHead
      if (need > this.maxHead) {
        this.fail(431, 'request header section too large');
        return false;
      }
      const grown = Buffer.allocUnsafe(Math.min(Math.max(acc.length * 2, need), this.maxHead));
      acc.copy(grown, 0, 0, this.accLen);
      this.acc = acc = grown;
    }
    chunk.copy(acc, this.accLen, from, to);
    this.accLen = need;
    return true;
  }

  /**
   * `method SP request-target SP HTTP-version CRLF`, the line starting at s, resumed at i in
   * phase ph. Returns the position after its LF, SKIP for an empty line, NEED (state saved) or
   * STOP after onError.
   */
  private requestLine(buf: Buffer, s: number, i: number, ph: number, end: number): number {
    let me = this.m1; // method end (set once past RL_METHOD)
    let te = this.m2; // target end (set once past RL_TARGET)
    if (ph === RL_METHOD) {
      if (i === s && buf[s] === CR) {
        if (s + 1 === end) return this.rlNeed(s, s, RL_METHOD, end, 0, 0);
        return buf[s + 1] === LF ? SKIP : this.fail(400, 'bare CR before request line');
      }
      while (i < end && (CC[buf[i]!]! & TCHAR) !== 0) i++;
      if (i === end) return this.rlNeed(s, i, RL_METHOD, end, 0, 0);
      if (buf[i] !== SP || i === s) return this.rlFail(s, i, 'invalid request method');
      me = i++;
      ph = RL_TARGET;
    }
    if (ph === RL_TARGET) {
      while (i < end && (CC[buf[i]!]! & TARGET) !== 0) i++;
      if (i === end) return this.rlNeed(s, i, RL_TARGET, end, me, 0);
      if (buf[i] !== SP || i === me + 1) return this.rlFail(s, i, 'invalid request-target');
      te = i++;
    }
    // RL_VERSION: exactly `HTTP/` DIGIT `.` DIGIT CR LF, checked byte by byte
    const v = te + 1;
    for (;;) {
      if (i === end) return this.rlNeed(s, i, RL_VERSION, end, me, te);
      const c = buf[i]!;
      const want = VERSION[i - v];
      if (want === 0 ? c < 0x30 || c > 0x39 : c !== want) return this.rlFail(s, i, 'invalid HTTP version');
      if (want === LF) break;
      i++;
    }
    if (v + 8 - s > this.lim.requestLine) return this.fail(414, 'request line too long');
    const major = buf[v + 5]! - 0x30;
    const minor = buf[v + 7]! - 0x30;
    if (major !== 1 || minor > 1) return this.fail(505, 'HTTP version not supported');
    const ts = me + 1;
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
    return i + 1;
  }

  /** Suspend a request-line scan, unless the line (which may end in CR) is already too long. */
  private rlNeed(s: number, i: number, ph: number, end: number, me: number, te: number): number {
    if (end - s > this.lim.requestLine + 1) return this.fail(414, 'request line too long');
    this.scan = i;
    this.phase = ph;
    this.m1 = me;
    this.m2 = te;
    return NEED;
  }

  /** A bad byte at i: 414 if the line had already outgrown its limit there (as a split input would). */
  private rlFail(s: number, i: number, reason: string): number {
    return i - s > this.lim.requestLine + 1 ? this.fail(414, 'request line too long') : this.fail(400, reason);
  }

  /**
   * One field line `name ":" OWS value OWS CRLF` starting at s, resumed at i in phase ph; BLANK
   * for the empty line that ends the section. Returns the position after its LF, NEED (state
   * saved) or STOP after onError. Trailer lines may not carry any field the framer reads
   * (framing, routing and connection control; RFC 9110 §6.5.1).
   */
  private field(buf: Buffer, s: number, i: number, ph: number, end: number, trailer: boolean): number {
    let vs = this.m1; // value start (set once past F_OWS)
    if (ph === F_NAME) {
      if (i === s) {
        const c0 = buf[s];
        if (c0 === CR) {
          if (s + 1 === end) return this.fieldNeed(s, s, F_NAME, end, 0);
          return buf[s + 1] === LF ? BLANK : this.fail(400, 'bare CR in field section');
        }
        if (this.fieldCount >= this.lim.fields) return this.fail(431, 'too many header fields');
        if (c0 === SP || c0 === HTAB) return this.fail(400, 'obsolete line folding');
      }
      while (i < end && (CC[buf[i]!]! & TCHAR) !== 0) i++;
      if (i === end) return this.fieldNeed(s, i, F_NAME, end, 0);
      if (buf[i] !== COLON || i === s) return this.fieldFail(s, i, 'invalid field name');
      // Only names of the six interesting lengths are compared at all (and captured names, if any).
      const fid = fieldId(buf, s, i - s);
      this.fid = fid === 0 && this.capNames !== null ? this.captureId(buf, s, i - s) : fid;
      i++;
      ph = F_OWS;
    }
    if (ph === F_OWS) {
      while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
      if (i === end) return this.fieldNeed(s, i, F_OWS, end, 0);
      vs = i;
      ph = F_VALUE;
    }
    if (ph === F_VALUE) {
      while (i < end && (CC[buf[i]!]! & FVALUE) !== 0) i++;
      if (i === end) return this.fieldNeed(s, i, F_VALUE, end, vs);
      if (buf[i] !== CR) return this.fieldFail(s, i, 'invalid character in field value');
      i++;
    }
    // F_LF: i is just past the CR
    if (i === end) return this.fieldNeed(s, i, F_LF, end, vs);
    if (buf[i] !== LF) return this.fieldFail(s, i, 'bare CR in field value');
    const cr = i - 1;
    if (cr - s > this.lim.fieldSize) return this.fail(431, 'header field too long');
    this.fieldCount++;
    const id = this.fid;
    if (id !== 0) {
      let ve = cr;
      while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
      if (id >= F_CAPTURE) {
        if (!trailer) this.capture(id - F_CAPTURE, buf, vs, ve);
        return i + 1;
      }
      if (trailer) return this.fail(400, 'field not allowed in trailers');
      if (this.fieldValue(id, buf, vs, ve) < 0) return STOP;
    }
    return i + 1;
  }

  /** F_CAPTURE + the index of this name in FramerLimits.capture, or 0 (capNames is set). */
  private captureId(buf: Buffer, s: number, len: number): number {
    const names = this.capNames!;
    for (let k = 0; k < names.length; k++) {
      const lit = names[k]!;
      if (lit.length === len && ciEq(buf, s, lit)) return F_CAPTURE + k;
    }
    return 0;
  }

  /** Record the value [vs, ve) of captured name `k`, unless an earlier field of that name was. */
  private capture(k: number, buf: Buffer, vs: number, ve: number): void {
    let c = this.captured;
    if (c === null) c = this.captured = new Array<string | null>(this.capNames!.length).fill(null);
    if (c[k] === null) c[k] = buf.toString('latin1', vs, ve);
  }

  private fieldNeed(s: number, i: number, ph: number, end: number, vs: number): number {
    if (end - s > this.lim.fieldSize + 1) return this.fail(431, 'header field too long');
    this.scan = i;
    this.phase = ph;
    this.m1 = vs;
    return NEED;
  }

  private fieldFail(s: number, i: number, reason: string): number {
    return i - s > this.lim.fieldSize + 1 ? this.fail(431, 'header field too long') : this.fail(400, reason);
  }

  /** Record one framing field (value trimmed to [vs, ve)); STOP after onError, else 0. */
  private fieldValue(id: number, buf: Buffer, vs: number, ve: number): number {
    switch (id) {
      case F_HOST:
        if (++this.hostCount > 1) return this.fail(400, 'duplicate Host');
        if (!hostPort(buf, vs, ve)) return this.fail(400, 'invalid Host'); // RFC 9112 §3.2: MUST 400
        return 0;
      case F_CONTENT_LENGTH: {
        if (this.clSeen) return this.fail(400, 'duplicate Content-Length');
        if (ve === vs) return this.fail(400, 'invalid Content-Length');
        let v = 0;
        for (let i = vs; i < ve; i++) {
          const d = buf[i]! - 0x30;
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

  /**
   * Only a lone `chunked` is accepted (RFC 9112 §6.3): chunked missing, not last or twice -> 400;
   * chunked last after other (well-formed) codings -> 501, we decode none.
   */
  private transferEncoding(buf: Buffer, vs: number, ve: number): number {
    if (this.teSeen) return this.fail(400, 'multiple Transfer-Encoding fields');
    this.teSeen = true;
    let i = vs;
    let chunkedCount = 0;
    let last = false;
    let other = false;
    for (;;) {
      const ts = i;
      while (i < ve && (CC[buf[i]!]! & TCHAR) !== 0) i++;
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
    this.hasUpgrade = this.hasUpgrade && this.connUpgrade && !http10; // §7.8: ignored in HTTP/1.0
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
        default: {
          // C_SIZE or C_TRAILER: a whole line; a trailer section's blank line ends the request
          const r = this.line(chunk, pos, end, this.cst === C_TRAILER);
          if (r < 0) return r === NEED ? end : STOP;
          if (this.state !== S_CHUNKED) return r;
          pos = r;
        }
      }
    }
    return end;
  }

  /**
   * A chunk-size or trailer line at pos: scanned in place, or, once it straddles chunks,
   * completed in lineBuf (a scratch copy for scanning; parts keep the original bytes).
   */
  private line(chunk: Buffer, pos: number, end: number, trailer: boolean): number {
    let r: number;
    let next: number;
    if (this.lineLen === 0) {
      r = trailer ? this.field(chunk, pos, pos, F_NAME, end, true) : this.sizeLine(chunk, pos, pos, CS_SIZE, end);
      if (r === NEED) {
        // hold the open line (the scanner checked it is within its limit), rebased to 0
        if (this.lineBuf === null) this.lineBuf = Buffer.allocUnsafe(Math.max(this.lim.fieldSize, CHUNK_LINE_MAX) + 2);
        chunk.copy(this.lineBuf, 0, pos, end);
        this.lineLen = end - pos;
        this.scan -= pos;
        this.m1 -= pos;
        return NEED;
      }
      next = r === BLANK ? pos + 2 : r;
    } else {
      const lb = this.lineBuf!;
      const lf = chunk.indexOf(LF, pos);
      // never past lineBuf: a line that fills it is too long, the scanner says so
      next = Math.min(lf === -1 ? end : lf + 1, pos + lb.length - this.lineLen);
      chunk.copy(lb, this.lineLen, pos, next);
      this.lineLen += next - pos;
      r = trailer
        ? this.field(lb, 0, this.scan, this.phase, this.lineLen, true)
        : this.sizeLine(lb, 0, this.scan, this.phase, this.lineLen);
      if (r === NEED) return NEED;
      this.lineLen = 0;
    }
    if (r === BLANK) return this.finish(chunk, next);
    return r < 0 ? STOP : next;
  }

  /**
   * `1*HEXDIG *( ";" token [ "=" ( token / quoted-string ) ] ) CRLF` starting at s, resumed at i
   * in phase ph. No whitespace anywhere outside quotes: RFC 9112 allows BWS around ';' and '=',
   * llhttp (the workers' parser) rejects it, and so do we.
   */
  private sizeLine(buf: Buffer, s: number, i: number, ph: number, end: number): number {
    let m = this.m1; // start of the current extension name or token value
    if (ph === CS_SIZE) {
      let size = this.csize;
      while (i < end) {
        const h = HEX[buf[i]!]!;
        if (h === 255) break;
        size = size * 16 + h;
        i++;
      }
      this.csize = size;
      if (i === end) return this.sizeNeed(s, i, CS_SIZE, end, 0);
      if (i === s || i - s > 16) return this.fail(400, 'invalid chunk size');
      ph = CS_NEXT;
    }
    for (;;) {
      if (i === end) return this.sizeNeed(s, i, ph, end, m);
      const c = buf[i]!;
      switch (ph) {
        case CS_NEXT:
          if (c === SEMI) {
            m = ++i;
            ph = CS_NAME;
          } else if (c === CR) {
            i++;
            ph = CS_LF;
          } else {
            return this.fail(400, 'invalid chunk size line');
          }
          break;
        case CS_NAME:
          while (i < end && (CC[buf[i]!]! & TCHAR) !== 0) i++;
          if (i === end) break;
          if (i === m) return this.fail(400, 'invalid chunk extension');
          if (buf[i] === EQUALS) {
            i++;
            ph = CS_VALUE;
          } else {
            ph = CS_NEXT;
          }
          break;
        case CS_VALUE:
          if (c === DQUOTE) {
            i++;
            ph = CS_QUOTED;
          } else {
            m = i;
            ph = CS_TOKEN;
          }
          break;
        case CS_TOKEN:
          while (i < end && (CC[buf[i]!]! & TCHAR) !== 0) i++;
          if (i === end) break;
          if (i === m) return this.fail(400, 'invalid chunk extension');
          ph = CS_NEXT;
          break;
        case CS_QUOTED:
          while (i < end && (CC[buf[i]!]! & QDTEXT) !== 0) i++;
          if (i === end) break;
          if (buf[i] === DQUOTE) ph = CS_NEXT;
          else if (buf[i] === BSLASH) ph = CS_ESCAPED;
          else return this.fail(400, 'invalid chunk extension');
          i++;
          break;
        case CS_ESCAPED:
          if ((CC[c]! & FVALUE) === 0) return this.fail(400, 'invalid chunk extension');
          i++;
          ph = CS_QUOTED;
          break;
        default: // CS_LF
          if (c !== LF) return this.fail(400, 'invalid chunk size line');
          return this.sizeDone(s, i);
      }
    }
  }

  /** The size line [s, lf] is complete: account for the chunk. */
  private sizeDone(s: number, lf: number): number {
    const size = this.csize;
    this.csize = 0;
    if (lf - 1 - s > CHUNK_LINE_MAX) return this.fail(400, 'chunk extensions too long');
    if (size > this.lim.body - this.bodyLength) return this.fail(413, 'request body too large');
    this.framing += lf + 3 - s; // this line and the CRLF after the data
    if (this.framing > this.maxFraming) return this.fail(413, 'chunked framing too large');
    this.bodyLength += size;
    if (size === 0) {
      this.cst = C_TRAILER;
    } else {
      this.cst = C_DATA;
      this.chunkLeft = size;
    }
    return lf + 1;
  }

  private sizeNeed(s: number, i: number, ph: number, end: number, m: number): number {
    if (end - s > CHUNK_LINE_MAX + 1) return this.fail(400, 'chunk extensions too long');
    this.scan = i;
    this.phase = ph;
    this.m1 = m;
    return NEED;
  }

  // ---- requests out -------------------------------------------------------------------------

  private stash(part: Buffer): void {
    if (this.parts === null) this.parts = [part];
    else this.parts.push(part);
    this.partsSize += part.length;
  }

  /** The request ends at endPos in chunk: hand it out and get ready for the next one. */
  private finish(chunk: Buffer, endPos: number): number {
    const streamed = this.streaming;
    let req: FramedRequest;
    if (streamed !== null) {
      // The streamed body ends here: its last piece, then onBodyEnd (the request went out already).
      const last = endPos > this.reqStart ? chunk.subarray(this.reqStart, endPos) : null;
      req = streamed;
      this.streaming = null;
      this.streamedBytes = 0;
      this.reqStart = endPos;
      this.resetHead();
      if (last !== null) this.handler.onBody!(last);
      this.handler.onBodyEnd!();
    } else {
      let parts = this.parts;
      let size = this.partsSize;
      if (endPos > this.reqStart) {
        const last = chunk.subarray(this.reqStart, endPos);
        if (parts === null) parts = [last];
        else parts.push(last);
        size += endPos - this.reqStart;
      }
      req = this.request(parts!, size, false);
      this.parts = null;
      this.partsSize = 0;
      this.reqStart = endPos;
      this.resetHead();
      this.handler.onRequest(req);
    }
    const pause = this.pauseRequested;
    this.pauseRequested = false;
    if (req.upgrade || (pause && req.keepAlive)) {
      this.state = S_PAUSED;
      this.keepAlive = req.keepAlive;
      if (endPos < chunk.length) {
        this.stashed.push(chunk.subarray(endPos));
        this.stashedSize += chunk.length - endPos;
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
    this.scan = this.phase = this.m1 = this.m2 = this.fid = this.csize = 0;
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
    this.captured = null;
    this.remaining = 0;
    this.chunkLeft = 0;
    this.bodyLength = 0;
    this.framing = 0;
    this.lineLen = 0;
  }

  private fail(status: number, reason: string): number {
    this.state = S_FAILED;
    this.acc = null;
    this.streaming = null;
    this.streamedBytes = 0;
    this.parts = null;
    this.partsSize = 0;
    this.stashed = [];
    this.stashedSize = 0;
    this.continuePending = false;
    this.handler.onError(status, reason);
    return STOP;
  }
}
