// The values of `--sticky`: off, ip, cookie:NAME or query:NAME, checked with the settings and parsed
// into the mode the acceptor routes by (lib/acceptor/sticky.ts reads the keys; the dispatcher
// routes them). See docs/decisions/0018-sticky-routing.md.

export type StickyMode =
  | { readonly kind: 'ip' }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'query'; readonly name: string };

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const QUERY_NAME = /^[^\s&=#?]+$/;

/** The problem with a --sticky value, or null (the setting's check). */
export function stickyProblem(value: unknown): string | null {
  const v = String(value);
  if (v === 'off' || v === 'ip') return null;
  const colon = v.indexOf(':');
  const kind = colon < 0 ? v : v.slice(0, colon);
  const name = colon < 0 ? '' : v.slice(colon + 1);
  if (kind === 'cookie') return COOKIE_NAME.test(name) ? null : 'cookie:NAME needs a cookie name (letters, digits, !#$%&\'*+-.^_`|~)';
  if (kind === 'query') return QUERY_NAME.test(name) ? null : 'query:NAME needs a parameter name (no spaces, &, =, # or ?)';
  return 'must be off, ip, cookie:NAME or query:NAME';
}

/** The mode a checked --sticky value names; null for `off`. */
export function parseSticky(value: string): StickyMode | null {
  if (value === 'off') return null;
  if (value === 'ip') return { kind: 'ip' };
  const colon = value.indexOf(':');
  const kind = value.slice(0, colon);
  const name = value.slice(colon + 1);
  return kind === 'cookie' ? { kind, name } : { kind: 'query', name };
}
