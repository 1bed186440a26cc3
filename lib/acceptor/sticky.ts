// design: sticky routing (--sticky): the key that ties a request to a worker thread, read from the
// framed request, and the keys a worker hands out, read from its responses. The dispatcher keeps
// the key -> worker map and does the routing (./dispatcher.ts); see
// docs/decisions/0018-sticky-routing.md. The setting's values are checked and parsed with the
// settings (lib/config/sticky-mode.ts).
//
// Keys: `ip` is the connection's peer address, or, from a trusted proxy (--forwarded-allow-ips),
// the last entry of X-Forwarded-For (the client address the app sees too). `cookie:NAME` is the value of cookie NAME in the
// request's Cookie field, `query:NAME` the value of parameter NAME in its query string, both as
// sent (not decoded). A request without the key is sent to any thread; the key its response
// hands out is learnt: `cookie:NAME` from a Set-Cookie field of NAME (any response: a session
// can be regenerated), `query:NAME` from a JSON member "NAME":"VALUE" in the first bytes of the
// response to a request without the key (engine.io's handshake, socket.io's `sid`).
import type { StickyMode } from '../config/sticky-mode.js';
import type { FramedRequest } from './framer.js';

/** Keys longer than this are no keys (the request goes to any thread): bounds the map's memory. */
export const MAX_KEY_LENGTH = 512;
/** Response bytes searched for a key handed out by `query:NAME` (JSON member in the body's start). */
export const LEARN_QUERY_BYTES = 16_384;

/**
 * Reads a request's key from the framed request, or (ip mode) the peer's address; `trusted`: the
 * peer is a trusted proxy (its X-Forwarded-For names the client). Null: no key.
 */
export type KeyReader = (peer: string | undefined, trusted: boolean, req: FramedRequest) => string | null;

export function keyReader(mode: StickyMode): KeyReader {
  if (mode.kind === 'ip') {
    return (peer, trusted, req) => (trusted ? forwardedFor(req.parts[0]!.toString('latin1', 0, req.headEnd)) : null) ?? peer ?? null;
  }
  const name = mode.name;
  if (mode.kind === 'query') {
    return (_peer, _trusted, req) => {
      const t = req.target;
      const q = t.indexOf('?');
      if (q < 0) return null;
      const hash = t.indexOf('#', q);
      return pairValue(t, q + 1, hash < 0 ? t.length : hash, name, '&');
    };
  }
  return (_peer, _trusted, req) => cookieOf(req.parts[0]!.toString('latin1', 0, req.headEnd), name);
}

/** The value of cookie `name` in the Cookie field(s) of a request head, or null. */
export function cookieOf(head: string, name: string): string | null {
  let pos = head.indexOf('\n') + 1; // past the request line
  while (pos > 0 && pos < head.length) {
    const nl = head.indexOf('\n', pos);
    const end = nl < 0 ? head.length : head.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
    if (fieldIs(head, pos, end, 'cookie:')) {
      const v = pairValue(head, pos + 7, end, name, ';');
      if (v !== null) return v;
    }
    if (nl < 0) break;
    pos = nl + 1;
  }
  return null;
}

/**
 * The client address a trusted proxy gives in a request head (`head`, latin1): the last entry of
 * the last X-Forwarded-For field (the one the proxy appended, as the worker reads it), or null.
 */
export function forwardedFor(head: string): string | null {
  let found: string | null = null;
  let pos = head.indexOf('\n') + 1; // past the request line
  while (pos > 0 && pos < head.length) {
    const nl = head.indexOf('\n', pos);
    const end = nl < 0 ? head.length : head.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
    if (fieldIs(head, pos, end, 'x-forwarded-for:')) {
      const comma = head.lastIndexOf(',', end - 1);
      const v = head.slice(comma < pos + 16 ? pos + 16 : comma + 1, end).trim();
      if (v.length > 0 && v.length <= MAX_KEY_LENGTH) found = v;
    }
    if (nl < 0) break;
    pos = nl + 1;
  }
  return found;
}

/** The value a Set-Cookie field of a response head (`head`, latin1) gives cookie `name`, or null (none, or emptied). */
export function setCookieOf(head: string, name: string): string | null {
  let pos = head.indexOf('\n') + 1; // past the status line
  while (pos > 0 && pos < head.length) {
    const nl = head.indexOf('\n', pos);
    const end = nl < 0 ? head.length : head.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
    if (end === pos) break; // the empty line: end of the head
    if (fieldIs(head, pos, end, 'set-cookie:')) {
      let i = pos + 11;
      while (i < end && (head.charCodeAt(i) === 0x20 || head.charCodeAt(i) === 0x09)) i++;
      if (head.startsWith(name, i) && head.charCodeAt(i + name.length) === 0x3d /* = */) {
        const from = i + name.length + 1;
        const semi = head.indexOf(';', from);
        const v = head.slice(from, semi < 0 || semi > end ? end : semi).trim();
        if (v.length > 0 && v.length <= MAX_KEY_LENGTH) return v;
      }
    }
    if (nl < 0) break;
    pos = nl + 1;
  }
  return null;
}

/** The value of a JSON member `"name":"VALUE"` in `bytes` (no escapes in VALUE), or null. */
export function jsonMemberOf(bytes: Buffer, name: string): string | null {
  const at = bytes.indexOf(`"${name}":"`, 0, 'latin1');
  if (at < 0) return null;
  const from = at + name.length + 4;
  const to = bytes.indexOf(0x22 /* " */, from);
  if (to < 0 || to === from || to - from > MAX_KEY_LENGTH) return null;
  const v = bytes.toString('latin1', from, to);
  return v.includes('\\') ? null : v;
}

/** Whether the line at [pos, end) starts with field name `lower` (lower case, with its colon), in any case. */
function fieldIs(s: string, pos: number, end: number, lower: string): boolean {
  const n = lower.length;
  if (end - pos < n) return false;
  // | 0x20 lowers a letter and leaves '-' and ':' as they are
  for (let i = 0; i < n; i++) if ((s.charCodeAt(pos + i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** In s[from, to), pairs `k=v` separated by `sep` (spaces around them skipped): v of the first k === name, or null. */
function pairValue(s: string, from: number, to: number, name: string, sep: string): string | null {
  let i = from;
  while (i < to) {
    while (i < to && (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x09)) i++;
    let j = s.indexOf(sep, i);
    if (j < 0 || j > to) j = to;
    if (j - i > name.length && s.charCodeAt(i + name.length) === 0x3d && s.startsWith(name, i)) {
      let e = j;
      while (e > i && (s.charCodeAt(e - 1) === 0x20 || s.charCodeAt(e - 1) === 0x09)) e--;
      const v = s.slice(i + name.length + 1, e);
      return v.length > 0 && v.length <= MAX_KEY_LENGTH ? v : null;
    }
    i = j + 1;
  }
  return null;
}
