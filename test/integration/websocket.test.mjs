// WebSocket through the rings: the `ws` package, unchanged, on the app's
// `upgrade` export. Echo (text, binary), ping/pong, close codes, 1,000 sockets across 4 worker
// threads, pinned sockets counting against a worker's --worker-connections, and a worker being
// retired (reload) closing its sockets with 1001 after --graceful-timeout.
import t from 'tap';
import { availableParallelism } from 'node:os';
import net from 'node:net';
import WebSocket from 'ws';
import { captureLog, delay, fixture, portOf, serve, startServer, until } from '../helpers.mjs';

function open(port, path = '/') {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  const st = { ws, messages: [], close: null, opened: false };
  ws.on('message', (data, isBinary) => st.messages.push({ data, isBinary }));
  ws.on('close', (code, reason) => (st.close = { code, reason: reason.toString() }));
  ws.on('error', () => {});
  st.ready = new Promise((resolve, reject) => {
    ws.once('open', () => {
      st.opened = true;
      resolve(st);
    });
    ws.once('error', reject);
  });
  return st;
}

const nextMessage = async (st, n) => {
  await until(() => st.messages.length >= n, 10000);
  return st.messages[n - 1];
};

t.test('echo text and binary, ping/pong, close codes; plain HTTP still served', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('websocket.mjs') });
  const port = portOf(srv);
  const st = open(port);
  await st.ready;
  st.ws.send('hello');
  const m1 = await nextMessage(st, 1);
  t.equal(m1.isBinary, false);
  t.equal(m1.data.toString(), 'hello');
  const bin = Buffer.from([0, 1, 2, 253, 254, 255]);
  st.ws.send(bin, { binary: true });
  const m2 = await nextMessage(st, 2);
  t.equal(m2.isBinary, true);
  t.same([...m2.data], [...bin]);
  const big = Buffer.alloc(3 * 1048576, 7); // larger than the flow-control window both ways
  st.ws.send(big, { binary: true });
  const m3 = await nextMessage(st, 3);
  t.equal(m3.data.length, big.length);
  t.ok(m3.data.equals(big), '3 MiB binary message echoed intact');
  const pong = new Promise((resolve) => st.ws.once('pong', resolve));
  st.ws.ping('are you there');
  t.equal((await pong).toString(), 'are you there');
  st.ws.send('close:4001');
  await until(() => st.close !== null, 10000);
  t.same(st.close, { code: 4001, reason: 'asked to' });
  // The client closing with its own code: the server's ws answers it.
  const st2 = open(port);
  await st2.ready;
  st2.ws.close(1000, 'done');
  await until(() => st2.close !== null, 10000);
  t.equal(st2.close.code, 1000);
  t.equal(await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()), 'plain http\n');
  await until(() => srv.stats().outstanding === 0);
  t.equal(srv.stats().outstanding, 0, 'closed sockets no longer count as outstanding');
});

t.test('1,000 concurrent sockets across 4 worker threads', { timeout: 120000 }, async (t) => {
  // maxThreads 4: a fixed pool. With elastic threads on (the default), a loaded machine can keep one
  // worker in a handler for 20 ms during the burst of upgrades, and a fifth thread joins (seen in
  // a loaded run of the suite).
  const srv = await startServer(t, { app: fixture('websocket.mjs'), threads: 4, maxThreads: 4 });
  const port = portOf(srv);
  const socks = [];
  for (let i = 0; i < 1000; i++) socks.push(open(port));
  await Promise.all(socks.map((s) => s.ready));
  t.equal(srv.stats().outstanding, 1000, 'every socket is pinned to a worker');
  for (const s of socks) s.ws.send('whoami');
  await until(() => socks.every((s) => s.messages.length >= 1), 60000);
  const threads = new Set(socks.map((s) => s.messages[0]?.data.toString()));
  // Dispatch packs requests onto the first workers (as many as the machine has cores), passing
  // over those busy in a handler: at least that many serve sockets, at most the 4.
  const least = Math.min(4, availableParallelism());
  t.ok(threads.size >= least && threads.size <= 4, `sockets spread over ${[...threads].join(', ')}`);
  for (const [i, s] of socks.entries()) s.ws.send(`m${i}`);
  await until(() => socks.every((s) => s.messages.length >= 2), 60000);
  t.ok(socks.every((s, i) => s.messages[1].data.toString() === `m${i}`), 'each socket got its own echo');
  for (const s of socks) s.ws.close(1000);
  await until(() => socks.every((s) => s.close !== null), 60000);
  t.ok(socks.every((s) => s.close.code === 1000));
  await until(() => srv.stats().outstanding === 0);
});

