// --forwarded-allow-ips: its items (IPs, CIDRs, *: lib/config/allow-ips.ts) and the per-connection
// matcher (lib/acceptor/proxy-trust.ts).
import t from 'tap';
import { allowIpsProblem, splitAllowIps } from '../../../dist/lib/config/allow-ips.js';
import { proxyMatcher } from '../../../dist/lib/acceptor/proxy-trust.js';

t.test('single addresses, IPv4 and IPv6', async (t) => {
  const m = proxyMatcher(['127.0.0.1', '::1']);
  t.equal(m('127.0.0.1'), true);
  t.equal(m('::1'), true);
  t.equal(m('0:0:0:0:0:0:0:1'), true, 'IPv6 in its long form');
  t.equal(m('127.0.0.2'), false);
  t.equal(m('10.0.0.1'), false);
  t.equal(m('::2'), false);
});

t.test('IPv4-mapped IPv6 peers match IPv4 items', async (t) => {
  const m = proxyMatcher(['127.0.0.1', '10.0.0.0/8']);
  t.equal(m('::ffff:127.0.0.1'), true);
  t.equal(m('::ffff:10.20.30.40'), true);
  t.equal(m('::ffff:11.0.0.1'), false);
});

t.test('CIDR networks', async (t) => {
  const m = proxyMatcher(['10.0.0.0/8', '192.168.1.0/24', 'fd00::/8', '2001:db8::/32']);
  for (const a of ['10.0.0.0', '10.255.255.255', '192.168.1.1', '192.168.1.254', 'fd12:3456::1', '2001:db8:ffff::1']) {
    t.equal(m(a), true, `${a} is in`);
  }
  for (const a of ['11.0.0.0', '9.255.255.255', '192.168.2.1', 'fe80::1', '2001:db9::1', '127.0.0.1']) {
    t.equal(m(a), false, `${a} is out`);
  }
  t.equal(proxyMatcher(['0.0.0.0/0'])('203.0.113.9'), true, '/0 takes every IPv4 address');
  t.equal(proxyMatcher(['0.0.0.0/0'])('::1'), false, 'but no IPv6 one');
  t.equal(proxyMatcher(['10.1.2.3/8'])('10.200.0.1'), true, 'host bits in the base are ignored');
  t.equal(proxyMatcher(['127.0.0.1/32'])('127.0.0.1'), true);
  t.equal(proxyMatcher(['fe80::/10'])('fe80::1%eth0'), true, 'a zone id is ignored');
});

t.test('* trusts everyone, unix sockets included; otherwise unix sockets are not trusted', async (t) => {
  const any = proxyMatcher(['*']);
  t.equal(any('203.0.113.1'), true);
  t.equal(any('2001:db8::1'), true);
  t.equal(any(undefined), true, 'a unix-socket peer');
  t.equal(proxyMatcher(['127.0.0.1', '*'])('8.8.8.8'), true, '* among others');
  t.equal(proxyMatcher(['127.0.0.1'])(undefined), false);
  t.equal(proxyMatcher(['127.0.0.1'])(''), false);
});

t.test('no items trusts no one; items may be comma-separated', async (t) => {
  t.equal(proxyMatcher([])('127.0.0.1'), false);
  t.equal(proxyMatcher([''])('127.0.0.1'), false, "--forwarded-allow-ips ''");
  const m = proxyMatcher(['127.0.0.1, 10.0.0.0/8', '::1']);
  t.equal(m('10.1.1.1'), true);
  t.equal(m('::1'), true);
  t.same(splitAllowIps(' a , b,,c '), ['a', 'b', 'c']);
});

t.test('allowIpsProblem names the bad item', async (t) => {
  for (const ok of ['*', '127.0.0.1', '::1', '10.0.0.0/8', '10.0.0.0/0', '10.0.0.0/32', 'fd00::/8', '::/0', '::/128',
    '::ffff:127.0.0.1', '127.0.0.1, ::1', '']) {
    t.equal(allowIpsProblem(ok), null, `${JSON.stringify(ok)} is allowed`);
  }
  const bad = [
    ['localhost', /"localhost" is not an IP address, a CIDR network/],
    ['127.0.0.1, nope', /"nope" is not/],
    ['10.0.0.0/33', /"10.0.0.0\/33": the prefix length must be from 0 to 32/],
    ['fd00::/129', /"fd00::\/129": the prefix length must be from 0 to 128/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.0/x', /prefix length/],
    ['10.0.0/8', /"10.0.0\/8" is not/],
    ['[::1]', /"\[::1\]" is not/],
    ['**', /"\*\*" is not/],
  ];
  for (const [value, re] of bad) t.match(allowIpsProblem(value), re, JSON.stringify(value));
});
