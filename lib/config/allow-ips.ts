// The values of `--forwarded-allow-ips`: IP addresses, CIDR networks (IPv4 or IPv6) or `*`, several
// to a value separated by commas. The setting's check lives here with the settings; the acceptor
// builds its per-connection matcher from the same items (lib/acceptor/proxy-trust.ts).
import { isIPv4, isIPv6 } from 'node:net';

export type IpFamily = 'ipv4' | 'ipv6';

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

/** The family of an IP address (no zone, no prefix), or null when it is none. */
export function ipFamily(address: string): IpFamily | null {
  return isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
}

function itemProblem(item: string): string | null {
  if (item === '*') return null;
  const slash = item.indexOf('/');
  const base = slash < 0 ? item : item.slice(0, slash);
  const family = ipFamily(base);
  if (family === null) return `"${item}" is not an IP address, a CIDR network (like 10.0.0.0/8) or *`;
  if (slash < 0) return null;
  const max = family === 'ipv4' ? 32 : 128;
  const bits = item.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `"${item}": the prefix length must be from 0 to ${max}`;
  return null;
}
