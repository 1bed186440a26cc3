// Streamed request bodies: a body above --body-buffer-size reaches the handler
// while it is still being sent (node `req`, Fetch `request.body`), byte-exact; a handler that does
// not read stops the upload with the acceptor holding a bounded amount; --limit-request-body gives
// 413 up front (Content-Length) and mid-stream (chunked); a client that goes away mid-upload
// reaches the handler; pipelined requests after an upload keep their order; small bodies keep the
// buffered path. Handler and test handshake over a BroadcastChannel, never by sleeping, except the
// one bounded wait of the stalled-upload test (it checks that nothing grows during it).
import t from 'tap';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { connect, delay, fixture, parseResponses, portOf, startServer, until, channel } from '../helpers.mjs';

const MiB = 1048576;

/** Deterministic bytes: piece i of `size` bytes (not all-equal, so a reorder would show in the hash). */
function piece(i, size) {
  const b = Buffer.allocUnsafe(size);
  for (let k = 0; k < size; k += 4) b.writeUInt32LE((i * 2654435761 + k * 40503) >>> 0, k);
  return b;
}

/**
 * A streaming fetch body of `total` bytes: `before` bytes, then it waits for `gate()` (the handler
 * said it saw data), then the rest. Returns { stream, hash: Promise<hex> }.
 */
function gatedBody(total, before, gate) {
  const size = 64 * 1024;
  const hash = createHash('sha256');
  let sent = 0;
  let i = 0;
  let gated = false;
  let resolveHash;
  const hashed = new Promise((r) => (resolveHash = r));
  const stream = new ReadableStream({
    async pull(controller) {
      if (sent >= before && !gated) {
        gated = true;
        await gate();
      }
      if (sent >= total) {
        resolveHash(hash.digest('hex'));
        controller.close();
        return;
      }
      const b = piece(i++, Math.min(size, total - sent));
      sent += b.length;
      hash.update(b);
      controller.enqueue(new Uint8Array(b.buffer, b.byteOffset, b.length));
    },
  });
  return { stream, hash: hashed, sent: () => sent };
}

/** Collect a raw socket's bytes until it closes (or `ms`); resolves the text. */
function collect(s, ms = 20000) {
  return new Promise((resolve) => {
    let text = '';
    s.on('data', (c) => (text += c.toString('latin1')));
    const timer = setTimeout(() => resolve(text), ms);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    s.on('error', () => {});
  });
}

t.test('node shape: a 50 MiB streamed fetch upload reaches the handler while it is sent, byte-exact', { timeout: 120000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('uploads.mjs'), limitRequestBody: 64 * MiB });
  const ch = channel(t, 'gs-uploads');
  const total = 50 * MiB;
  let sentAtFirstData = -1;
  const body = gatedBody(total, 1 * MiB, async () => {
    await ch.wait((e) => e.key === 'u1' && e.op === 'first-data');
    sentAtFirstData = body.sent();
  });
  const res = await fetch(`http://127.0.0.1:${portOf(srv)}/hash?key=u1`, { method: 'POST', body: body.stream, duplex: 'half' });
  const out = await res.json();
  t.equal(res.status, 200);
  t.ok(sentAtFirstData > 0 && sentAtFirstData < total, `the handler saw data when the client had sent ${sentAtFirstData} of ${total} bytes`);
  t.equal(out.completeAtFirstData, false, 'the handler ran before the body was complete');
  t.equal(out.bytes, total);
  t.equal(out.sha256, await body.hash, 'byte-exact');
});

t.test('node shape: a Content-Length upload (node:http client) streams too', { timeout: 60000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('uploads.mjs'), limitRequestBody: 16 * MiB });
  const total = 8 * MiB;
  const hash = createHash('sha256');
  const out = await new Promise((resolve, reject) => {
    const req = http.request({ port: portOf(srv), host: '127.0.0.1', method: 'PUT', path: '/hash?key=cl', headers: { 'content-length': total } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(JSON.parse(text)));
    });
    req.on('error', reject);
    for (let i = 0; i < total / 65536; i++) {
      const b = piece(i, 65536);
      hash.update(b);
      req.write(b);
    }
    req.end();
  });
  t.equal(out.bytes, total);
  t.equal(out.sha256, hash.digest('hex'));
  t.equal(out.completeAtFirstData, false);
});

