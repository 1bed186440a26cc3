// --connections: 1,000 simultaneous clients are held and served; past the cap, new connections
// wait unread (like a listen backlog) until a slot frees, then are served. A connection that the
// app closes while later pipelined requests are owed does not leave them running for nobody.
// Out of file descriptors, the connections closed unanswered are named in the error log.
import t from 'tap';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { channel, cliPath, connect, delay, example, fixture, parseResponses, portOf, startServer, until } from '../helpers.mjs';
import { RawConn } from '../wire.mjs';

function request(socket, path) {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (c) => {
      buf += c.toString('latin1');
      const rs = parseResponses(buf);
      if (rs.length === 1 && rs[0].body.length === Number(rs[0].headers['content-length'])) {
        socket.off('data', onData);
        resolve(rs[0]);
      }
    };
    socket.on('data', onData);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

t.test('1,000 concurrent keep-alive connections are held and served', { timeout: 60000 }, async (t) => {
  const srv = await startServer(t, { app: example('hello.mjs'), threads: 2, connections: 1000 });
  const port = portOf(srv);
  const sockets = [];
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  for (let i = 0; i < 1000; i++) sockets.push(await connect(port));
  const deadline = Date.now() + 10000;
  while (srv.stats().connections < 1000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.equal(srv.stats().connections, 1000, 'all 1,000 connections are open at once');
  const first = await Promise.all(sockets.map((s, i) => request(s, `/a${i}`)));
  t.ok(first.every((r) => r.status === 200 && r.body === 'Hello, World!'), 'every connection served');
  const second = await Promise.all(sockets.map((s, i) => request(s, `/b${i}`)));
  t.ok(second.every((r) => r.status === 200), 'and served again on the same kept-alive connections');
  t.equal(srv.stats().connections, 1000, 'still all open');
});

t.test('past the cap a connection waits unread until another closes', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: example('hello.mjs'), threads: 1, connections: 2 });
  const port = portOf(srv);
  const a = await connect(port);
  const b = await connect(port);
  t.teardown(() => [a, b].forEach((s) => s.destroy()));
  t.equal((await request(a, '/a')).status, 200);
  t.equal((await request(b, '/b')).status, 200);
  const c = await connect(port); // the kernel accepts it; greenserve holds it unread
  t.teardown(() => c.destroy());
  let answered = false;
  const pending = request(c, '/c').then((r) => { answered = true; return r; });
  // Handshake: a request on an admitted connection completes while c stays unanswered.
  t.equal((await request(a, '/a2')).status, 200);
  t.equal(answered, false, 'the third connection is not served while two are open');
  t.equal(srv.stats().connections, 2);
  a.destroy();
  const r = await pending;
  t.equal(r.status, 200, 'served once a slot freed');
});

// The app answers /close with Connection: close while a pipelined /stream behind it is owed: the
// connection ends after /close, so the stream's handler must hear of it ('close', as when a client
// goes away) and the server's count of requests owed must return to 0. Handshakes, no sleeps:
// /close answers only once the stream is open (or, below, once the stream waits for a worker).
t.test('a request pipelined behind a response that closes the connection is cancelled', { timeout: 30000 }, async (t) => {
  const ch = channel(t, 'gs-says-close');
  const srv = await startServer(t, { app: fixture('says-close.mjs'), threads: 1, maxThreads: 1 });
  const c = await RawConn.open(portOf(srv));
  t.teardown(() => c.destroy());
  await c.send(Buffer.from('GET /close?key=c1 HTTP/1.1\r\nHost: x\r\n\r\nGET /stream?key=s1 HTTP/1.1\r\nHost: x\r\n\r\n'));
  await ch.wait((e) => e.key === 's1' && e.op === 'open', 10000);
  ch.next('c1');
  const r = await c.next(10000);
  t.equal(r.response?.status, 200, '/close is answered');
  t.equal(r.response?.headers.connection, 'close');
  t.ok(await c.waitClose(10000), 'then the server closes the connection');
  t.equal(c.buf.length, 0, 'no byte of the stream reached the client');
  // Bounds: 10 s for what takes a few ms (a T_CANCEL and one response frame), on a loaded machine.
  await ch.wait((e) => e.key === 's1' && e.op === 'close', 10000);
  t.pass('the stream handler heard of it (close)');
  t.ok(await until(() => srv.stats().outstanding === 0, 10000), 'no request is owed any more');
});

