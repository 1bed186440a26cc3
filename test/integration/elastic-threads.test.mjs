// Elastic threads (--max-threads): when every worker is blocked (parked in a blocking shim, or in a
// long synchronous handler) and requests wait, the supervisor adds workers: first the pre-warmed
// spare, then new ones, so sync-style code reaches high concurrency. Workers that are only full
// (async handlers at --thread-concurrency) add nothing. Waits are explicit handshakes (an upstream
// that holds its answers until the test lets go, a flag file); the one wall-time bound is issue
// #5's, explained where it is asserted.
import t from 'tap';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fixture, startCli, startServer, until } from '../helpers.mjs';

/** An upstream that answers after `ms` and records the most requests it held at once. */
async function slowServer(t, ms) {
  const s = http.createServer((req, res) => {
    s.now++;
    s.peak = Math.max(s.peak, s.now);
    setTimeout(() => { s.now--; res.end('slow'); }, ms);
  });
  s.now = 0;
  s.peak = 0;
  t.teardown(() => s.close());
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  return s;
}

/**
 * An upstream that holds every request: release() answers those it holds, open() those and every
 * later one at once. `held` counts the requests it holds.
 */
async function gate(t) {
  let waiting = [];
  let isOpen = false;
  const s = http.createServer((req, res) => {
    if (isOpen) return res.end('open');
    waiting.push(res);
    s.held = waiting.length;
  });
  s.held = 0;
  s.release = () => {
    for (const res of waiting) res.end('released');
    waiting = [];
    s.held = 0;
  };
  s.open = () => {
    isOpen = true;
    s.release();
  };
  t.teardown(() => { s.open(); s.close(); });
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  s.url = `http://127.0.0.1:${s.address().port}/`;
  return s;
}

function fetchUrl(srv, upstream) {
  return `${srv.url}/fetch?url=${encodeURIComponent(`http://127.0.0.1:${upstream.address().port}/`)}`;
}

async function batch(srv, upstream, n) {
  const url = fetchUrl(srv, upstream);
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: n }, () =>
    fetch(url).then(async (r) => ({ status: r.status, body: await r.json() }))));
  return { ms: Math.round(performance.now() - started), ok: results.every((r) => r.status === 200 && r.body.status === 200) };
}

const get = (url) => fetch(url).then(async (r) => ({ status: r.status, body: await r.json() }));

t.test('elastic threads: --threads 2 --max-threads 64, 64 concurrent fetchSync calls of 100 ms finish well under 3.2 s', { timeout: 60000 }, async (t) => {
  const upstream = await slowServer(t, 100);
  // The server is a CLI process, as in production, without this process's NODE_OPTIONS: in a
  // test process (and its children) every worker thread also loads tap's loader hooks, which
  // makes a worker's start cost ~650 ms of CPU instead of ~60 ms, and this test is about starts.
  const cli = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '2', '--max-threads', '64', '--log-level', 'debug', fixture('shims.mjs')], { env: { NODE_OPTIONS: '' } });
  const srv = { url: cli.url };
  // Not part of what is measured: the first fetch() of a thread loads undici (the I/O helper's and
  // this client's), and the spare worker starts once a worker has been seen blocked: one call
  // parks on an upstream that answers once the spare is ready.
  const up = await gate(t);
  const warm = get(`${srv.url}/fetch?url=${encodeURIComponent(up.url)}`);
  t.ok(await until(() => /spare worker \d+ ready/.test(cli.stderr()), 20000), 'a worker parked once: the spare worker is ready');
  up.open();
  t.equal((await warm).body.status, 200, 'one call to warm up');
  const first = await batch(srv, upstream, 64);
  t.ok(first.ok, 'all 64 answered through fetchSync');
  // On 2 threads alone the calls run 2 at a time: 32 rounds of 100 ms = 3.2 s. Elastic threads
  // add workers while calls wait (the spare at once, then one booting per core), so the time is
  // set by how fast the machine starts threads: a burst costs the server ~1.1 s of CPU, 12 or so
  // worker starts of ~70 ms and ~3 ms per request. Measured on this 2-core machine while other
  // test runs shared it: 1.3-1.7 s at a load average of 7-8, 1.7-2.8 s at 9-10; the first
  // policy took 3.4-5.1 s at 7-10; with two busy loops beside the whole suite, 2.1 s. Without
  // elasticity the time cannot be under 3.2 s (32 rounds of 100 ms), so the bound of 3.0 s still
  // fails without it and leaves room for a loaded CI machine (tap runs one file per core).
  t.ok(first.ms < 3000, `64 x 100 ms of blocking I/O took ${first.ms} ms (2 threads alone: 3200 ms)`);
  t.ok(upstream.peak > 2, `${upstream.peak} calls were in progress at once (2 threads alone: at most 2)`);
  t.ok(upstream.peak <= 64, 'never more than --max-threads');
  // The extra workers stay (until 30 s idle): a second burst finds them running.
  upstream.peak = 0;
  const second = await batch(srv, upstream, 64);
  t.ok(second.ok, 'all 64 answered again');
  t.comment(`again: ${second.ms} ms, ${upstream.peak} calls at once`);
  t.ok(upstream.peak > 2, `${upstream.peak} calls in progress at once`);
});

