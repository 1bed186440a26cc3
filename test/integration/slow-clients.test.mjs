// Slow readers and silent connections (docs/decisions/0024-slow-clients.md): a client that does
// not read is closed after --send-timeout; a handler that has ended its response does not keep
// its --thread-concurrency place while the bytes wait for the client; a connection that sends
// nothing is timed by --header-timeout from accept; at the --connections cap the longest-idle
// connection is closed to admit a new one.
import t from 'tap';
import net from 'node:net';
import { captureLog, delay, fixture, portOf, serve, startServer, until } from '../helpers.mjs';
import { RawConn, rawGet } from '../wire.mjs';

const BIG = 48_000_000; // far more than the kernel's socket buffers on loopback take

/** A client that asks for `path` and then reads nothing. */
function nonReader(port, path) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => {
      s.pause();
      s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Read everything until the server closes (or `ms` pass): the byte count, and whether it closed. */
function drain(s, ms) {
  return new Promise((resolve) => {
    let n = 0;
    const timer = setTimeout(() => resolve({ bytes: n, closed: false }), ms);
    s.on('data', (c) => (n += c.length));
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve({ bytes: n, closed: true }); });
    s.resume();
  });
}

t.test('--send-timeout closes a connection whose client takes nothing', { timeout: 30000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('sized.mjs'), threads: 1, maxThreads: 1, sendTimeout: 1 });
  const port = portOf(srv);
  const s = await nonReader(port, `/size/${BIG}`);
  t.teardown(() => s.destroy());
  const start = performance.now();
  t.ok(await until(() => srv.stats().connections === 0, 8000), 'the server closed it');
  const ms = performance.now() - start;
  t.ok(ms >= 900, `after ${Math.round(ms)} ms (1 s, checked once a second)`);
  const got = await drain(s, 10000);
  t.ok(got.closed, 'the client sees the close once it reads');
  t.ok(got.bytes < BIG, `the response was cut (${got.bytes} of ${BIG} bytes)`);
});

t.test('a slow reader that keeps reading is not cut, though its response takes longer than --send-timeout', { timeout: 30000 }, async (t) => {
  // 2 s, not 1: the sweep looks once a second, and a loaded machine may delay this client's reads.
  const srv = await startServer(t, { app: fixture('sized.mjs'), threads: 1, maxThreads: 1, sendTimeout: 2 });
  const port = portOf(srv);
  const size = 16_000_000;
  const s = await nonReader(port, `/size/${size}`);
  t.teardown(() => s.destroy());
  // At most one read (64 KiB) per 15 ms: about 4 MB/s, so 16 MB take 4 s or more.
  const start = performance.now();
  let n = 0;
  const done = /** @type {Promise<void>} */ (new Promise((resolve) => {
    s.on('data', (c) => {
      n += c.length;
      if (n > size) return resolve();
      s.pause();
      setTimeout(() => s.resume(), 15);
    });
    s.on('close', resolve);
  }));
  s.resume();
  await done;
  const ms = performance.now() - start;
  t.ok(n > size, `the whole response arrived (${n} bytes)`);
  t.ok(ms > 2500, `over ${Math.round(ms)} ms, more than the 2 s send timeout`);
  t.equal(srv.stats().connections, 1, 'the connection is still open');
});

t.test('a handler that has ended its response does not hold its place while the bytes wait', { timeout: 30000 }, async (t) => {
  // Two places on one thread, no send timeout: only freeing the place lets the next request run.
  const srv = await startServer(t, { app: fixture('sized.mjs'), threads: 1, maxThreads: 1, threadConcurrency: 2, workerConnections: 2, sendTimeout: 0, gracefulTimeout: 1 });
  const port = portOf(srv);
  const slow = [];
  t.teardown(() => { for (const s of slow) s.destroy(); });
  for (let i = 0; i < 3; i++) slow.push(await nonReader(port, `/size/${BIG}`));
  const r = await rawGet(port, '/size/2', { ms: 5000 });
  t.same([r.response?.status, r.response?.body.length], [200, 2], 'a new request is served while three responses wait for their readers');
  // The last of the three may still be ending (48 MB to fill, its ended frame on its way).
  t.ok(await until(() => srv.stats().outstanding === 0, 5000), `none of them counts as in flight (${srv.stats().outstanding})`);
  const got = await drain(slow[0], 15000);
  t.ok(got.bytes > BIG, 'a waiting response is still delivered whole when its client reads');
});

t.test('a connection that sends nothing is closed --header-timeout after accept', { timeout: 30000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('sized.mjs'), threads: 1, maxThreads: 1, headerTimeout: 1, keepAlive: 60 });
  const port = portOf(srv);
  const silent = await RawConn.open(port);
  const used = await RawConn.open(port);
  t.teardown(() => { silent.destroy(); used.destroy(); });
  await used.send(Buffer.from('GET /size/1 HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1'));
  t.equal((await used.next(5000)).response?.status, 200);
  t.ok(await silent.waitClose(4000), 'the silent connection is closed within a few seconds, not --keep-alive');
  t.equal(silent.buf.length, 0, 'without a response');
  await delay(1500);
  t.notOk(used.closed, 'a connection that was served keeps --keep-alive');
});

t.test('at the --connections cap the longest-idle connection makes room for a new one', { timeout: 30000 }, async (t) => {
  const { log, lines } = captureLog();
  const srv = await serve({ bind: ['127.0.0.1:0'], app: fixture('sized.mjs'), threads: 1, maxThreads: 1, connections: 2, headerTimeout: 60, keepAlive: 60, env: {} }, log);
  t.teardown(() => srv.close());
  const port = portOf(srv);
  const silent = await RawConn.open(port); // accepted first, sends nothing: the longest idle
  t.teardown(() => silent.destroy());
  await until(() => srv.stats().connections === 1, 2000);
  const used = await RawConn.open(port);
  t.teardown(() => used.destroy());
  await used.send(Buffer.from('GET /size/1 HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1'));
  t.equal((await used.next(5000)).response?.status, 200);
  const r = await rawGet(port, '/size/3', { ms: 3000 });
  t.same([r.response?.status, r.response?.body.length], [200, 3], 'a third client is served at once');
  t.ok(silent.closed, 'the longest-idle connection was closed for it');
  t.notOk(used.closed, 'the other one stays');
  t.ok(lines.some((l) => l.level === 'warn' && /--connections 2 reached: closed 1 idle connection/.test(l.msg)), 'the log says so');
});
