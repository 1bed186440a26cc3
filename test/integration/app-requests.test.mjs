// Split from app-shapes.test.mjs (each file has its own time budget): how request and response
// details reach the app and the client, for both app shapes.
import t from 'tap';
import { connect, fixture, portOf, startServer } from '../helpers.mjs';

import { BINARY, bodyOf, raw } from '../app-helpers.mjs';

// ── shapes that load ─────────────────────────────────────────────────────────────────────────


for (const shape of ['node', 'fetch']) {
  t.test(`${shape} shape: request and response details (echo-${shape}.mjs)`, { timeout: 30000 }, async (t) => {
    const h = await startServer(t, { app: fixture(`echo-${shape}.mjs`), threads: 1 });

    t.test(`${shape}: method, url with query, multi-valued headers`, { timeout: 10000 }, async (t) => {
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
        const r = await fetch(new URL('/echo?a=1&b=two%20words&a=3', h.url), { method });
        const e = await r.json();
        t.equal(e.method, method, `${method} reaches the app`);
      }
      const { text } = await raw(portOf(h),
        'GET /echo?a=1&b=two%20words&c=%E2%9C%93 HTTP/1.1\r\nHost: example.test:8080\r\nX-Multi: one\r\n' +
        'X-Multi: two\r\nX-Single: v\r\nAccept: text/html\r\nAccept: application/json\r\nConnection: close\r\n\r\n');
      const e = JSON.parse(bodyOf(text));
      const path = '/echo?a=1&b=two%20words&c=%E2%9C%93';
      if (shape === 'node') {
        t.equal(e.url, path, 'req.url keeps the query, still encoded');
        t.equal(e.httpVersion, '1.1');
        t.equal(e.headers['x-multi'], 'one, two', 'repeated headers are joined in req.headers');
        t.equal(e.headers.accept, 'text/html, application/json');
        t.equal(e.headers.host, 'example.test:8080');
        const raws = [];
        for (let i = 0; i < e.rawHeaders.length; i += 2) if (e.rawHeaders[i] === 'X-Multi') raws.push(e.rawHeaders[i + 1]);
        t.same(raws, ['one', 'two'], 'req.rawHeaders keeps each line, in order and case');
      } else {
        t.equal(e.url, `http://example.test:8080${path}`, 'request.url is absolute, from the Host header');
        t.equal(e.pathAndQuery, path);
        t.equal(e.headers['x-multi'], 'one, two', 'repeated headers are combined');
        t.equal(e.headers.accept, 'text/html, application/json');
        t.equal(e.headers['x-single'], 'v');
      }
    });

    t.test(`${shape}: request bodies arrive byte for byte`, { timeout: 10000 }, async (t) => {
      const bin = await fetch(new URL('/body', h.url), { method: 'POST', body: BINARY, headers: { 'content-type': 'application/octet-stream' } });
      t.equal(bin.status, 200);
      t.equal(bin.headers.get('x-body-length'), String(BINARY.length));
      t.ok(Buffer.from(await bin.arrayBuffer()).equals(BINARY), `a ${BINARY.length}-byte binary body round-trips`);

      const empty = await fetch(new URL('/body', h.url), { method: 'POST' });
      t.equal(empty.status, 200);
      t.equal(empty.headers.get('x-body-length'), '0', 'an empty POST has an empty body');
      t.equal((await empty.arrayBuffer()).byteLength, 0);

      const utf8 = await fetch(new URL('/body', h.url), { method: 'PUT', body: 'héllo ✓ 日本' });
      t.equal(await utf8.text(), 'héllo ✓ 日本');

      // A chunked upload: the app sees the decoded bytes.
      const { text } = await raw(portOf(h),
        'POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
        '5\r\nhello\r\n7\r\n, \x00\xff\x80!!\r\n0\r\n\r\n');
      t.equal(bodyOf(text), 'hello, \x00\xff\x80!!', 'a chunked body is decoded');
    });

    t.test(`${shape}: status text and several Set-Cookie headers`, { timeout: 10000 }, async (t) => {
      const res = await fetch(new URL('/status', h.url));
      t.equal(res.status, 299);
      t.equal(res.statusText, 'Fine Thanks');
      t.same(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2; HttpOnly'], 'each cookie is its own header');
      t.equal(await res.text(), 'status');
      const { text } = await raw(portOf(h), 'GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      t.match(text, /^HTTP\/1\.1 299 Fine Thanks\r\n/);
      t.equal(text.match(/^set-cookie: /gim)?.length, 2, 'two Set-Cookie lines on the wire');
    });

    t.test(`${shape}: HEAD requests get no body`, { timeout: 10000 }, async (t) => {
      const res = await fetch(new URL('/status', h.url), { method: 'HEAD' });
      t.equal(res.status, 299);
      t.equal(await res.text(), '');
      // On the wire: a HEAD pipelined before a GET; the GET's status line must follow the HEAD's
      // head directly, with no body bytes in between.
      const { text } = await raw(portOf(h),
        'HEAD /status HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const parts = text.split('\r\n\r\n');
      t.match(parts[0], /^HTTP\/1\.1 299 Fine Thanks\r\n/);
      t.match(parts[1], /^HTTP\/1\.1 200 OK\r\n/, 'the second HEAD answer follows the first with no body between');
      t.match(parts[2], /^HTTP\/1\.1 200 OK\r\n/, 'the GET answer follows the second HEAD with no body between');
      t.equal(bodyOf(parts.slice(2).join('\r\n\r\n')), `${shape === 'node' ? 'node listener' : 'fetch handler'}`);
    });

    if (shape === 'node') {
      t.test('node: req.socket gives the client address and port', { timeout: 10000 }, async (t) => {
        const { text, localPort } = await raw(portOf(h), 'GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        const e = JSON.parse(bodyOf(text));
        t.equal(e.remoteAddress, '127.0.0.1');
        t.equal(e.remotePort, localPort, "req.socket.remotePort is the client's port");
      });
    }
  });
}

// A client that half-closes after sending its request (`printf 'GET / ...' | nc -N`) still gets
// the response: the acceptor listens with allowHalfOpen and ends its side after the responses owed.
t.test('a request followed by a half-close still gets its response', {
  timeout: 10000,
}, async (t) => {
  const h = await startServer(t, { app: fixture('echo-node.mjs'), threads: 1 });
  const s = await connect(portOf(h));
  const text = await new Promise((resolve) => {
    const chunks = [];
    const timer = setTimeout(() => s.destroy(), 3000);
    s.on('data', (c) => chunks.push(c));
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString('latin1')); });
    s.on('error', () => {});
    s.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  t.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nnode listener$/);
});
