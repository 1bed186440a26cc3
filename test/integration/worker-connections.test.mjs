// --thread-concurrency bounds the requests a thread has not returned from (the queue behind a
// running handler); --worker-connections bounds all requests in flight on it, async handlers that
// returned and still await included. Real sockets, one worker thread, async handlers that hold
// their requests until the test lets go (test/fixtures/awaits.mjs: explicit handshake, no sleeps).
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fetchText, fixture, startServer, until } from '../helpers.mjs';

function flagDir(t) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-wc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'release');
}

t.test('async requests past --thread-concurrency are all in flight on one thread, up to --worker-connections', { timeout: 30000 }, async (t) => {
  const flag = flagDir(t);
  const srv = await startServer(t, { app: fixture('awaits.mjs'), threads: 1, maxThreads: 1, threadConcurrency: 2, workerConnections: 6 });
  const held = Array.from({ length: 8 }, () => fetchText(srv, `/hold?flag=${encodeURIComponent(flag)}`));
  t.ok(await until(() => srv.stats().workers[0]?.inflight === 6), 'six awaiting requests are in flight on the one thread (--thread-concurrency is 2)');
  // The other two wait in the acceptor's queue for a place.
  await new Promise((r) => setTimeout(r, 200));
  t.equal(srv.stats().workers[0].inflight, 6, 'no more than --worker-connections');
  writeFileSync(flag, '');
  const done = await Promise.all(held);
  t.same(done.map((r) => [r.status, r.body]), Array(8).fill([200, 'released']), 'all eight are answered once released');
});

t.test('--worker-connections below --thread-concurrency: the larger one counts', { timeout: 30000 }, async (t) => {
  const flag = flagDir(t);
  const srv = await startServer(t, { app: fixture('awaits.mjs'), threads: 1, maxThreads: 1, threadConcurrency: 5, workerConnections: 1 });
  const held = Array.from({ length: 5 }, () => fetchText(srv, `/hold?flag=${encodeURIComponent(flag)}`));
  t.ok(await until(() => srv.stats().workers[0]?.inflight === 5), 'five requests in flight');
  writeFileSync(flag, '');
  t.same((await Promise.all(held)).map((r) => r.status), Array(5).fill(200));
});
