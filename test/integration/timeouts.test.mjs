// Timeouts and backpressure at the acceptor: header timeout (slowloris), least body rate,
// keep-alive idle close, requests per connection, and a client that does not read its responses.
import t from 'tap';
import { pathToFileURL } from 'node:url';
import { channel, connect, fixture, httpGet, parseResponses, portOf, rawExchange, startServer } from '../helpers.mjs';

function trickle(socket, text, everyMs) {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return clearInterval(timer);
    socket.write(text[i++]);
  }, everyMs);
  return timer;
}

function closedWith(socket) {
  return new Promise((resolve) => {
    let buf = '';
    const started = Date.now();
    socket.on('data', (c) => (buf += c.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve({ text: buf, ms: Date.now() - started }));
  });
}

t.test('a client trickling its header gets 408 after --header-timeout; others are served meanwhile', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('sized.mjs'), headerTimeout: 1 });
  const port = portOf(srv);
  const slow = [];
  for (let i = 0; i < 50; i++) slow.push(await connect(port));
  t.teardown(() => slow.forEach((s) => s.destroy()));
  const done = slow.map((s) => closedWith(s));
  const timers = slow.map((s) => trickle(s, 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'y'.repeat(200), 100));
  t.teardown(() => timers.forEach(clearInterval));
  for (let i = 0; i < 10; i++) {
    const r = await httpGet({ port, path: '/' });
    t.equal(r.status, 200);
    t.ok(r.ms < 500, `a well-behaved request is served in ${r.ms.toFixed(1)} ms while 50 clients trickle`);
  }
  const results = await Promise.all(done);
  t.ok(results.every((r) => /^HTTP\/1\.1 408 /.test(r.text)), 'every trickling client got a 408');
  t.ok(results.every((r) => r.ms < 4000), `and was closed within the timeout and the sweep (max ${Math.max(...results.map((r) => r.ms))} ms)`);
});

/** POST a 100 kB body at 10 bytes/s under --min-body-rate 1000; resolves what came back before the close. */
async function slowUpload(t, options) {
  const srv = await startServer(t, { app: fixture('sized.mjs'), headerTimeout: 1, minBodyRate: 1000, ...options });
  const s = await connect(portOf(srv));
  t.teardown(() => s.destroy());
  const done = closedWith(s);
  s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n');
  const timer = trickle(s, 'z'.repeat(1000), 100); // 10 bytes/s
  t.teardown(() => clearInterval(timer));
  return done;
}

t.test('an upload slower than --min-body-rate gets 408 and the connection closes', { timeout: 20000 }, async (t) => {
  // --body-buffer-size above the body: it is buffered by the acceptor, and the app never sees it.
  const r = await slowUpload(t, { bodyBufferSize: 200000 });
  t.match(r.text, /^HTTP\/1\.1 408 /);
  t.ok(r.ms < 5000, `cut after ${r.ms} ms`);
});

t.test('a streamed upload answered early and then too slow is closed, with no second answer', { timeout: 20000 }, async (t) => {
  // The body (100 kB) is over --body-buffer-size (64 KiB): the app gets the request at once and
  // answers without reading it. The rest of the body then trickles in under --min-body-rate:
  // nothing is left to answer, so the connection closes after the app's 200, without a 408.
  const r = await slowUpload(t, {});
  t.match(r.text, /^HTTP\/1\.1 200 /);
  t.notMatch(r.text, /408/, 'no answer after the app\'s');
  t.ok(r.ms < 5000, `cut after ${r.ms} ms`);
});

t.test('a streamed upload too slow for --min-body-rate gets 408 also when it closes the connection', { timeout: 30000 }, async (t) => {
  // Bodies over --body-buffer-size (64 KiB) go to the handler as they arrive. A request that says
  // Connection: close, or any HTTP/1.0 one without keep-alive, was never checked against the
  // least body rate: the trickling client held its connection and the handler for good.
  const srv = await startServer(t, { app: fixture('uploads.mjs'), headerTimeout: 1, minBodyRate: 1000 });
  const ch = channel(t, 'gs-uploads');
  const heads = {
    keepalive: 'POST /hash?key=keepalive HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n',
    close: 'POST /hash?key=close HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n',
    http10: 'POST /hash?key=http10 HTTP/1.0\r\nContent-Length: 100000\r\n\r\n',
  };
  const runs = Object.entries(heads).map(async ([key, head]) => {
    const s = await connect(portOf(srv));
    t.teardown(() => s.destroy());
    const done = closedWith(s);
    s.write(head);
    const timer = trickle(s, 'z'.repeat(1000), 100); // 10 bytes/s
    t.teardown(() => clearInterval(timer));
    // Bounded: on the broken code the connection stays open for as long as the client trickles.
    const cut = setTimeout(() => s.destroy(), 8000);
    const r = await done;
    clearTimeout(cut);
    return { key, ...r };
  });
  for (const r of await Promise.all(runs)) {
    t.match(r.text, /^HTTP\/1\.1 408 /, `${r.key}: 408`);
    t.ok(r.ms < 5000, `${r.key}: closed after ${r.ms} ms`);
    await ch.wait((e) => e.key === r.key && e.op === 'aborted', 5000);
    t.pass(`${r.key}: the handler's request was aborted`);
  }
});

