// Proxy headers, read in the worker only for requests whose frame carries FL_TRUSTED_PROXY (the
// acceptor found the peer in --forwarded-allow-ips). The client address comes from the LAST entry
// of X-Forwarded-For (the one the trusted proxy itself appended; earlier entries were written by
// whoever sent the request to it and prove nothing), or else from the last element's `for=` of the
// standard Forwarded header (RFC 7239); the scheme from the last entry of X-Forwarded-Proto, or
// else `proto=`. Headers are never removed or rewritten; Host is left alone (X-Forwarded-Host is
// for the app or its framework to read). See docs/decisions/0006-tls-and-proxy-headers.md.
import { isIP } from 'node:net';

/** The parts of a (virtual) socket that proxy headers may change. */
export interface ForwardedTarget {
  remoteAddress: string | undefined;
  remotePort: number;
  remoteFamily: string | undefined;
  encrypted: boolean;
}

/**
 * Applies the proxy headers found in `raw` (IncomingMessage.rawHeaders) to `socket`. Scans the raw
 * pairs with a length test first, so the lazy `req.headers` object is not built here.
 */
export function applyForwarded(socket: ForwardedTarget, raw: readonly string[]): void {
  let xff: string | null = null;
  let xfp: string | null = null;
  let fwd: string | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const n = name.length;
    if (n === 15) {
      if (name.toLowerCase() === 'x-forwarded-for') xff = raw[i + 1]!;
    } else if (n === 17) {
      if (name.toLowerCase() === 'x-forwarded-proto') xfp = raw[i + 1]!;
    } else if (n === 9 && name.toLowerCase() === 'forwarded') {
      fwd = raw[i + 1]!;
    }
  }
  if (xff === null && xfp === null && fwd === null) return;
  const element = fwd === null ? null : forwardedElement(lastItem(fwd));
  const client = xff !== null ? lastItem(xff) : element?.for;
  if (client !== undefined) setClient(socket, client);
  const proto = (xfp !== null ? lastItem(xfp) : element?.proto)?.toLowerCase();
  if (proto === 'https' || proto === 'wss') socket.encrypted = true;
  else if (proto === 'http' || proto === 'ws') socket.encrypted = false;
}

/** The last comma-separated entry: the one the nearest proxy added. */
function lastItem(value: string): string {
  return value.slice(value.lastIndexOf(',') + 1).trim();
}

/** `for=...;proto=...` pairs of one Forwarded element (names are case-insensitive, values may be quoted). */
function forwardedElement(element: string): { for?: string; proto?: string } {
  const out: { for?: string; proto?: string } = {};
  for (const pair of element.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const key = pair.slice(0, eq).trim().toLowerCase();
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (key === 'for') out.for = value;
    else if (key === 'proto') out.proto = value;
  }
  return out;
}

/**
 * Sets the client address from `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`.
 * Anything else (`unknown`, obfuscated `_hidden` identifiers, garbage) leaves the peer's address.
 */
function setClient(socket: ForwardedTarget, value: string): void {
  let host = value;
  let port = 0;
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0) return;
    host = value.slice(1, close);
    port = portOf(value.slice(close + 1));
  } else if (value.indexOf(':') > 0 && value.indexOf(':') === value.lastIndexOf(':')) {
    const colon = value.indexOf(':');
    host = value.slice(0, colon);
    port = portOf(value.slice(colon));
  }
  const family = isIP(host);
  if (family === 0 || port < 0) return;
  socket.remoteAddress = host;
  socket.remoteFamily = family === 4 ? 'IPv4' : 'IPv6';
  socket.remotePort = port;
}

/** `:5678` → 5678; `` → 0 (the client's port is not known); anything else → -1 (not an address). */
function portOf(rest: string): number {
  if (rest === '') return 0;
  if (!/^:\d{1,5}$/.test(rest)) return -1;
  const n = Number(rest.slice(1));
  return n <= 65535 ? n : -1;
}
