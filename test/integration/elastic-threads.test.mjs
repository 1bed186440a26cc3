// Elastic threads (--max-threads): when every worker is parked in a blocking shim and requests
// wait, the supervisor starts extra workers, so sync-style code reaches high concurrency. The
// measure is how many blocking calls are in progress at once at the upstream (deterministic),
// not wall time (extra workers take 50-400 ms each to start on a loaded 2-core machine).
import t from 'tap';
import http from 'node:http';
import { fixture, startServer, until } from '../helpers.mjs';

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

async function batch(srv, upstream, n) {
  const target = encodeURIComponent(`http://127.0.0.1:${upstream.address().port}/`);
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: n }, () =>
    fetch(`${srv.url}/fetch?url=${target}`).then(async (r) => ({ status: r.status, body: await r.json() }))));
  return { ms: Math.round(performance.now() - started), ok: results.every((r) => r.status === 200 && r.body.status === 200) };
}

t.test('--threads 2 --max-threads 64: 64 concurrent fetchSync calls run far more than 2 at a time', { timeout: 60000 }, async (t) => {
  const upstream = await slowServer(t, 100);
  const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 2, maxThreads: 64 });
  const first = await batch(srv, upstream, 64);
  t.ok(first.ok, 'all 64 answered through fetchSync');
  t.comment(`64 x 100 ms of blocking I/O took ${first.ms} ms (serial on 2 threads: 3200 ms)`);
  const st = srv.stats();
  t.ok(st.elastic > 0, `extra workers were started (${st.elastic})`);
  t.ok(st.workers.length <= 64, `never more than --max-threads (${st.workers.length})`);
  t.equal(st.threads, 2, '--threads itself is unchanged');
  // Extra workers started during the first batch may still be booting (slow on a loaded machine):
  // the second batch is sent once at least one of them is ready.
  t.ok(await until(() => srv.stats().workers.filter((w) => w.state !== 'starting').length > 2, 30000), 'an extra worker is ready');
  upstream.peak = 0;
  const second = await batch(srv, upstream, 64);
  t.ok(second.ok, 'all 64 answered again');
  t.comment(`again, with the extra workers running: ${second.ms} ms`);
  t.ok(upstream.peak > 2, `${upstream.peak} blocking calls were in progress at once (2 threads alone: at most 2)`);
});

t.test('--max-threads at or below --threads keeps the pool fixed: at most 2 blocking calls at once', { timeout: 60000 }, async (t) => {
  const upstream = await slowServer(t, 100);
  const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 2, maxThreads: 2 });
  const r = await batch(srv, upstream, 8);
  t.ok(r.ok);
  t.ok(r.ms >= 390, `8 x 100 ms on 2 threads took ${r.ms} ms (at least 4 rounds)`);
  t.ok(upstream.peak <= 2, `peak ${upstream.peak}`);
  t.equal(srv.stats().elastic, 0);
});
