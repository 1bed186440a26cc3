// lib/acceptor/status*.ts: the event stream's slow-client rule, the page's security policy, the
// latency percentiles, request paths without their query strings, and the board's rate and
// histogram windows (ticks driven by hand).
import t from 'tap';
import { createHash } from 'node:crypto';
import { EventStream, loadPage, RETRY_MS, STALL_MS } from '../../../dist/lib/acceptor/status-server.js';
import { LATENCY_BOUNDS_MS, percentiles, RATE_HISTORY, StatusBoard } from '../../../dist/lib/acceptor/status.js';
import { MAX_PATH_CHARS, pathOf } from '../../../dist/lib/acceptor/status-workers.js';

/** A response stand-in: `pending` is what a socket that is not draining still holds. */
function fakeRes() {
  return {
    pending: 0,
    writes: [],
    destroyed: false,
    get writableLength() { return this.pending; },
    write(chunk) { this.writes.push(chunk); return true; },
    destroy() { this.destroyed = true; },
  };
}

t.test('a client that does not drain skips snapshots and is let go after STALL_MS', async (t) => {
  const s = new EventStream();
  const fast = fakeRes();
  const slow = fakeRes();
  s.add(fast, 'data: 0\n\n');
  s.add(slow, 'data: 0\n\n');
  t.equal(fast.writes[0], `retry: ${RETRY_MS}\n\ndata: 0\n\n`, 'retry first, then a snapshot at once');
  t.equal(s.size, 2);
  const t0 = performance.now();
  s.broadcast('data: 1\n\n', t0);
  slow.pending = 4096; // its socket stopped draining
  for (let i = 2; i <= 10; i++) s.broadcast(`data: ${i}\n\n`, t0 + i * 1000);
  t.equal(fast.writes.length, 11, 'the fast client got every snapshot');
  t.equal(slow.writes.length, 2, 'the slow one got none while it held unsent bytes');
  t.equal(s.dropped, 9);
  t.equal(slow.destroyed, false, 'not yet stalled for STALL_MS');
  slow.pending = 0;
  s.broadcast('data: 11\n\n', t0 + 11000);
  t.equal(slow.writes.at(-1), 'data: 11\n\n', 'it resumes once drained');
  slow.pending = 1;
  s.broadcast('data: 12\n\n', t0 + 11000 + STALL_MS + 1);
  t.equal(slow.destroyed, true, 'stuck past STALL_MS: disconnected');
  t.equal(s.size, 1);
  t.equal(fast.destroyed, false);
});

t.test('a client that left is removed', async (t) => {
  const s = new EventStream();
  const res = fakeRes();
  const remove = s.add(res, '');
  remove();
  s.broadcast('data: x\n\n');
  t.equal(s.size, 0);
  t.equal(res.writes.length, 1, 'nothing after it left');
});

t.test('the page allows exactly its own inline script and style', async (t) => {
  const page = loadPage();
  const html = page.body.toString('utf8');
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)[1];
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)[1];
  const hash = (s) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
  t.match(page.csp, `script-src ${hash(script)};`);
  t.match(page.csp, `style-src ${hash(style)};`);
  t.match(page.csp, "default-src 'none'");
  t.match(page.csp, "connect-src 'self'");
  t.equal((html.match(/<script/g) ?? []).length, 1, 'one script block, inline');
});

t.test('percentiles from bucket counts', async (t) => {
  t.equal(percentiles(new Array(LATENCY_BOUNDS_MS.length + 1).fill(0)), null, 'none without requests');
  const counts = new Array(LATENCY_BOUNDS_MS.length + 1).fill(0);
  counts[0] = 100; // all at or below 0.5 ms
  t.same(percentiles(counts), { p50: 0.25, p90: 0.45, p99: 0.495 });
  counts[0] = 0;
  counts[4] = 90; // 5..10 ms
  counts[LATENCY_BOUNDS_MS.length] = 10; // past the last bound
  const p = percentiles(counts);
  t.ok(p.p50 > 5 && p.p50 <= 10, `p50 ${p.p50} in 5..10 ms`);
  t.equal(p.p90, 10);
  t.equal(p.p99, LATENCY_BOUNDS_MS.at(-1), 'the open bucket reports its lower bound');
});

t.test('paths lose their query string and are cut', async (t) => {
  t.equal(pathOf('/notes?token=secret'), '/notes');
  t.equal(pathOf('/a/b'), '/a/b');
  t.equal(pathOf('*'), '*');
  const long = pathOf(`/${'x'.repeat(500)}`);
  t.equal(long.length, MAX_PATH_CHARS);
  t.ok(long.endsWith('…'));
});

t.test('the board: totals, the last second\'s rate, the recent histogram window', async (t) => {
  const board = new StatusBoard(() => ({ app: 'a', threads: 1, maxThreads: 4, connections: 0, inflight: 0, queued: 0, workers: [] }));
  t.teardown(() => board.close());
  for (let i = 0; i < 5; i++) {
    board.status(200);
    board.end(null, 0.2);
  }
  board.status(503);
  board.end(null, 20);
  board.workerRestart('crashed');
  board.tick();
  let s = board.snapshot();
  t.equal(s.requests.total, 6);
  t.equal(s.requests.byClass['2xx'], 5);
  t.equal(s.requests.byClass['5xx'], 1);
  t.ok(s.requests.rate > 0, 'a rate for the last tick');
  t.equal(s.requests.rateHistory.length, RATE_HISTORY);
  t.equal(s.requests.rateHistory.at(-1), s.requests.rate, 'the newest rate is last');
  t.equal(s.latency.recent[0], 5);
  t.equal(s.latency.recent[5], 1, '20 ms lands in the 10..25 ms bucket');
  t.same(s.restarts, { crashed: 1 });
  for (let i = 0; i < 11; i++) board.tick();
  s = board.snapshot();
  t.equal(s.latency.recent.reduce((a, b) => a + b, 0), 0, 'the recent window has moved past them');
  t.equal(s.latency.total[0], 5, 'the totals keep them');
  t.equal(s.requests.rate, 0);
});