t.test('a pipelined request still waiting for a worker when the connection closes never runs', { timeout: 30000 }, async (t) => {
  const ch = channel(t, 'gs-says-close');
  // One thread that takes one request at a time: /stream waits in the acceptor's queue behind /close.
  const srv = await startServer(t, { app: fixture('says-close.mjs'), threads: 1, maxThreads: 1, threadConcurrency: 1, workerConnections: 1 });
  const port = portOf(srv);
  const c = await RawConn.open(port);
  t.teardown(() => c.destroy());
  await c.send(Buffer.from('GET /close?key=c2 HTTP/1.1\r\nHost: x\r\n\r\nGET /stream?key=s2 HTTP/1.1\r\nHost: x\r\n\r\n'));
  t.ok(await until(() => srv.stats().outstanding === 2, 10000), 'both requests are owed: /close runs, /stream waits');
  ch.next('c2');
  t.equal((await c.next(10000)).response?.status, 200, '/close is answered');
  t.ok(await c.waitClose(10000), 'then the server closes the connection');
  t.ok(await until(() => srv.stats().outstanding === 0, 10000), 'the waiting request is dropped, nothing is owed');
  // The worker's one place is free: a new request runs (a leaked stream would hold it forever).
  const d = await RawConn.open(port);
  t.teardown(() => d.destroy());
  await d.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  t.equal((await d.next(10000)).response?.body.toString(), 'hello\n', 'a later request is served');
  t.notOk(ch.events.some((e) => e.key === 's2'), 'the dropped request never reached the app');
});

t.test('out of file descriptors: the error log says so, once a minute at most, and when it is over', { timeout: 30000, skip: process.platform === 'win32' ? 'sh and ulimit' : false }, async (t) => {
  // The CLI with a descriptor limit of 256 (it needs about 30 to serve with one thread, but node
  // opens many module files at once while it starts): the connections past the limit are
  // accepted by the kernel and closed by libuv at once.
  const child = spawn('/bin/sh', ['-c', 'ulimit -n 256 && exec "$@"', 'sh', process.execPath, cliPath, '--bind', '127.0.0.1:0', '--threads', '1', '--max-threads', '1', fixture('sized.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  t.ok(await until(() => /listening on http/.test(stderr), 15000), 'the CLI started');
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)[1]);
  const lines = () => stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const shortage = () => lines().filter((l) => /^out of file descriptors/.test(l.msg));
  const held = [];
  t.teardown(() => held.forEach((s) => s.destroy()));
  let closedByServer = 0;
  for (let i = 0; i < 300; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.on('close', () => closedByServer++);
    await new Promise((resolve) => s.once('connect', resolve));
    held.push(s);
  }
  t.ok(await until(() => shortage().length > 0, 5000), 'the error log says the server is out of descriptors');
  t.match(shortage()[0], { level: 50, code: 'EMFILE', msg: /^out of file descriptors \(EMFILE\): new connections are closed as they arrive, unanswered, until some are free; \d+ connection\(s\) open; raise the limit/ });
  t.ok(closedByServer > 0, `connections past the limit were closed unanswered (${closedByServer} of 300)`);
  await delay(2500); // the one bounded wait: two more sweeps find the shortage, and write nothing
  t.equal(shortage().length, 1, 'one line, not one per sweep');
  held.forEach((s) => s.destroy());
  t.ok(await until(() => lines().some((l) => /^file descriptors are available again/.test(l.msg)), 5000), 'and one when it is over');
  const res = await fetch(`http://127.0.0.1:${port}/`);
  t.equal(res.status, 200, 'served again');
  child.kill('SIGTERM');
});
