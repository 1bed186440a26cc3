// The acceptor's HTTP/1.1 framing end to end, over real sockets to real worker threads:
// bodies (Content-Length, chunked), keep-alive, pipelining in order (past the pipeline window and
// before a half-close too), HTTP/1.0, Connection: close, the 413 / 431 / 414 limits, and
// Expect: 100-continue.
import t from 'tap';
import { fixture, parseResponses, portOf, rawExchange, startServer, connect } from '../helpers.mjs';
import { RawConn } from '../wire.mjs';

const srv = await startServer(t, { app: fixture('echo.mjs'), limitRequestBody: 1024, limitRequestFieldSize: 512, limitRequestLine: 256, maxThreads: 2 }); // a fixed pool: the stats test counts workers
const port = portOf(srv);

t.test('GET with keep-alive: several requests on one connection', { timeout: 10000 }, async (t) => {
  const req = (p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
  const s = await connect(port);
  t.teardown(() => s.destroy());
  let buf = '';
  s.on('data', (c) => (buf += c.toString('latin1')));
  for (const p of ['/a', '/b?x=1', '/c']) {
    s.write(req(p));
    await new Promise((resolve) => { const check = () => (parseResponses(buf).length > 0 && buf.endsWith('}') ? resolve() : setTimeout(check, 5)); check(); });
    const [r] = parseResponses(buf);
    buf = '';
    t.equal(r.status, 200);
    t.equal(JSON.parse(r.body).url, p);
    t.equal(r.headers.connection, 'keep-alive');
  }
});

t.test('Content-Length body reaches the app byte-exact', { timeout: 10000 }, async (t) => {
  const body = 'x'.repeat(700) + '\u00ff\u0000end';
  const { text } = await rawExchange(port, `POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  const [r] = parseResponses(text);
  t.equal(r.status, 200);
  const echoed = JSON.parse(Buffer.from(r.body, 'latin1').toString('utf8'));
  t.equal(echoed.body, body);
  t.equal(echoed.method, 'POST');
});

t.test('chunked body with extensions and trailers', { timeout: 10000 }, async (t) => {
  const req = 'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
    '5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n';
  for (const split of [null, 1, 7]) {
    const { text } = await rawExchange(port, req, { split });
    const [r] = parseResponses(text);
    t.equal(r.status, 200, `split ${split}`);
    t.equal(JSON.parse(r.body).body, 'hello world');
  }
});

t.test('pipelined requests come back in request order even when later ones finish first', { timeout: 10000 }, async (t) => {
  const paths = ['/delay/150/1', '/delay/0/2', '/delay/60/3', '/4', '/delay/20/5'];
  const data = paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join('') + 'GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  for (const split of [null, 3]) {
    const { text, closed } = await rawExchange(port, data, { split, ms: 5000 });
    const urls = parseResponses(text).map((r) => JSON.parse(r.body).url);
    t.same(urls, [...paths, '/last'], `order with split ${split}`);
    t.ok(closed, 'closed after the Connection: close request');
  }
});

// The acceptor frames at most 32 requests ahead of the responses owed (MAX_PIPELINE) and holds
// the rest unframed; a half-close (FIN) must not drop what it holds: all are answered, then close.
t.test('100 pipelined requests then a half-close (FIN) get 100 responses in order, then close', { timeout: 20000 }, async (t) => {
  const paths = Array.from({ length: 100 }, (_, i) => `/p${i}`);
  const c = await RawConn.open(port);
  t.teardown(() => c.destroy());
  await c.send(Buffer.from(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''), 'latin1'));
  c.end();
  const urls = [];
  for (;;) {
    const r = await c.next(10000); // a generous bound per response on a loaded machine
    if (!r.response) {
      t.ok(r.closed, `the server closes after the last response (${JSON.stringify(r)})`);
      break;
    }
    urls.push(JSON.parse(r.response.body.toString('latin1')).url);
  }
  t.equal(urls.length, 100, 'every request is answered');
  t.same(urls, paths, 'in request order');
});

t.test('HTTP/1.0: closes by default, keeps alive when asked', { timeout: 10000 }, async (t) => {
  const a = await rawExchange(port, 'GET /old HTTP/1.0\r\n\r\n');
  const [r] = parseResponses(a.text);
  t.equal(r.status, 200);
  t.equal(JSON.parse(r.body).httpVersion, '1.0');
  t.ok(a.closed, 'connection closed after an HTTP/1.0 response');
  const b = await rawExchange(port, 'GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n');
  t.same(parseResponses(b.text).map((x) => JSON.parse(x.body).url), ['/1', '/2']);
  t.ok(b.closed);
});

t.test('Connection: close is honoured and nothing after it is interpreted', { timeout: 10000 }, async (t) => {
  const { text, closed } = await rawExchange(port, 'GET /1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n');
  const rs = parseResponses(text);
  t.equal(rs.length, 1);
  t.equal(rs[0].headers.connection, 'close');
  t.ok(closed);
});

t.test('limits: 413 body, 431 header field, 414 request line; the connection closes', { timeout: 10000 }, async (t) => {
  const big = await rawExchange(port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n`);
  t.match(big.text, /^HTTP\/1\.1 413 /);
  t.ok(big.closed);
  const chunkedBig = await rawExchange(port, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' + ('400\r\n' + 'y'.repeat(1024) + '\r\n').repeat(2) + '0\r\n\r\n');
  t.match(chunkedBig.text, /^HTTP\/1\.1 413 /);
  const field = await rawExchange(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(600)}\r\n\r\n`);
  t.match(field.text, /^HTTP\/1\.1 431 /);
  t.ok(field.closed);
  const line = await rawExchange(port, `GET /${'a'.repeat(300)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  t.match(line.text, /^HTTP\/1\.1 414 /);
});

t.test('malformed requests get 400 and a closed connection; earlier pipelined ones are still answered', { timeout: 10000 }, async (t) => {
  const { text, closed } = await rawExchange(port, 'GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /bad HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n');
  const rs = parseResponses(text);
  t.equal(rs.length, 2);
  t.equal(rs[0].status, 200);
  t.equal(rs[1].status, 400);
  t.ok(closed);
  const v = await rawExchange(port, 'GET / HTTP/2.0\r\nHost: x\r\n\r\n');
  t.match(v.text, /^HTTP\/1\.1 505 /);
  const noHost = await rawExchange(port, 'GET / HTTP/1.1\r\n\r\n');
  t.match(noHost.text, /^HTTP\/1\.1 400 /);
});

t.test('Expect: 100-continue gets an interim 100 before the body is sent', { timeout: 10000 }, async (t) => {
  const s = await connect(port);
  t.teardown(() => s.destroy());
  let buf = '';
  s.on('data', (c) => (buf += c.toString('latin1')));
  s.write('POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n');
  await new Promise((resolve) => { const check = () => (buf.includes('100 Continue') ? resolve() : setTimeout(check, 5)); check(); });
  t.match(buf, /^HTTP\/1\.1 100 Continue\r\n\r\n$/);
  s.write('data');
  await new Promise((resolve) => { const check = () => (buf.endsWith('}') ? resolve() : setTimeout(check, 5)); check(); });
  const [r] = parseResponses(buf.slice(buf.indexOf('\r\n\r\n') + 4));
  t.equal(r.status, 200);
  t.equal(JSON.parse(r.body).body, 'data');
  const over = await rawExchange(port, 'POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\nExpect: 100-continue\r\n\r\n');
  t.match(over.text, /^HTTP\/1\.1 413 /, 'an oversized expected body is refused before it is sent');
});

t.test('stats report connections and per-worker served counts', async (t) => {
  const st = srv.stats();
  t.equal(st.workers.length, 2);
  t.ok(st.workers.reduce((a, w) => a + w.served, 0) > 10);
  t.ok(st.workers.every((w) => ['idle', 'running'].includes(w.state)));
});

t.test('an Upgrade request is answered as plain HTTP (not taken over yet) and the connection goes on', { timeout: 10000 }, async (t) => {
  const { text } = await rawExchange(port, 'GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.same(parseResponses(text).map((r) => [r.status, JSON.parse(r.body).url]), [[200, '/up'], [200, '/next']]);
});

t.test('an expectation other than 100-continue gets 417 without reaching the app', { timeout: 10000 }, async (t) => {
  const { text } = await rawExchange(port, 'GET /x HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\nConnection: close\r\n\r\n');
  const [r] = parseResponses(text);
  t.equal(r.status, 417);
  t.notMatch(r.body, /"url"/, 'the echo app did not answer');
});

t.test('OPTIONS * and absolute-form targets reach the app as node:http presents them', { timeout: 10000 }, async (t) => {
  const a = await rawExchange(port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const [r1] = parseResponses(a.text);
  t.equal(r1.status, 200);
  t.equal(JSON.parse(r1.body).url, '*');
  const b = await rawExchange(port, 'GET http://example.test/p?q=1 HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n');
  const [r2] = parseResponses(b.text);
  t.equal(JSON.parse(r2.body).url, 'http://example.test/p?q=1');
});

t.test('HEAD gets the headers of GET and no body; the connection stays usable', { timeout: 10000 }, async (t) => {
  const { text } = await rawExchange(port, 'HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  const second = text.slice(text.indexOf('\r\n\r\n') + 4);
  t.match(second, /^HTTP\/1\.1 200 OK\r\n/, 'the HEAD response carried no body');
  t.match(second, /"url":"\/after"/);
});
