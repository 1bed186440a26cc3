// Recycling (--max-requests, --max-requests-jitter): a worker past its limit is replaced
// replacement-first (the new one is ready before the old one stops taking requests), so a load
// of a few thousand requests from 20 keep-alive clients sees no failure at all.
import t from 'tap';
import { fetchText, fixture, startServer } from '../helpers.mjs';
import { load } from '../load.mjs';

t.test('--max-requests 50 under load: workers recycle, no request fails', { timeout: 60000 }, async (t) => {
  // A fixed pool (maxThreads 2): on a loaded machine elastic threads could join and the count below
  // is about recycling, not elasticity.
  const h = await startServer(t, { app: fixture('hangs.mjs'), threads: 2, maxThreads: 2, maxRequests: 50, maxRequestsJitter: 10 });
  // At least 3000 requests, and on until 2 workers have been replaced (a worker takes a few
  // hundred ms to start under load and under the test runner's loaders); bounded at 40 s.
  const seen = new Set();
  const deadline = Date.now() + 40_000;
  let maxInflightWorkers = 0;
  const r = await load(h.url, {
    clients: 20,
    path: '/ok',
    until: () => (seen.size >= 8 && r0.count >= 3000) || Date.now() > deadline,
    onResponse: (_status, body) => {
      r0.count++;
      seen.add(body);
      if (r0.count % 100 === 0) maxInflightWorkers = Math.max(maxInflightWorkers, h.stats().workers.filter((w) => !w.retiring && w.state !== 'starting').length);
    },
  });
  // Each worker takes exactly its 50-60 requests, so the pace is set by how fast replacements
  // start: on a loaded machine fewer than 3000 requests fit in 40 s. What counts is that
  // workers were replaced many times and no request failed.
  t.ok(r.sent >= 500, `${r.sent} requests`);
  t.equal(r.failed, 0, `no failed request (${JSON.stringify(r.statuses)} ${r.errors.slice(0, 3).join('; ')})`);
  t.equal(r.ok, r.sent);
  t.ok(seen.size >= 8, `${seen.size} worker threads served in turn: workers were recycled`);
  t.ok(maxInflightWorkers <= 2, 'never more than --threads workers taking requests');
  t.equal(h.stats().threads, 2);
});
const r0 = { count: 0 };

t.test('--max-requests 0 never recycles', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('hangs.mjs'), threads: 2, maxRequests: 0 });
  const r = await load(h.url, { clients: 4, total: 400, path: '/ok' });
  t.equal(r.failed, 0);
  t.ok(r.bodies.size <= 2, 'the same two threads throughout');
});

t.test('--max-requests 20: no worker is given more than 20 requests, however fast they come', { timeout: 60000 }, async (t) => {
  // One thread, requests back to back on one connection: the old supervisor check, ten times a
  // second, let a worker serve hundreds past its limit before it was replaced.
  const h = await startServer(t, { app: fixture('hangs.mjs'), threads: 1, maxThreads: 1, maxRequests: 20, maxRequestsJitter: 0 });
  const counts = new Map();
  const order = [];
  for (let i = 0; i < 100; i++) {
    const r = await fetchText(h, '/ok');
    t.equal(r.status, 200);
    if (!counts.has(r.body)) order.push(r.body);
    counts.set(r.body, (counts.get(r.body) ?? 0) + 1);
  }
  const each = order.map((b) => counts.get(b));
  // Its replacement starts at 90 % of its share: a worker retires with 18 to 20 requests (all 20
  // when they come faster than a thread starts, as here), never more.
  t.ok(each.every((n) => n <= 20), `no thread took more than 20: ${each}`);
  t.ok(each.slice(0, -1).every((n) => n >= 18), `each retired thread took 18 to 20: ${each}`);
  t.ok(each.length >= 5, `${each.length} threads in turn`);
});