t.test('--max-threads at or below --threads keeps the pool fixed: at most 2 blocking calls at once, no spare', { timeout: 60000 }, async (t) => {
  const upstream = await slowServer(t, 100);
  const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 2, maxThreads: 2 });
  const r = await batch(srv, upstream, 8);
  t.ok(r.ok);
  t.ok(r.ms >= 390, `8 x 100 ms on 2 threads took ${r.ms} ms (at least 4 rounds)`);
  t.ok(upstream.peak <= 2, `peak ${upstream.peak}`);
  const st = srv.stats();
  t.equal(st.elastic, 0);
  t.equal(st.spare, null, 'no spare worker');
  t.equal(st.workers.length, 2);
});

t.test('the spare worker takes the first request that would wait, and a new spare starts', { timeout: 60000 }, async (t) => {
  const up = await gate(t);
  const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 1, maxThreads: 4 });
  t.ok((await get(`${srv.url}/`)).status === 200 && srv.stats().spare === null, 'no spare while no worker has blocked');
  const parked = get(`${srv.url}/fetch?url=${encodeURIComponent(up.url)}`);
  t.ok(await until(() => up.held === 1 && srv.stats().workers[0].state === 'parked'), 'the only worker parks in fetchSync');
  t.ok(await until(() => srv.stats().spare?.ready === true, 20000), 'a worker has blocked: a spare starts, and is ready');
  const spareSlot = srv.stats().spare.slot;
  t.equal(srv.stats().workers.length, 1, 'the spare is not among the serving workers');
  t.notOk(srv.stats().workers.some((w) => w.slot === spareSlot));
  t.equal(srv.stats().elastic, 0, 'nothing waits: the spare takes nothing');
  const next = await get(`${srv.url}/sleep?ms=1`);
  t.equal(next.status, 200, 'the next request is served while the worker is parked');
  const promoted = () => srv.stats().workers.find((w) => w.slot === spareSlot);
  t.ok(promoted(), `the spare (slot ${spareSlot}) serves now`);
  // The served count moves just after the worker publishes the response.
  t.ok(await until(() => promoted()?.served === 1), 'and served that request');
  t.equal(srv.stats().elastic, 1, 'one extra worker: the spare');
  t.ok(await until(() => srv.stats().spare !== null && srv.stats().spare.slot !== spareSlot), 'a new spare is started in its place');
  up.open();
  t.equal((await parked).body.status, 200);
});

t.test('async handlers at --worker-connections add no threads; parked or long sync handlers do', { timeout: 60000 }, async (t) => {
  const flag = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gs-elastic-')), 'go');
  t.teardown(() => fs.rmSync(path.dirname(flag), { recursive: true, force: true }));

  t.test('full, not blocked: 2 async requests in flight on the one worker, 4 waiting', async (t) => {
    const up = await gate(t);
    const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 1, maxThreads: 4, threadConcurrency: 1, workerConnections: 2 });
    // The worker's first fetch() loads undici, synchronously (tens of ms: a long sync handler).
    const warm = get(`${srv.url}/async-fetch?url=${encodeURIComponent(up.url)}`);
    t.ok(await until(() => up.held === 1), 'warm-up: the worker has loaded fetch()');
    up.release();
    t.equal((await warm).status, 200);
    t.equal(srv.stats().elastic, 0);
    const all = Array.from({ length: 6 }, () => get(`${srv.url}/async-fetch?url=${encodeURIComponent(up.url)}`));
    t.ok(await until(() => up.held === 2 && srv.stats().waiting === 4), 'two in flight (the cap), four waiting');
    // The supervisor checks as soon as a request waits, then every 100 ms: give it several turns.
    await new Promise((r) => setTimeout(r, 500));
    const st = srv.stats();
    t.equal(st.elastic, 0, 'no extra worker');
    t.equal(st.workers.length, 1, 'one worker');
    t.equal(st.waiting, 4, 'the requests wait for a place on the worker');
    t.equal(st.workers[0].state, 'idle', 'the worker is idle between events (its event loop is free)');
    up.open();
    const done = await Promise.all(all);
    t.ok(done.every((r) => r.status === 200), 'all six answered');
    t.equal(srv.stats().elastic, 0);
  });

  t.test('blocked in a shim: parked requests that wait bring up extra workers (the spare among them)', async (t) => {
    const up = await gate(t);
    const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 1, maxThreads: 4 });
    const all = Array.from({ length: 4 }, () => get(`${srv.url}/fetch?url=${encodeURIComponent(up.url)}`));
    t.ok(await until(() => up.held === 4, 30000), 'all four calls are parked at once, on four threads');
    t.equal(srv.stats().elastic, 3, 'three extra workers');
    up.open();
    t.ok((await Promise.all(all)).every((r) => r.status === 200 && r.body.status === 200));
  });

  t.test('blocked in a long synchronous handler (running, not parked): extra workers too', async (t) => {
    const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 1, maxThreads: 2 });
    const blocked = get(`${srv.url}/block?flag=${encodeURIComponent(flag)}`);
    t.ok(await until(() => srv.stats().workers[0]?.state === 'running'), 'the worker runs the blocking handler');
    const hello = await get(`${srv.url}/`);
    t.equal(hello.status, 200, 'another request is served meanwhile');
    t.equal(srv.stats().elastic, 1, 'by an extra worker');
    fs.writeFileSync(flag, '');
    t.equal((await blocked).body.released, true);
  });
});
