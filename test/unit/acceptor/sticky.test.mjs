// Sticky keys (lib/acceptor/sticky.ts): the --sticky check, the key read from a framed request
// (cookie, query parameter, peer address) and the key learnt from a response (Set-Cookie, a JSON
// member). No threads, no sockets.
import t from 'tap';
import path from 'node:path';
import { root } from '../../helpers.mjs';

const { keyReader, cookieOf, setCookieOf, jsonMemberOf, forwardedFor } = await import(path.join(root, 'dist/lib/acceptor/sticky.js'));
const { stickyProblem, parseSticky } = await import(path.join(root, 'dist/lib/config/sticky-mode.js'));

const framed = (head, target = '/') => ({ parts: [Buffer.from(head, 'latin1')], headEnd: Buffer.byteLength(head, 'latin1'), target });

t.test('the setting: off, ip, cookie:NAME, query:NAME', async (t) => {
  for (const ok of ['off', 'ip', 'cookie:connect.sid', 'cookie:io', 'query:sid', 'query:session_id']) t.equal(stickyProblem(ok), null, ok);
  for (const bad of ['', 'on', 'IP', 'cookie', 'cookie:', 'cookie:a b', 'cookie:a;b', 'query:', 'query:a&b', 'query:a=b', 'header:x']) {
    t.type(stickyProblem(bad), 'string', `"${bad}" is refused`);
  }
  t.equal(parseSticky('off'), null);
  t.same(parseSticky('ip'), { kind: 'ip' });
  t.same(parseSticky('cookie:connect.sid'), { kind: 'cookie', name: 'connect.sid' });
  t.same(parseSticky('query:sid'), { kind: 'query', name: 'sid' });
});

t.test('cookie:NAME reads the cookie as sent, in any Cookie field, any case', async (t) => {
  const read = keyReader({ kind: 'cookie', name: 'connect.sid' });
  const req = (fields) => framed(`GET / HTTP/1.1\r\nHost: x\r\n${fields}\r\n`);
  t.equal(read('1.2.3.4', false, req('Cookie: connect.sid=s%3Aabc.def\r\n')), 's%3Aabc.def');
  t.equal(read(undefined, false, req('cookie: a=1; connect.sid=v2 ;b=3\r\n')), 'v2');
  t.equal(read(undefined, false, req('COOKIE: a=1\r\nCookie: connect.sid=v3\r\n')), 'v3', 'a second Cookie field');
  t.equal(read(undefined, false, req('Cookie: xconnect.sid=no; connect.sidx=no\r\n')), null, 'only that exact name');
  t.equal(read(undefined, false, req('X-Cookie: connect.sid=no\r\n')), null, 'only the Cookie field');
  t.equal(read(undefined, false, req('Cookie: connect.sid=\r\n')), null, 'an empty value is no key');
  t.equal(read(undefined, false, req('')), null, 'no Cookie field');
  t.equal(cookieOf('GET /?connect.sid=q HTTP/1.1\r\n\r\n', 'connect.sid'), null, 'not from the request line');
});

t.test('query:NAME reads the parameter as sent', async (t) => {
  const read = keyReader({ kind: 'query', name: 'sid' });
  const at = (target) => read(undefined, false, framed('GET / HTTP/1.1\r\n\r\n', target));
  t.equal(at('/socket.io/?EIO=4&transport=polling&sid=AbC-_1'), 'AbC-_1');
  t.equal(at('/?sid=first&sid=second'), 'first');
  t.equal(at('/?xsid=1&sidx=2'), null);
  t.equal(at('/sid=1'), null, 'not from the path');
  t.equal(at('/?a=1#sid=2'), null, 'not from a fragment');
  t.equal(at('/?sid='), null);
  t.equal(at('/?sid=' + 'x'.repeat(600)), null, 'an overlong value is no key');
});

t.test('ip reads the peer address; from a trusted proxy, the last X-Forwarded-For entry', async (t) => {
  const read = keyReader({ kind: 'ip' });
  const plain = framed('GET / HTTP/1.1\r\n\r\n');
  const xff = framed('GET / HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.9\r\nHost: x\r\n\r\n');
  t.equal(read('10.0.0.7', false, plain), '10.0.0.7');
  t.equal(read(undefined, false, plain), null, 'a unix socket peer: no key');
  t.equal(read('10.0.0.7', false, xff), '10.0.0.7', 'an untrusted peer\'s X-Forwarded-For is ignored');
  t.equal(read('10.0.0.7', true, xff), '203.0.113.9', 'a trusted proxy\'s: the entry it appended');
  t.equal(read('10.0.0.7', true, plain), '10.0.0.7', 'a trusted proxy without the field: its address');
  t.equal(forwardedFor('GET / HTTP/1.1\r\nx-forwarded-for: 1.1.1.1\r\nX-FORWARDED-FOR: 2.2.2.2 , 3.3.3.3 \r\n\r\n'), '3.3.3.3', 'the last field, any case');
  t.equal(forwardedFor('GET / HTTP/1.1\r\nX-Forwarded-For: 4.4.4.4\r\n\r\n'), '4.4.4.4', 'one entry');
  t.equal(forwardedFor('GET / HTTP/1.1\r\nX-Forwarded-For:\r\n\r\n'), null, 'an empty field');
});

t.test('keys learnt from responses', async (t) => {
  const head = (fields) => `HTTP/1.1 200 OK\r\n${fields}Content-Length: 2\r\n\r\nok`;
  t.equal(setCookieOf(head('Set-Cookie: connect.sid=s%3Anew.sig; Path=/; HttpOnly\r\n'), 'connect.sid'), 's%3Anew.sig');
  t.equal(setCookieOf(head('set-cookie: other=1\r\nSET-COOKIE: connect.sid=v\r\n'), 'connect.sid'), 'v');
  t.equal(setCookieOf(head('Set-Cookie: connect.sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT\r\n'), 'connect.sid'), null, 'a cleared cookie');
  t.equal(setCookieOf(head('X-Note: Set-Cookie: connect.sid=no\r\n'), 'connect.sid'), null);
  t.equal(setCookieOf('HTTP/1.1 200 OK\r\n\r\nSet-Cookie: connect.sid=body', 'connect.sid'), null, 'not from the body');
  const hs = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000}');
  t.equal(jsonMemberOf(hs, 'sid'), 'lv_VI97HAXpY6yYWAAAC', "engine.io's handshake");
  t.equal(jsonMemberOf(Buffer.from('{"xsid":"a"}'), 'sid'), null);
  t.equal(jsonMemberOf(Buffer.from('{"sid":"a\\"b"}'), 'sid'), null, 'an escaped value is no key');
  t.equal(jsonMemberOf(Buffer.from('{"sid":""}'), 'sid'), null);
});