t.test('fetch shape: request.body streams a 20 MiB upload', { timeout: 60000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('uploads-fetch.mjs'), limitRequestBody: 32 * MiB });
  const ch = channel(t, 'gs-uploads-fetch');
  const total = 20 * MiB;
  let sentAtFirstData = -1;
  const body = gatedBody(total, 512 * 1024, async () => {
    await ch.wait((e) => e.key === 'f1' && e.op === 'first-data');
    sentAtFirstData = body.sent();
  });
  const res = await fetch(`http://127.0.0.1:${portOf(srv)}/?key=f1`, { method: 'POST', body: body.stream, duplex: 'half' });
  const out = await res.json();
  t.ok(sentAtFirstData > 0 && sentAtFirstData < total, `request.body delivered data after ${sentAtFirstData} bytes were sent`);
  t.equal(out.bytes, total);
  t.equal(out.sha256, await body.hash);
});

t.test('a handler that does not read stops the upload; the acceptor holds a bounded amount', { timeout: 90000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('uploads.mjs'), threads: 1, limitRequestBody: 64 * MiB });
  const ch = channel(t, 'gs-uploads');
  const total = 32 * MiB;
  const s = await connect(portOf(srv));
  const got = collect(s, 60000);
  s.write(`POST /stall?key=s1 HTTP/1.1\r\nHost: x\r\nContent-Length: ${total}\r\n\r\n`);
  const hash = createHash('sha256');
  for (let i = 0; i < total / 65536; i++) {
    const b = piece(i, 65536);
    hash.update(b);
    s.write(b); // node buffers what the kernel does not take: the client never stops on its own
  }
  await ch.wait((e) => e.key === 's1' && e.op === 'started');
  // Give the acceptor every chance to read on while the handler reads nothing. Bound: the upload
  // window (256 KiB) plus a socket read or two; 4 MiB is far above that and far below the 32 MiB
  // an acceptor that buffers the body would hold.
  await delay(500);
  const held = srv.stats().connectionBufferMax;
  t.ok(held < 4 * MiB, `acceptor holds ${held} bytes for the stalled upload`);
  t.ok(s.writableLength > 8 * MiB, `the client still holds ${s.writableLength} unsent bytes: the server stopped reading`);
  t.notOk(ch.events.some((e) => e.key === 's1' && e.op === 'first-data'), 'the handler has read nothing');
  ch.next('s1');
  await ch.wait((e) => e.key === 's1' && e.op === 'end', 60000);
  s.end();
  const [r] = parseResponses(await got);
  t.equal(r.status, 200);
  const out = JSON.parse(r.body);
  t.equal(out.bytes, total);
  t.equal(out.sha256, hash.digest('hex'), 'all of it arrived once the handler read');
});

t.test('--limit-request-body: 413 for a Content-Length over it, and for a chunked body that grows past it', { timeout: 30000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('uploads.mjs'), limitRequestBody: MiB });
  const ch = channel(t, 'gs-uploads');
  const port = portOf(srv);
  const a = await connect(port);
  const gotA = collect(a);
  a.write(`POST /hash?key=l1 HTTP/1.1\r\nHost: x\r\nContent-Length: ${MiB + 1}\r\n\r\n`);
  t.match(await gotA, /^HTTP\/1\.1 413 /, 'known up front: 413 before any body');
  t.notOk(ch.events.some((e) => e.key === 'l1'), 'the handler never ran');

  const b = await connect(port);
  const gotB = collect(b);
  b.write('POST /hash?key=l2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
  const chunk = piece(0, 128 * 1024);
  const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
  for (let i = 0; i < 4; i++) b.write(frame); // 512 KiB: past --body-buffer-size, under the limit
  await ch.wait((e) => e.key === 'l2' && e.op === 'first-data');
  for (let i = 0; i < 8; i++) if (!b.destroyed) b.write(frame); // past 1 MiB
  const text = await gotB;
  t.match(text, /^HTTP\/1\.1 413 /, 'reached mid-stream: 413, the handler had not answered');
  await ch.wait((e) => e.key === 'l2' && e.op === 'close');
  t.equal(ch.events.find((e) => e.key === 'l2' && e.op === 'close').complete, false, "the handler's request ended incomplete");
  t.ok(ch.events.some((e) => e.key === 'l2' && e.op === 'aborted'), "the handler's request was aborted");
  t.notOk(ch.events.some((e) => e.key === 'l2' && e.op === 'end'), 'no end for a refused body');
});

