// --response-timeout: a request whose response has not begun in time gets 504 and its handler is
// cancelled, which frees its worker's --thread-concurrency place. Without it, async handlers that
// never answer wedge the server once they fill every place.
import t from 'tap';
import { channel, fixture, httpGet, portOf, startServer } from '../helpers.mjs';

t.test('handlers that never answer get 504 and are cancelled; the worker serves again', { timeout: 30000 }, async (t) => {
  const ch = channel(t, `never-${process.pid}`);
  // One thread with two places: two requests that never answer fill it.
  const srv = await startServer(t, { app: fixture('never-answers.mjs'), threads: 1, maxThreads: 1, threadConcurrency: 2, workerConnections: 2, responseTimeout: 1 });
  const port = portOf(srv);
  const start = performance.now();
  const stuck = await Promise.all([1, 2].map((id) => httpGet({ port, path: `/never?ch=never-${process.pid}&id=${id}` }, { timeoutMs: 10000 })));
  const ms = performance.now() - start;
  for (const r of stuck) t.equal(r.status, 504, 'past --response-timeout: 504');
  t.ok(ms >= 900 && ms < 5000, `answered after ${Math.round(ms)} ms (1 s deadline, checked once a second)`);
  for (const id of ['1', '2']) {
    const e = await ch.wait((m) => m.closed === id, 5000);
    t.equal(e.ended, false, `handler ${id} saw its request close`);
  }
  // Both places are free again: this used to wait forever behind the two.
  const hello = await httpGet({ port, path: '/hello' }, { timeoutMs: 5000 });
  t.equal(hello.status, 200);
  t.equal(hello.body, 'hello');
});

t.test('0 turns the deadline off', { timeout: 20000 }, async (t) => {
  // gracefulTimeout 1: at the teardown, the request that never answers holds the drain that long.
  const srv = await startServer(t, { app: fixture('never-answers.mjs'), threads: 1, maxThreads: 1, responseTimeout: 0, gracefulTimeout: 1 });
  const port = portOf(srv);
  await t.rejects(httpGet({ port, path: '/never?id=x' }, { timeoutMs: 2500 }), /no answer within 2500 ms/, 'no 504 without the deadline');
  t.equal((await httpGet({ port, path: '/hello' }, { timeoutMs: 10000 })).status, 200);
});
