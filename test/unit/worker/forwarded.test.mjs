// lib/worker/forwarded.ts: how a trusted proxy's headers change what the app sees of its client.
import t from 'tap';
import { applyForwarded } from '../../../dist/lib/worker/forwarded.js';

const peer = () => ({ remoteAddress: '127.0.0.1', remotePort: 50000, remoteFamily: 'IPv4', encrypted: false });
/** Apply `raw` (name, value, name, value...) to a fresh peer and return it. */
const seen = (...raw) => {
  const s = peer();
  applyForwarded(s, raw);
  return s;
};

t.test('no proxy headers: nothing changes', async (t) => {
  t.same(seen('Host', 'x', 'Accept', '*/*'), peer());
  t.same(seen(), peer());
});

t.test('X-Forwarded-For: the last entry, any case, IPv4 or IPv6, with or without a port', async (t) => {
  t.same(seen('X-Forwarded-For', '203.0.113.7'), { ...peer(), remoteAddress: '203.0.113.7', remotePort: 0 });
  t.equal(seen('x-forwarded-for', 'spoofed, 10.0.0.1 ,198.51.100.2').remoteAddress, '198.51.100.2');
  t.equal(seen('X-FORWARDED-FOR', '1.1.1.1', 'X-Forwarded-For', '2.2.2.2, 3.3.3.3').remoteAddress, '3.3.3.3',
    'several lines: the last line\'s last entry');
  t.same(seen('X-Forwarded-For', '2001:db8::1'), { ...peer(), remoteAddress: '2001:db8::1', remoteFamily: 'IPv6', remotePort: 0 });
  t.same(seen('X-Forwarded-For', '[2001:db8::1]:4711'), { ...peer(), remoteAddress: '2001:db8::1', remoteFamily: 'IPv6', remotePort: 4711 });
  t.same(seen('X-Forwarded-For', '192.0.2.1:8080'), { ...peer(), remoteAddress: '192.0.2.1', remotePort: 8080 });
});

t.test('an entry that is not an address leaves the peer', async (t) => {
  for (const v of ['unknown', '', '1.2.3.4, ', 'not an ip', '999.1.1.1', '[::1', '1.2.3.4:99999x', '1.2.3.4:70000', '[::1]x', '_hidden']) {
    const s = seen('X-Forwarded-For', v);
    t.equal(s.remoteAddress, '127.0.0.1', JSON.stringify(v));
    t.equal(s.remotePort, 50000);
  }
});

t.test('X-Forwarded-Proto sets encrypted', async (t) => {
  t.equal(seen('X-Forwarded-Proto', 'https').encrypted, true);
  t.equal(seen('X-Forwarded-Proto', 'HTTPS').encrypted, true);
  t.equal(seen('X-Forwarded-Proto', 'wss').encrypted, true);
  t.equal(seen('X-Forwarded-Proto', 'http, https').encrypted, true, 'the last entry');
  const tlsPeer = { ...peer(), encrypted: true };
  applyForwarded(tlsPeer, ['X-Forwarded-Proto', 'http']);
  t.equal(tlsPeer.encrypted, false, 'the proxy says the client used http');
  const s = { ...peer(), encrypted: true };
  applyForwarded(s, ['X-Forwarded-Proto', 'gopher']);
  t.equal(s.encrypted, true, 'an unknown scheme changes nothing');
  t.equal(seen('X-Forwarded-Proto', 'https').remoteAddress, '127.0.0.1', 'the address is untouched');
});

t.test('Forwarded (RFC 7239): the last element\'s for= and proto=', async (t) => {
  t.same(seen('Forwarded', 'for=192.0.2.60;proto=https;by=203.0.113.43'),
    { remoteAddress: '192.0.2.60', remotePort: 0, remoteFamily: 'IPv4', encrypted: true });
  t.same(seen('forwarded', 'for=1.1.1.1, For="[2001:db8:cafe::17]:4711"'),
    { remoteAddress: '2001:db8:cafe::17', remotePort: 4711, remoteFamily: 'IPv6', encrypted: false });
  t.same(seen('Forwarded', 'for=unknown;proto=http'), peer(), 'an obfuscated or unknown for= leaves the peer');
  t.same(seen('Forwarded', 'proto=https'), { ...peer(), encrypted: true });
});

t.test('X-Forwarded-* win over Forwarded', async (t) => {
  const s = seen('Forwarded', 'for=192.0.2.60;proto=http', 'X-Forwarded-For', '198.51.100.9', 'X-Forwarded-Proto', 'https');
  t.equal(s.remoteAddress, '198.51.100.9');
  t.equal(s.encrypted, true);
  const mixed = seen('Forwarded', 'for=192.0.2.60;proto=https', 'X-Forwarded-For', '198.51.100.9');
  t.equal(mixed.remoteAddress, '198.51.100.9');
  t.equal(mixed.encrypted, true, 'proto= is used when X-Forwarded-Proto is absent');
});
