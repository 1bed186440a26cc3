// The control plane (comlink on each worker's control port, never the request path): stats({
// detail: true }) asks every worker for its own report (heap, utilization, in flight) and adds the
// request it runs; a worker whose handler holds its thread does not answer and is reported as
// unresponsive within the timeout; a retiring worker drains (DRAINING) over the same channel.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { fixture, startServer, until, fetchText as get } from '../helpers.mjs';

// Generous: a worker answers between two idle slices (50 ms) on an idle machine; a loaded 2-core
// machine may not schedule its thread for a while.
const ANSWER_MS = 5000;

t.test('every worker reports its heap, limit, utilization and requests through the control plane', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('times-out.mjs'), threads: 2, maxThreads: 2, maxWorkerMemory: 128 });
  t.equal((await get(h, '/ok')).status, 200);
  const st = await h.stats({ detail: true, timeoutMs: ANSWER_MS });
  t.equal(st.workers.length, 2);
  for (const w of st.workers) {
    t.match(w.detail, { responsive: true, current: null, hooks: ['onTimeout'] }, `worker ${w.slot}`);
    const r = w.detail.report;
    t.ok(r.heapUsedMb > 0 && r.heapUsedMb <= r.heapTotalMb, `heap in use ${r.heapUsedMb} of ${r.heapTotalMb} MiB reserved`);
    // V8's heap_size_limit: the old generation (--max-worker-memory and 512 MiB of headroom) plus the young generation.
    t.ok(r.heapLimitMb >= 640 && r.heapLimitMb < 1024, `limit ${r.heapLimitMb} MiB from --max-worker-memory 128 (+ 512)`);
    t.ok(r.utilization >= 0 && r.utilization <= 1, `utilization ${r.utilization}`);
    t.equal(r.inflight, 0);
    t.equal(r.draining, false);
  }
  t.same(Object.keys(h.stats().workers[0]).includes('detail'), false, 'the synchronous stats() has no detail: it never waits');
  await t.rejects(h.stats({ detail: true, timeoutMs: 0 }), { name: 'RangeError', message: /stats: timeoutMs must be an integer from 1 to 60000 \(got 0\)/ });
});

t.test('utilization counts a handler holding the thread as busy and the idle sleep as idle', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('blocks.mjs'), threads: 1, maxThreads: 1, timeout: 0 });
  await h.stats({ detail: true, timeoutMs: ANSWER_MS }); // starts a window
  t.equal((await get(h, '/block?ms=600')).status, 200);
  const busy = (await h.stats({ detail: true, timeoutMs: ANSWER_MS })).workers[0].detail.report.utilization;
  t.ok(busy > 0.3, `600 ms blocked in a window of about that: ${busy}`);
  await until(async () => (await h.stats({ detail: true, timeoutMs: ANSWER_MS })).workers[0].detail.report.utilization < 0.5, 10000);
  // A window with nothing to do: the thread sleeps in Atomics.wait inside a loop callback, which
  // node's own event-loop utilization would count as busy.
  await new Promise((r) => setTimeout(r, 300));
  const idle = (await h.stats({ detail: true, timeoutMs: ANSWER_MS })).workers[0].detail.report.utilization;
  t.ok(idle < 0.5, `an idle window: ${idle}`);
});

t.test('a worker whose handler holds the thread is reported unresponsive, with the request it runs, within the timeout', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('blocks.mjs'), threads: 2, maxThreads: 2, timeout: 0 });
  const blocked = get(h, '/block?ms=4000');
  t.ok(await until(() => h.stats().workers.some((w) => w.state === 'running')), 'one worker runs the blocking handler');
  const started = Date.now();
  const st = await h.stats({ detail: true, timeoutMs: 300 });
  const took = Date.now() - started;
  // 300 ms, and the other worker's answer: bounded by the timeout, not by the blocked handler.
  t.ok(took < 2500, `stats did not wait for the blocked worker (${took} ms)`);
  const stuck = st.workers.find((w) => w.state === 'running');
  t.match(stuck.detail, { responsive: false, report: null, current: { method: 'GET', path: '/block?ms=4000' } });
  t.ok(stuck.detail.current.runningMs >= 0 && stuck.detail.current.reqId > 0, 'how long it has run, and its id');
  const other = st.workers.find((w) => w !== stuck);
  t.ok(other.detail.responsive || other.detail.report === null, 'the other worker is reported on its own');
  t.equal((await blocked).status, 200);
  t.ok(await until(async () => (await h.stats({ detail: true, timeoutMs: ANSWER_MS })).workers.every((w) => w.detail.responsive)), 'answers again once the handler returned');
});

t.test('a retiring worker drains through the control plane: DRAINING while its request finishes, then it stops', { timeout: 30000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-drain-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const flag = path.join(dir, 'release');
  const h = await startServer(t, { app: fixture('awaits.mjs'), threads: 1, maxThreads: 1 });
  const held = get(h, `/hold?flag=${encodeURIComponent(flag)}`);
  t.ok(await until(() => h.stats().workers[0]?.inflight === 1), 'the async request is in flight');
  const oldSlot = h.stats().workers[0].slot;
  const reloaded = h.reload();
  t.ok(await until(async () => {
    const w = (await h.stats({ detail: true, timeoutMs: ANSWER_MS })).workers.find((x) => x.slot === oldSlot);
    return w?.state === 'draining' && w.detail.report?.draining === true && w.detail.report.inflight === 1;
  }), 'the old worker shows draining, with its request in flight');
  await reloaded;
  t.equal((await get(h, '/')).status, 200, 'the new generation serves');
  t.notOk(existsSync(flag));
  writeFileSync(flag, '');
  const drained = await held;
  t.same([drained.status, drained.body], [200, 'released'], 'the drained request finished');
  t.ok(await until(() => h.stats().workers.every((w) => w.slot !== oldSlot || w.generation !== 0)), 'the old worker stopped');
});
