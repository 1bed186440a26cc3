// Which peers may speak for their clients (`--forwarded-allow-ips`). The acceptor asks once per
// connection, in the Connection constructor; the request frames of a trusted peer carry
// FL_TRUSTED_PROXY, and only those make the worker read X-Forwarded-For / X-Forwarded-Proto /
// Forwarded (lib/worker/forwarded.ts). Items are IP addresses, CIDR networks (IPv4 or IPv6) or
// `*`; one setting value may hold several separated by commas, as uvicorn's and gunicorn's do.
// See docs/decisions/0006-tls-and-proxy-headers.md.
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** True when the peer at `address` (a socket's remoteAddress; undefined for a unix socket) is trusted. */
export type ProxyMatcher = (address: string | undefined) => boolean;

type Family = 'ipv4' | 'ipv6';

/** The items of one setting value: `"127.0.0.1, 10.0.0.0/8"` → two items. */
export function splitAllowIps(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** What is wrong with one `--forwarded-allow-ips` value (naming the bad item), or null. */
export function allowIpsProblem(value: unknown): string | null {
  for (const item of splitAllowIps(String(value))) {
    const problem = itemProblem(item);
    if (problem !== null) return problem;
  }
  return null;
}

function familyOf(address: string): Family | null {
  return isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
}

function itemProblem(item: string): string | null {
  if (item === '*') return null;
  const slash = item.indexOf('/');
  const base = slash < 0 ? item : item.slice(0, slash);
  const family = familyOf(base);
  if (family === null) return `"${item}" is not an IP address, a CIDR network (like 10.0.0.0/8) or *`;
  if (slash < 0) return null;
  const max = family === 'ipv4' ? 32 : 128;
  const bits = item.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `"${item}": the prefix length must be from 0 to ${max}`;
  return null;
}

/**
 * Builds the matcher for the setting's values (checked at boot with allowIpsProblem). `*` trusts
 * every peer, unix-socket peers included; otherwise a unix-socket peer (no address) is not
 * trusted. IPv4-mapped IPv6 peers (`::ffff:127.0.0.1`, a dual-stack listener's view of an IPv4
 * client) match IPv4 items: node's BlockList compares them as IPv4.
 */
export function proxyMatcher(values: readonly string[]): ProxyMatcher {
  const items = values.flatMap(splitAllowIps);
  if (items.includes('*')) return () => true;
  if (items.length === 0) return () => false;
  const list = new BlockList();
  for (const item of items) {
    const slash = item.indexOf('/');
    if (slash < 0) {
      list.addAddress(item, familyOf(item) as Family);
    } else {
      const base = item.slice(0, slash);
      list.addSubnet(base, Number(item.slice(slash + 1)), familyOf(base) as Family);
    }
  }
  return (address) => {
    if (address === undefined || address === '') return false;
    const zone = address.indexOf('%'); // fe80::1%eth0: the zone is not part of the address
    const a = zone < 0 ? address : address.slice(0, zone);
    const family = familyOf(a);
    return family !== null && list.check(a, family);
  };
}
