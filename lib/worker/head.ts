// design: the worker's direct reading of a request head. The acceptor's framer has already
// checked the request's syntax, its limits and where it ends (one frame holds exactly one
// request), so for the common request the worker does not need a second full parse: this module
// splits the head into the few values node's parser would give (method, target, version, the raw
// header pairs, keep-alive) and the runner builds `IncomingMessage` and `ServerResponse` from them
// (runner.ts, "Direct requests"), without node's parser or the socket's stream machinery.
//
// It answers only where its answer is certain to equal llhttp's; anything else returns null and
// the request goes through node's parser as before: a method node does not know, CONNECT, a
// request-target in absolute form, an
// `Upgrade`, `Expect` or `Transfer-Encoding` field, a `Connection` token it does not handle, an
// HTTP/1.1 request without Host, a head larger than the worker's --limit-request-head, or a body
// whose length is not exactly the Content-Length. test/unit/worker/head.test.mjs checks every
// accepted case of the conformance corpora and a seeded fuzz against node's parser.
import { METHODS } from 'node:http';

/** What node's parser would have reported for a request head. */
export interface Head {
  method: string;
  url: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  /** name, value, name, value... as node's `req.rawHeaders`. */
  raw: string[];
  /** llhttp's should-keep-alive: HTTP/1.1 without `Connection: close`, HTTP/1.0 with `keep-alive`. */
  keepAlive: boolean;
  /** Offset in the buffer where the body starts (the end of the head). */
  bodyStart: number;
}

const KNOWN = new Set(METHODS.filter((m) => m !== 'CONNECT'));
/** llhttp's default cap on header fields (node: 2,000 pairs): more goes through the parser. */
const MAX_FIELDS = 2000;


/** Trim SP and HTAB from both ends, as llhttp does with field values. */
function trimOws(s: string, from: number, to: number): string {
  while (from < to) {
    const c = s.charCodeAt(from);
    if (c !== 32 && c !== 9) break;
    from++;
  }
  while (to > from) {
    const c = s.charCodeAt(to - 1);
    if (c !== 32 && c !== 9) break;
    to--;
  }
  return s.slice(from, to);
}

/** No CR or LF in `s[from, e)`, which ends at a CRLF: the framer and this reader agree on the line. */
function oneLine(s: string, from: number, e: number): boolean {
  return s.indexOf('\r', from) === e && s.indexOf('\n', from) === e + 1;
}

/**
 * The `Connection` field's effect: bit 1 close, bit 2 keep-alive; -1 for a token llhttp treats
 * specially that this reader does not (upgrade).
 */
function connectionTokens(v: string): number {
  let bits = 0;
  const tokens = v.toLowerCase().split(',');
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!.trim();
    if (t === 'close') bits |= 1;
    else if (t === 'keep-alive') bits |= 2;
    else if (t === 'upgrade') return -1;
  }
  return bits;
}

/**
 * Read the head of the request in `buf[start, end)`, or return null when node's parser must read
 * it. `end` is the end of the request (the frame holds exactly one).
 */
export function readHead(buf: Buffer, start: number, end: number, maxHeadSize: number): Head | null {
  // The head ends at the first empty line; the framer guarantees CRLF line ends.
  const headEnd = buf.indexOf('\r\n\r\n', start, 'latin1');
  if (headEnd < 0 || headEnd + 4 - start > maxHeadSize) return null;
  const s = buf.toString('latin1', start, headEnd + 2);
  const sp1 = s.indexOf(' ');
  const eol = s.indexOf('\r\n');
  const sp2 = s.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || sp2 > eol || eol - sp2 !== 9 || !oneLine(s, 0, eol)) return null;
  const method = s.slice(0, sp1);
  if (!KNOWN.has(method)) return null;
  let minor: number;
  if (s.startsWith('HTTP/1.1', sp2 + 1)) minor = 1;
  else if (s.startsWith('HTTP/1.0', sp2 + 1)) minor = 0;
  else return null;
  // Origin form (and `*`) only: llhttp checks an absolute form's scheme and authority itself.
  const url = s.slice(sp1 + 1, sp2);
  if (url.charCodeAt(0) !== 47 && url !== '*') return null;
  const raw: string[] = [];
  let conn = 0;
  let host = false;
  let contentLength = -1;
  let p = eol + 2;
  const n = s.length;
  while (p < n) {
    const e = s.indexOf('\r\n', p);
    const c = s.indexOf(':', p);
    if (c <= p || c > e || !oneLine(s, p, e)) return null;
    const name = s.slice(p, c);
    const value = trimOws(s, c + 1, e);
    switch (c - p) {
      case 4:
        if (name.toLowerCase() === 'host') host = true;
        break;
      case 6:
        if (name.toLowerCase() === 'expect') return null;
        break;
      case 7:
        if (name.toLowerCase() === 'upgrade') return null;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          // llhttp matches its tokens around spaces only: a tab makes 'close' another token.
          const bits = s.lastIndexOf('\t', e) > c ? -1 : connectionTokens(value);
          if (bits < 0) return null;
          conn |= bits;
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          // llhttp refuses a tab after the digits (a space it allows): let it answer that one.
          if (contentLength >= 0 || !/^[0-9]{1,15}$/.test(value) || s.lastIndexOf('\t', e) > c) return null;
          contentLength = Number(value);
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return null;
        break;
      default:
        break;
    }
    raw.push(name, value);
    p = e + 2;
  }
  if (raw.length > MAX_FIELDS * 2) return null;
  if (minor === 1 && !host) return null; // node answers 400 itself
  const bodyStart = headEnd + 4;
  if (end - bodyStart !== (contentLength < 0 ? 0 : contentLength)) return null;
  const keepAlive = minor === 1 ? (conn & 1) === 0 : (conn & 2) !== 0;
  return { method, url, minor, raw, keepAlive, bodyStart };
}
