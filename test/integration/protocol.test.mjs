// Response framing that node's http.Server in the worker decides, as the client sees it through
// the acceptor: 204/304 without a body, streamed chunked responses with trailers, the Date header.
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
