// The point of greenserve: a handler that blocks its thread does not delay requests that another
// thread can serve.
import t from 'tap';
import http from 'node:http';
import { fixture, httpGet, portOf, startServer } from '../helpers.mjs';

t.test('with --threads 2, a 300 ms blocking handler does not delay /hello on another connection', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('blocks.mjs'), threads: 2 });
  const port = portOf(srv);
  const agent = new http.Agent({ keepAlive: false });
  t.teardown(() => agent.destroy());
  await httpGet({ port, path: '/warm' }, { agent });
  const blocked = httpGet({ port, path: '/block?ms=300' }, { agent });
  // Handshake: wait until the control block shows a worker running the blocking handler.
  const deadline = Date.now() + 2000;
  while (!srv.stats().workers.some((w) => w.state === 'running') && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  t.ok(srv.stats().workers.some((w) => w.state === 'running'), 'a worker publishes running while blocked');
  const hellos = [];
  for (let i = 0; i < 5; i++) hellos.push(await httpGet({ port, path: '/hello' }, { agent }));
  const b = await blocked;
  t.equal(b.status, 200);
  t.ok(b.ms >= 290, `the blocking request took its ${Math.round(b.ms)} ms`);
  const blockedThread = b.body.split(' ')[1];
  for (const h of hellos) {
    t.equal(h.status, 200);
    t.not(h.body.split(' ')[1], blockedThread, 'served by the other thread');
    t.ok(h.ms < 150, `/hello answered in ${h.ms.toFixed(1)} ms while the other thread blocks`);
  }
});

t.test('with every thread blocked, requests wait in the queue and are served when a thread frees up', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('blocks.mjs'), threads: 1, maxThreads: 1 }); // no elastic threads
  const port = portOf(srv);
  const agent = new http.Agent({ keepAlive: false });
  t.teardown(() => agent.destroy());
  const blocked = httpGet({ port, path: '/block?ms=200' }, { agent });
  const deadline = Date.now() + 2000;
  while (!srv.stats().workers.some((w) => w.state === 'running') && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  const hello = httpGet({ port, path: '/hello' }, { agent });
  const [b, h] = await Promise.all([blocked, hello]);
  t.equal(b.status, 200);
  t.equal(h.status, 200);
  t.ok(h.ms >= 100, 'the /hello waited for the only thread');
});

t.test('past --limit-concurrency requests get an immediate 503', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('blocks.mjs'), threads: 1, maxThreads: 1, limitConcurrency: 2 });
  const port = portOf(srv);
  const agent = new http.Agent({ keepAlive: false });
  t.teardown(() => agent.destroy());
  const a = httpGet({ port, path: '/block?ms=300' }, { agent });
  const deadline = Date.now() + 2000;
  while (srv.stats().outstanding < 1 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  const b = httpGet({ port, path: '/block?ms=10' }, { agent });
  while (srv.stats().outstanding < 2 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  const c = await httpGet({ port, path: '/hello' }, { agent });
  t.equal(c.status, 503, 'third request refused');
  t.ok(c.ms < 200, 'refused at once, not after waiting');
  t.same([(await a).status, (await b).status], [200, 200]);
});

t.test('requests queued behind a blocking synchronous handler are not "every worker full": no "every worker full" warning', { timeout: 20000 }, async (t) => {
  const { captureLog, serve } = await import('../helpers.mjs');
  const { log, lines } = captureLog();
  const srv = await serve({ bind: ['127.0.0.1:0'], app: fixture('blocks.mjs'), threads: 1, maxThreads: 1, threadConcurrency: 2, env: {} }, log);
  t.teardown(() => srv.close());
  const port = portOf(srv);
  const agent = new http.Agent({ keepAlive: false });
  t.teardown(() => agent.destroy());
  const all = Promise.all([1, 2, 3, 4].map(() => httpGet({ port, path: '/block?ms=150' }, { agent })));
  let maxWaiting = 0;
  let done = false;
  void all.finally(() => (done = true));
  while (!done) {
    maxWaiting = Math.max(maxWaiting, srv.stats().waiting);
    await new Promise((r) => setTimeout(r, 5));
  }
  for (const r of await all) t.equal(r.status, 200);
  t.ok(maxWaiting >= 1, `requests waited in the acceptor (up to ${maxWaiting})`);
  await new Promise((r) => setTimeout(r, 250)); // two supervisor ticks
  t.same(lines.filter((l) => /--worker-connections|--thread-concurrency/.test(l.msg ?? '')), [], 'one running, the rest queued: raising the setting would not help, so no warning');
});
