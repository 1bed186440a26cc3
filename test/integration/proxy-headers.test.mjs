// --forwarded-allow-ips: requests from a trusted peer (default 127.0.0.1 and ::1) show the app the
// client from X-Forwarded-For / Forwarded and the scheme from X-Forwarded-Proto; from any other
// peer those headers are passed through and not used. Headers are never removed; Host is as sent.
import t from 'tap';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, parseResponses, portOf, rawExchange, runCli, serve, startServer } from '../helpers.mjs';

const app = fixture('reports-peer.mjs');

/** GET `/` with `headers`; resolves what the app saw of its client. */
function seen(target, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ ...target, path: '/', headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timed out')));
  });
}
const local = (h) => ({ host: '127.0.0.1', port: portOf(h) });

const FORWARDED = {
  'x-forwarded-for': 'spoofed-by-client, 203.0.113.7',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'example.com',
};

t.test('trusted peer (127.0.0.1 by default): forwarded values are used', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app });
  const s = await seen(local(h), FORWARDED);
  t.equal(s.remoteAddress, '203.0.113.7', 'the last X-Forwarded-For entry');
  t.equal(s.remotePort, 0, 'the client port is not known');
  t.equal(s.remoteFamily, 'IPv4');
  t.equal(s.encrypted, true, 'X-Forwarded-Proto: https');
  t.equal(s.host, `127.0.0.1:${portOf(h)}`, 'Host is not rewritten');
  t.equal(s.xForwardedFor, FORWARDED['x-forwarded-for'], 'the headers are passed through');
  t.equal(s.xForwardedHost, 'example.com');

  const v6 = await seen(local(h), { 'x-forwarded-for': '2001:db8::5' });
  t.equal(v6.remoteAddress, '2001:db8::5');
  t.equal(v6.remoteFamily, 'IPv6');
  t.equal(v6.encrypted, false);

  const std = await seen(local(h), { forwarded: 'for=192.0.2.60;proto=https;by=203.0.113.43' });
  t.equal(std.remoteAddress, '192.0.2.60', 'Forwarded: for=');
  t.equal(std.encrypted, true, 'Forwarded: proto=');

  const junk = await seen(local(h), { 'x-forwarded-for': 'unknown' });
  t.equal(junk.remoteAddress, '127.0.0.1', 'an entry that is no address leaves the peer');
  t.not(junk.remotePort, 0);

  const none = await seen(local(h));
  t.equal(none.remoteAddress, '127.0.0.1', 'no headers: the peer');
  t.equal(none.encrypted, false);
});

t.test('forwarded values do not leak into the next request on the connection', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app, threads: 1 });
  const { text } = await rawExchange(portOf(h),
    'GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.1\r\nX-Forwarded-Proto: https\r\n\r\n' +
    'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const [first, second] = parseResponses(text).map((r) => JSON.parse(r.body));
  t.equal(first.remoteAddress, '198.51.100.1');
  t.equal(first.encrypted, true);
  t.equal(second.remoteAddress, '127.0.0.1');
  t.equal(second.encrypted, false);
});

t.test('Express without trust proxy: req.ip and req.protocol follow the socket', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app: fixture('express-protocol.mjs') });
  const r = await seen(local(h), FORWARDED);
  t.same(r, { protocol: 'https', secure: true, ip: '203.0.113.7' });
});

t.test('untrusted peer: the headers are passed through and not used', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app, forwardedAllowIps: ['10.0.0.0/8'] });
  const s = await seen(local(h), { ...FORWARDED, forwarded: 'for=192.0.2.60;proto=https' });
  t.equal(s.remoteAddress, '127.0.0.1');
  t.not(s.remotePort, 0, 'the real client port');
  t.equal(s.encrypted, false);
  t.equal(s.xForwardedFor, FORWARDED['x-forwarded-for']);
  t.equal(s.xForwardedProto, 'https');
  t.equal(s.forwarded, 'for=192.0.2.60;proto=https');

  const nobody = await startServer(t, { app, forwardedAllowIps: [''] });
  t.equal((await seen(local(nobody), FORWARDED)).remoteAddress, '127.0.0.1', "'' trusts no one");
});

t.test('* trusts every peer', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app, forwardedAllowIps: ['*'] });
  t.equal((await seen(local(h), FORWARDED)).remoteAddress, '203.0.113.7');
});

t.test('an IPv4 client of a dual-stack listener (::ffff:127.0.0.1) matches 127.0.0.1', { timeout: 15000 }, async (t) => {
  let h;
  try {
    h = await serve({ app, bind: ['[::]:0'], threads: 1, logLevel: 'silent', env: {}, forwardedAllowIps: ['127.0.0.1'] });
  } catch (err) {
    t.skip(`no IPv6 here: ${err.message}`);
    return;
  }
  t.teardown(() => h.close());
  const plain = await seen({ host: '127.0.0.1', port: portOf(h) });
  t.equal(plain.remoteAddress, '::ffff:127.0.0.1', 'the peer as the socket gives it');
  t.equal((await seen({ host: '127.0.0.1', port: portOf(h) }, FORWARDED)).remoteAddress, '203.0.113.7');
});

t.test('unix sockets: trusted only with *', { timeout: 15000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'greenserve-proxy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await startServer(t, { app, bind: [`unix:${path.join(dir, 'a.sock')}`] });
  const s = await seen({ socketPath: path.join(dir, 'a.sock') }, FORWARDED);
  t.equal(s.remoteAddress, null, 'no address over a unix socket');
  t.equal(s.encrypted, false, 'not trusted by default');
  await startServer(t, { app, bind: [`unix:${path.join(dir, 'b.sock')}`], forwardedAllowIps: ['*'] });
  const any = await seen({ socketPath: path.join(dir, 'b.sock') }, FORWARDED);
  t.equal(any.remoteAddress, '203.0.113.7');
  t.equal(any.encrypted, true);
});

t.test('invalid items are a ConfigError naming the item', { timeout: 15000 }, async (t) => {
  for (const [items, re] of [[['10.0.0.0/33'], /"10.0.0.0\/33": the prefix length/], [['127.0.0.1', 'proxy.local'], /"proxy.local" is not/]]) {
    await t.rejects(serve({ app, bind: ['127.0.0.1:0'], threads: 1, logLevel: 'silent', env: {}, forwardedAllowIps: items }),
      { code: 'GS_ERR_CONFIG', message: re }, items.join(','));
  }
  const r = await runCli(['--forwarded-allow-ips', '127.0.0.1,10.0.0.0/8,bad', app]);
  t.equal(r.code, 2);
  t.match(r.stderr, /^greenserve: error: --forwarded-allow-ips: "bad" is not an IP address/);
});
