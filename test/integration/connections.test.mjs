// --connections: 1,000 simultaneous clients are held and served; past the cap, new connections
// wait unread (like a listen backlog) until a slot frees, then are served.
import t from 'tap';
import { connect, example, parseResponses, portOf, startServer } from '../helpers.mjs';

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
