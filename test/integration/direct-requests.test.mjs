// Requests the worker builds from the framed head (lib/worker/head.ts, no second parse) behave
// as under node's server: a client that goes away aborts the request ('aborted', then 'close' on
// req and res), `req.signal` does not leave listeners on a reused socket, and node's diagnostics
// channels see every request. Real sockets, one worker thread so every request meets the same state.
import t from 'tap';
import { fixture, startServer, until } from '../helpers.mjs';
import { RawConn } from '../wire.mjs';

const GET = (path) => Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1');

t.test('a client that goes away aborts a direct request: aborted, then close on req and res', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('direct.mjs'), threads: 1, maxThreads: 1 });
  const port = srv.addresses[0].port;
  const c = await RawConn.open(port);
  await c.send(GET('/hold'));
  t.ok(await until(() => srv.stats().workers[0]?.inflight === 1), 'the request is in flight');
  c.destroy();
  let events = [];
  t.ok(await until(async () => {
    const q = await RawConn.open(port);
    try {
      await q.send(GET('/events'));
      events = JSON.parse((await q.next(5000)).response.body.toString());
    } finally {
      q.destroy();
    }
    return events.length >= 3;
  }), 'the handler saw the client go');
  // node:http's own order, on Node 20 and 24 alike (the same fixture under http.createServer).
  t.same(events, ['req aborted', 'res close (finished false)', 'req close'], "node's order: req aborted, res close, req close");
});

t.test('req.signal on a reused keep-alive socket leaves no listener behind', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('direct.mjs'), threads: 1, maxThreads: 1 });
  const c = await RawConn.open(srv.addresses[0].port);
  t.teardown(() => c.destroy());
  const counts = [];
  let has = false;
  for (let i = 0; i < 30; i++) {
    await c.send(GET('/signal'));
    const r = JSON.parse((await c.next(5000)).response.body.toString());
    has = r.has;
    counts.push(r.listeners);
  }
  if (!has) t.comment(`node ${process.version} has no req.signal: only the listener count is checked`);
  t.ok(Math.max(...counts) <= counts[0] + 1, `the socket's 'close' listeners stay flat over 30 requests (${counts[0]}..${Math.max(...counts)})`);
});

t.test("node's diagnostics channels see every direct request", { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('direct.mjs'), threads: 1, maxThreads: 1 });
  const c = await RawConn.open(srv.addresses[0].port);
  t.teardown(() => c.destroy());
  for (let i = 0; i < 5; i++) {
    await c.send(GET('/'));
    await c.next(5000);
  }
  // A response leaves when its handler returns; node emits 'finish' (and the channel) a tick
  // later, so the next request may run first: ask until the five are counted.
  let r = null;
  let asked = 0;
  t.ok(await until(async () => {
    await c.send(GET('/channels'));
    r = JSON.parse((await c.next(5000)).response.body.toString());
    asked++;
    return r.finished >= 5;
  }), `response.finish for each finished request (${JSON.stringify(r)})`);
  t.equal(r.started, 5 + asked, 'request.start for each request, the /channels ones included');
  t.ok(r.finished <= 5 + asked - 1, 'no finish for a response not yet ended');
});