t.test("pinned sockets count against a worker's --worker-connections", { timeout: 20000 }, async (t) => {
  const { log, lines } = captureLog();
  const srv = await serve({ bind: ['127.0.0.1:0'], app: fixture('websocket.mjs'), threads: 1, threadConcurrency: 1, workerConnections: 2, maxThreads: 1, env: {} }, log);
  t.teardown(() => srv.close());
  const port = portOf(srv);
  const a = open(port);
  const b = open(port);
  await Promise.all([a.ready, b.ready]);
  const c = open(port);
  // The third waits for a place on the only worker (bounded wait: it must not open meanwhile).
  await delay(500);
  t.equal(c.opened, false, 'a third socket waits while two are pinned');
  t.equal(srv.stats().waiting, 1);
  const isFull = (l) => l.level === 'warn' && /every worker holds --worker-connections 2 requests/.test(l.msg);
  t.ok(await until(() => lines.some(isFull), 5000), 'the operator is told why it waits');
  await delay(300); // three more supervisor ticks
  const full = lines.filter(isFull);
  t.equal(full.length, 1, 'once (at most once a minute)');
  t.match(full[0], { waiting: 1, workerConnections: 2, msg: /^1 request\(s\) wait .*raise --worker-connections/ });
  a.ws.close(1000);
  await c.ready;
  t.pass('it opens once one closes');
  b.ws.close(1000);
  c.ws.close(1000);
  await until(() => b.close !== null && c.close !== null);
});

t.test('a worker being retired (reload) closes its sockets with 1001 after --graceful-timeout', { timeout: 30000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('websocket.mjs'), threads: 1, gracefulTimeout: 1 });
  const port = portOf(srv);
  const st = open(port);
  await st.ready;
  await srv.reload();
  await until(() => st.close !== null, 15000);
  t.equal(st.close?.code, 1001, 'going away');
  // New sockets go to the new generation.
  const st2 = open(port);
  await st2.ready;
  st2.ws.send('hi');
  t.equal((await nextMessage(st2, 1)).data.toString(), 'hi');
  st2.ws.close(1000);
  await until(() => st2.close !== null);
});

t.test('shutdown closes sockets with 1001 too: after --graceful-timeout (close()), or at once (close({ graceful: false }))', { timeout: 30000 }, async (t) => {
  for (const graceful of [true, false]) {
    const srv = await startServer(t, { app: fixture('websocket.mjs'), threads: 1, maxThreads: 1, gracefulTimeout: 1 });
    const st = open(portOf(srv));
    await st.ready;
    st.ws.send('hi');
    t.equal((await nextMessage(st, 1)).data.toString(), 'hi');
    await srv.close({ graceful });
    t.ok(await until(() => st.close !== null, 10000), 'the client sees the socket close');
    t.equal(st.close?.code, 1001, `going away (${graceful ? 'graceful' : 'immediate'})`);
  }
});

t.test('a tunnel of another protocol (Upgrade: echo) just closes when its worker is retired: no WebSocket close frame', { timeout: 30000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('raw-upgrade.mjs'), threads: 1, maxThreads: 1, gracefulTimeout: 1 });
  const sock = net.connect(portOf(srv), '127.0.0.1');
  t.teardown(() => sock.destroy());
  const chunks = [];
  sock.on('data', (c) => chunks.push(c));
  const closed = new Promise((resolve) => sock.on('close', resolve));
  sock.write('GET /tunnel HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
  t.ok(await until(() => Buffer.concat(chunks).includes('\r\n\r\n')), 'the 101 came');
  sock.write('ping');
  t.ok(await until(() => Buffer.concat(chunks).toString('latin1').endsWith('ping')), 'the tunnel echoes');
  const before = Buffer.concat(chunks).length;
  await srv.reload();
  await Promise.race([closed, delay(15000)]);
  t.ok(sock.destroyed || sock.readableEnded, 'the connection closed');
  t.equal(Buffer.concat(chunks).length, before, 'nothing was written after the echo: no WebSocket close frame on a non-WebSocket tunnel');
});