t.test('a client that goes away mid-upload reaches the handler (node: aborted; fetch: request.signal, body error)', { timeout: 30000 }, async (t) => {
  const node = await startServer(t, { app: fixture('uploads.mjs'), limitRequestBody: 64 * MiB });
  const ch = channel(t, 'gs-uploads');
  const a = await connect(portOf(node));
  a.on('error', () => {});
  a.write(`POST /hash?key=d1 HTTP/1.1\r\nHost: x\r\nContent-Length: ${16 * MiB}\r\n\r\n`);
  a.write(piece(0, 256 * 1024));
  await ch.wait((e) => e.key === 'd1' && e.op === 'first-data');
  a.destroy();
  await ch.wait((e) => e.key === 'd1' && e.op === 'aborted');
  t.pass('node shape: req emitted aborted');
  await until(() => node.stats().outstanding === 0);
  t.equal(node.stats().outstanding, 0, 'the exchange is released');

  const fetchApp = await startServer(t, { app: fixture('uploads-fetch.mjs'), limitRequestBody: 64 * MiB });
  const fch = channel(t, 'gs-uploads-fetch');
  const b = await connect(portOf(fetchApp));
  b.on('error', () => {});
  b.write(`POST /?key=d2 HTTP/1.1\r\nHost: x\r\nContent-Length: ${16 * MiB}\r\n\r\n`);
  b.write(piece(0, 256 * 1024));
  await fch.wait((e) => e.key === 'd2' && e.op === 'first-data');
  b.destroy();
  await fch.wait((e) => e.key === 'd2' && e.op === 'signal-aborted');
  await fch.wait((e) => e.key === 'd2' && e.op === 'body-error');
  t.pass('fetch shape: request.signal aborted and the body stream failed');
  await until(() => fetchApp.stats().outstanding === 0);
  t.equal(fetchApp.stats().outstanding, 0);
});

t.test('pipelined requests after a streamed upload (read whole, or answered early) keep their order', { timeout: 30000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('uploads.mjs'), limitRequestBody: 16 * MiB });
  const s = await connect(portOf(srv));
  const got = collect(s);
  const body = piece(7, 2 * MiB);
  const early = piece(8, 3 * MiB);
  s.write(
    Buffer.concat([
      Buffer.from(`POST /hash?key=p1 HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`), body,
      Buffer.from('GET /small HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.from(`POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: ${early.length}\r\n\r\n`), early,
      Buffer.from('GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    ]),
  );
  const rs = parseResponses(await got);
  t.equal(rs.length, 4, 'four responses');
  t.same(JSON.parse(rs[0].body), { bytes: body.length, sha256: createHash('sha256').update(body).digest('hex'), completeAtFirstData: false });
  t.equal(rs[1].body, 'small\n');
  t.equal(rs[2].body, 'early\n', 'an upload answered without reading its body');
  t.equal(rs[3].body, 'small\n', 'the request after it is framed where that body ended');
});

t.test('small bodies keep the buffered path: the handler starts with the body complete', { timeout: 30000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('uploads.mjs') });
  const port = portOf(srv);
  const small = piece(1, 60 * 1024);
  const res = await fetch(`http://127.0.0.1:${port}/hash?key=b1`, { method: 'POST', body: small });
  const out = await res.json();
  t.equal(out.completeAtFirstData, true, 'a 60 KiB body (under the 64 KiB default) arrives whole');
  t.equal(out.sha256, createHash('sha256').update(small).digest('hex'));
  const srv0 = await startServer(t, { app: fixture('uploads.mjs'), bodyBufferSize: 1024 * 1024 });
  const mid = piece(2, 900 * 1024);
  const out2 = await (await fetch(`http://127.0.0.1:${portOf(srv0)}/hash?key=b2`, { method: 'POST', body: mid })).json();
  t.equal(out2.completeAtFirstData, true, '--body-buffer-size raises the threshold');
  t.equal(out2.bytes, mid.length);
});