t.test('an upload at a good rate is not cut by the header timeout', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('sized.mjs'), headerTimeout: 1, minBodyRate: 100 });
  const s = await connect(portOf(srv));
  t.teardown(() => s.destroy());
  const done = closedWith(s);
  s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2500\r\nConnection: close\r\n\r\n');
  const timer = trickle(s, 'z'.repeat(2500), 1); // well over 100 bytes/s, for ~2.5 s
  t.teardown(() => clearInterval(timer));
  const r = await done;
  t.match(r.text, /^HTTP\/1\.1 200 /);
  t.ok(r.ms > 1500, 'the body took longer than --header-timeout');
});

t.test('an idle keep-alive connection closes after --keep-alive', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('sized.mjs'), keepAlive: 1 });
  const s = await connect(portOf(srv));
  t.teardown(() => s.destroy());
  const done = closedWith(s);
  s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  const r = await done;
  t.match(r.text, /^HTTP\/1\.1 200 /);
  t.match(r.text, /Keep-Alive: timeout=1/);
  t.ok(r.ms >= 900 && r.ms < 3500, `closed after ${r.ms} ms idle`);
});

t.test('--keep-alive 0 answers every request with Connection: close', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('sized.mjs'), keepAlive: 0 });
  const { text, closed } = await rawExchange(portOf(srv), 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n');
  const rs = parseResponses(text);
  t.equal(rs.length, 1, 'only the first request is answered');
  t.equal(rs[0].headers.connection, 'close');
  t.ok(closed);
});

t.test('--max-requests-per-connection closes after the last one, which says Connection: close', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('sized.mjs'), maxRequestsPerConnection: 3 });
  const req = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
  const { text, closed } = await rawExchange(portOf(srv), req.repeat(5));
  const rs = parseResponses(text);
  t.equal(rs.length, 3);
  t.same(rs.map((r) => r.headers.connection), ['keep-alive', 'keep-alive', 'close']);
  t.ok(closed);
});

t.test('a client that does not read its responses stops being read (bounded buffering)', { timeout: 30000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('sized.mjs'), threads: 2 });
  const s = await connect(portOf(srv));
  t.teardown(() => s.destroy());
  s.pause(); // read nothing
  const n = 2000;
  const req = 'GET /size/16384 HTTP/1.1\r\nHost: x\r\n\r\n';
  s.write(req.repeat(n));
  // Handshake: wait until the server has answered everything it accepted and stopped taking more.
  let last = -1;
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const served = srv.stats().workers.reduce((a, w) => a + w.served, 0);
    if (served === last && srv.stats().outstanding === 0) break;
    last = served;
  }
  const served = srv.stats().workers.reduce((a, w) => a + w.served, 0);
  t.ok(served < n / 4, `only ${served} of ${n} pipelined requests were taken while the client read nothing`);
  // Now read everything: all n responses arrive, in order.
  let buf = Buffer.alloc(0);
  let count = 0;
  await /** @type {Promise<void>} */ (new Promise((resolve) => {
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      let at;
      while ((at = buf.indexOf('\r\n\r\n')) >= 0 && buf.length >= at + 4 + 16384) {
        buf = buf.subarray(at + 4 + 16384);
        count++;
      }
      if (count === n) resolve();
    });
    s.resume();
  }));
  t.equal(count, n, 'every response arrives once the client reads');
});

t.test('--header-timeout counts from the connection, not from when the server was built (a slow boot)', { timeout: 30000 }, async (t) => {
  // The workers take 3 s to boot (setup), so start() resolves 3 s after the server was built.
  // A partial head sent at once must get its 408 about --header-timeout (2 s) later, not at the
  // first sweep (1 s) as it did when new connections were stamped with the constructor's clock.
  const app = `${pathToFileURL(fixture('slow-setup.mjs')).href}?setupMs=3000`;
  const srv = await startServer(t, { app, threads: 1, maxThreads: 1, headerTimeout: 2 });
  const socket = await connect(portOf(srv));
  const closed = closedWith(socket);
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
  const r = await closed;
  t.match(r.text, /^HTTP\/1\.1 408 /);
  t.ok(r.ms >= 1900, `408 after ${r.ms} ms: the header timeout started with the connection`);
});
