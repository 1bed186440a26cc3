// Which peers may speak for their clients (`--forwarded-allow-ips`, whose values
// lib/config/allow-ips.ts checks and splits). The acceptor asks once per connection, in the
// Connection constructor; the request frames of a trusted peer carry
// FL_TRUSTED_PROXY, and only those make the worker read X-Forwarded-For / X-Forwarded-Proto /
// Forwarded (lib/worker/forwarded.ts). Items are IP addresses, CIDR networks (IPv4 or IPv6) or
// `*`; one setting value may hold several separated by commas, as uvicorn's and gunicorn's do.
// See docs/decisions/0006-tls-and-proxy-headers.md.
import { BlockList } from 'node:net';
import { ipFamily, splitAllowIps, type IpFamily } from '../config/allow-ips.js';

/** True when the peer at `address` (a socket's remoteAddress; undefined for a unix socket) is trusted. */
export type ProxyMatcher = (address: string | undefined) => boolean;

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
      list.addAddress(item, ipFamily(item) as IpFamily);
    } else {
      const base = item.slice(0, slash);
      list.addSubnet(base, Number(item.slice(slash + 1)), ipFamily(base) as IpFamily);
    }
  }
  return (address) => {
    if (address === undefined || address === '') return false;
    const zone = address.indexOf('%'); // fe80::1%eth0: the zone is not part of the address
    const a = zone < 0 ? address : address.slice(0, zone);
    const family = ipFamily(a);
    return family !== null && list.check(a, family);
  };
}
