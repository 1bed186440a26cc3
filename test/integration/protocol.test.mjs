// Response framing that node's http.Server in the worker decides, as the client sees it through
// the acceptor: 204/304 without a body, streamed chunked responses with trailers, the Date header.
// And the acceptor's check of the Host field's syntax.
import t from 'tap';
import { fixture, portOf, rawExchange, startServer } from '../helpers.mjs';

const srv = await startServer(t, { app: fixture('protocol.mjs'), threads: 1 });
const port = portOf(srv);

t.test('204 and 304 carry no body and the connection stays usable', { timeout: 10000 }, async (t) => {
  const { text } = await rawExchange(port, 'GET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /304 HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const parts = text.split(/(?=HTTP\/1\.1 )/);
  t.equal(parts.length, 3, 'three responses, nothing between them');
  t.match(parts[0], /^HTTP\/1\.1 204 No Content\r\n/);
  t.notMatch(parts[0], /transfer-encoding|content-length: [1-9]/i);
  t.match(parts[1], /^HTTP\/1\.1 304 Not Modified\r\n/);
  t.match(parts[1], /etag: "v1"/i);
  t.ok(parts[1].endsWith('\r\n\r\n'), '304 ends with its head');
  t.match(parts[2], /\r\n\r\nplain$/);
});

t.test('a response written in pieces streams as chunked encoding with trailers', { timeout: 10000 }, async (t) => {
  const { text } = await rawExchange(port, 'GET /stream HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n');
  t.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  t.match(text, /Transfer-Encoding: chunked/i);
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  t.equal(body, '4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\nx-checksum: abc123\r\n\r\n');
});

t.test('every response carries an IMF-fixdate Date header', { timeout: 10000 }, async (t) => {
  const { text } = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const m = /\r\nDate: ([^\r]+)\r\n/.exec(text);
  t.ok(m, 'has Date');
  t.ok(Math.abs(Date.parse(m[1]) - Date.now()) < 5000, 'and it is now');
});

// RFC 9112 §3.2: a Host field value that is not `uri-host [ ":" port ]` (RFC 3986: reg-name,
// IPv4address or IP-literal; port digits) MUST get 400, in HTTP/1.0 too.
const GOOD_HOSTS = ['example.com', 'example.com:8080', 'h:', '127.0.0.1:80', '[::1]:8080', '[2001:db8::7]', '[v1.fe]',
  'xn--bcher-kva.example', "a-b_c~d!$&'()*+,;=", '%41b%7e', ''];
const BAD_HOSTS = ['bad host/x', 'a/b', 'a?b', 'a#b', 'user@h', 'h:80x', 'h:-1', 'h:80:90', '[::1', '::1', '[::1]x',
  'a%zz', 'a%4', 'ex"ample', '<h>', 'h\\x', 'h\xe9'];

t.test('a Host of valid syntax is served; one of invalid syntax gets 400 and the connection closes', { timeout: 20000 }, async (t) => {
  for (const host of GOOD_HOSTS) {
    const { text } = await rawExchange(port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    t.match(text, /^HTTP\/1\.1 200 /, `Host: ${JSON.stringify(host)} is served`);
  }
  for (const host of BAD_HOSTS) {
    for (const version of ['1.1', '1.0']) {
      const { text, closed } = await rawExchange(port, `GET / HTTP/${version}\r\nHost: ${host}\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n`);
      t.match(text, /^HTTP\/1\.1 400 Bad Request\r\n/, `HTTP/${version} Host: ${JSON.stringify(host)}: 400`);
      t.equal(text.split('HTTP/1.1 ').length, 2, 'nothing after it is answered');
      t.ok(closed, 'and the connection closes');
    }
  }
});
