// The blocking shims (greenserve/shims) over real sockets and threads: results and errors
// round-trip, timeouts clean up, the worker publishes `parked`, the main thread is refused,
// fetchSync against a local server, createSyncFn with a fixture module, heavy jobs.
import t from 'tap';
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, root, startCli, startServer, until, fetchText as get } from '../helpers.mjs';

const { sleep, fetchSync, createSyncFn, jobs } = await import(`${root}/dist/native-shims/index.js`);
const JOBS = [`square=${fixture('jobs/square.mjs')}`];

const q = (v) => encodeURIComponent(JSON.stringify(v));

/** A local HTTP server for fetchSync: /big?n= bytes, /slow?ms=, anything else echoes. */
async function localServer(t) {
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/big') {
      const n = Number(url.searchParams.get('n'));
      const body = Buffer.alloc(n);
      for (let i = 0; i < n; i++) body[i] = (i * 7) & 255;
      res.writeHead(200, { 'content-length': n });
      return res.end(body);
    }
    if (url.pathname === '/slow') {
      const timer = setTimeout(() => res.end('late'), Number(url.searchParams.get('ms')));
      res.on('close', () => clearTimeout(timer));
      return;
    }
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      res.setHeader('x-test', 'yes');
      if (url.pathname === '/cookies') res.setHeader('set-cookie', ['a=1', 'b=2']);
      const seen = { type: req.headers['content-type'] ?? null, two: req.headers['x-two'] ?? null };
      res.end(JSON.stringify({ method: req.method, body, ua: req.headers['x-client'] ?? null, ...(url.pathname === '/cookies' ? seen : {}) }));
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => srv.close());
  return `http://127.0.0.1:${srv.address().port}`;
}

t.test('on the main thread every shim throws GS_ERR_SHIM_THREAD', async (t) => {
  for (const call of [() => sleep(1), () => fetchSync('http://127.0.0.1/'), () => createSyncFn(fixture('shim-module.mjs'), 'echo')(1), () => jobs.runSync('square', {})]) {
    t.throws(call, { code: 'GS_ERR_SHIM_THREAD', name: 'ShimThreadError', message: /main thread/ });
  }
});

t.test('in a plain worker thread sleep() parks; the helper shims say they need greenserve', async (t) => {
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(`${root}/dist/native-shims/index.js`)}).then((s) => {
      const t0 = performance.now(); s.sleep(30); const ms = performance.now() - t0;
      let code = null; try { s.fetchSync('http://127.0.0.1/'); } catch (e) { code = e.code; }
      parentPort.postMessage({ ms, code });
    });`;
  const w = new Worker(code, { eval: true });
  const msg = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  await w.terminate();
  t.ok(msg.ms >= 29, `slept ${msg.ms.toFixed(1)} ms`);
  t.equal(msg.code, 'GS_ERR_SHIM_THREAD');
});

t.test('createSyncFn, lookupSync, execFileSync: results and errors round-trip', { timeout: 30000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 1, jobs: JOBS });
  t.same((await get(srv.url, `/fn/echo?args=${q([{ a: [1, 'x'] }])}`)).json.value, { a: [1, 'x'] }, 'a structured value');
  const c1 = (await get(srv.url, '/fn/count')).json.value;
  const c2 = (await get(srv.url, '/fn/count')).json.value;
  t.equal(c1.loads, 1, 'the module is loaded once');
  t.equal(c2.loads, 1);
  t.equal(c2.calls, c1.calls + 1, 'and keeps its state between calls');
  const big = (await get(srv.url, `/fn/bytes?args=${q([4 << 20])}`)).json;
  t.same(big, { bytes: 4 << 20, ok: true, isBuffer: true }, '4 MiB come back byte-exact, as a Buffer');

  const e = (await get(srv.url, `/fn/fail?args=${q(['it broke', 'E_BROKE'])}`)).json;
  t.equal(e.name, 'RangeError');
  t.equal(e.isRangeError, true, 'a builtin class is rebuilt as that class');
  t.equal(e.message, 'it broke');
  t.equal(e.code, 'E_BROKE');
  t.equal(e.detail, 'extra', 'plain own properties travel too');
  t.match(e.stack, /^RangeError: it broke\n\s+at shims \(.*test\/fixtures\/shims\.mjs:\d+:\d+\)/, 'the stack starts at the caller in the handler');
  t.match(e.stack, /--- in the I\/O helper thread ---\n\s+at fail \(.*shim-module\.mjs/, 'then shows where it was thrown in the helper');
  const nocode = (await get(srv.url, `/fn/fail?args=${q(['plain'])}`)).json;
  t.equal(nocode.code, undefined, 'an error without a code gets none');
  const notFn = (await get(srv.url, '/fn/notAFunction')).json;
  t.match(notFn, { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE', message: /no function export "notAFunction"/ });

  t.match((await get(srv.url, '/lookup?host=localhost')).json, { address: /^(127\.0\.0\.1|::1)$/, family: /^[46]$/ });
  t.same((await get(srv.url, '/exec')).json, { out: 'SHOUT' }, 'execFileSync with input and encoding');
  const ef = (await get(srv.url, '/exec-fail')).json;
  t.match(ef.message, /Command failed/);
});

t.test('a timed-out call is cleaned up and the next call on that worker gets its own answer', { timeout: 30000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 1 });
  const start = performance.now();
  const slow = await get(srv.url, `/fn/slow?args=${q([400, 'late'])}&timeout=100`);
  const took = performance.now() - start;
  t.equal(slow.status, 500);
  t.match(slow.json, { name: 'ShimTimeoutError', code: 'GS_ERR_SHIM_TIMEOUT', message: /within 100 ms/ });
  t.ok(took < 350, `gave up after ${took.toFixed(0)} ms`);
  // The late reply (id of the timed-out call) arrives while the next call waits: it is discarded.
  const next = await get(srv.url, `/fn/slow?args=${q([500, 'mine'])}`);
  t.equal(next.json.value, 'mine', 'the next call gets its own answer, not the late one');
  t.equal((await get(srv.url, `/fn/echo?args=${q(['again'])}`)).json.value, 'again');
});

t.test('a worker parked in a shim publishes "parked"; the other thread keeps serving', { timeout: 30000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 2 });
  await get(srv.url, '/');
  const parked = get(srv.url, '/sleep?ms=600');
  const deadline = Date.now() + 3000;
  const isParked = () => srv.stats().workers.some((w) => w.state === 'parked');
  while (!isParked() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  t.ok(isParked(), 'stats show a parked worker');
  const t0 = performance.now();
  const hello = await get(srv.url, '/');
  t.ok(performance.now() - t0 < 300, 'a request meanwhile goes to the other worker');
  t.not(hello.json.hello, undefined);
  t.equal((await parked).json.slept, 600);
  const after = srv.stats().workers.filter((w) => w.state !== 'dead').map((w) => w.state);
  t.notOk(after.includes('parked'), `no worker parked afterwards (${after})`);
});

t.test('stats() while parked: "parked" in fetchSync and sleep, "running" in a busy sync handler, "idle" after', { timeout: 30000 }, async (t) => {
  // An upstream that holds its answers until the test lets go: the fetchSync stays parked until then.
  let held = [];
  const gate = http.createServer((req, res) => held.push(res));
  await new Promise((r) => gate.listen(0, '127.0.0.1', r));
  const release = () => { for (const res of held) res.end('ok'); held = []; };
  t.teardown(() => { release(); gate.close(); });
  const flag = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gs-shims-')), 'go');
  t.teardown(() => fs.rmSync(path.dirname(flag), { recursive: true, force: true }));
  const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 2, maxThreads: 2 }); // a fixed pool
  const states = () => srv.stats().workers.map((w) => w.state).sort().join(',');
  t.ok(await until(() => states() === 'idle,idle'), 'both idle at first');

  const fetching = get(srv.url, `/fetch?url=${encodeURIComponent(`http://127.0.0.1:${gate.address().port}/`)}`);
  t.ok(await until(() => held.length === 1), 'the fetchSync call reached the upstream');
  t.equal(states(), 'idle,parked', 'the worker inside fetchSync is parked');
  const sleeping = get(srv.url, '/sleep?ms=1500');
  t.ok(await until(() => states() === 'parked,parked'), 'the other one, inside sleep(), too');
  release();
  t.equal((await fetching).json.status, 200);
  t.ok(await until(() => states() === 'idle,parked'), 'the fetchSync worker is idle again; the sleeping one still parked');
  t.equal((await sleeping).json.slept, 1500);
  t.ok(await until(() => states() === 'idle,idle'), 'both idle after');

  const blocked = get(srv.url, `/block?flag=${encodeURIComponent(flag)}`);
  t.ok(await until(() => states() === 'idle,running'), 'a busy synchronous handler shows running, not parked');
  fs.writeFileSync(flag, '');
  t.equal((await blocked).json.released, true);
  t.ok(await until(() => states() === 'idle,idle'), 'idle after');
});

t.test('a shim called from an async handler while others are in flight on its worker: one warning per worker', { timeout: 60000 }, async (t) => {
  // Worker log lines go to the process's stderr: run the CLI. /mark writes to the same fd after
  // them, so once a mark shows, every line logged before it on that worker has shown too.
  const cli = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '2', '--max-threads', '2', fixture('shims.mjs')]);
  const base = cli.url;
  const warnings = () => cli.stderr().split('\n').filter((l) => l.includes('was called from an async handler')).map((l) => JSON.parse(l));
  let marks = 0;
  const sync = async () => {
    // Two marks at once, each held 200 ms: the second goes to the other (least loaded) worker.
    // Repeated until both workers have written one.
    const threads = new Set();
    for (let round = 0; round < 10 && threads.size < 2; round++) {
      const texts = [`mark-${++marks}`, `mark-${++marks}`];
      const answers = await Promise.all(texts.map((text) => get(base, `/mark?text=${text}&ms=200`)));
      for (const a of answers) threads.add(a.json.threadId);
      t.ok(await until(() => texts.every((text) => cli.stderr().includes(`${text}\n`))), `${texts} written`);
    }
    t.equal(threads.size, 2, 'both workers wrote a mark after their log lines');
  };
  for (let i = 0; i < 4; i++) t.equal((await get(base, '/async-sleep?ms=5')).status, 200);
  await sync();
  t.same(warnings(), [], 'one request in flight at a time: no warning');

  // 8 at once: both workers hold several; each calls sleep() after its timer, with the others in flight.
  const burst = () => Promise.all(Array.from({ length: 8 }, () => get(base, '/async-sleep?ms=100')));
  t.ok((await burst()).every((r) => r.status === 200));
  await sync();
  const first = warnings();
  t.ok(first.length >= 1, `warned (${first.length})`);
  t.match(first[0], { level: 40, shim: 'sleep()', msg: /blocking shim parks the whole thread.*logged once per worker/ });
  t.ok(first.every((w) => w.inflight > 1), 'with other requests in flight');
  const slots = first.map((w) => w.worker);
  t.equal(new Set(slots).size, slots.length, `at most once per worker (workers ${slots})`);
  t.ok((await burst()).every((r) => r.status === 200));
  await sync();
  t.equal(warnings().length, first.length, 'and not again: not per call');
});

t.test('fetchSync against a local server: body, headers, limits, timeout, errors', { timeout: 30000 }, async (t) => {
  const base = await localServer(t);
  const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 1 });
  const r = (await get(srv.url, `/fetch?url=${encodeURIComponent(`${base}/echo`)}`)).json;
  t.match(r, { status: 200, header: 'yes', isBuffer: true });
  t.same(JSON.parse(r.text), { method: 'GET', body: '', ua: null });
  const big = (await get(srv.url, `/fetch?url=${encodeURIComponent(`${base}/big?n=${8 << 20}`)}`)).json;
  t.equal(big.length, 8 << 20, '8 MiB body');
  const tooBig = (await get(srv.url, `/fetch?url=${encodeURIComponent(`${base}/big?n=2000`)}&max=1000`)).json;
  t.match(tooBig, { name: 'BodyTooLargeError', code: 'GS_ERR_BODY_TOO_LARGE' });
  const slow = (await get(srv.url, `/fetch?url=${encodeURIComponent(`${base}/slow?ms=2000`)}&timeout=150`)).json;
  t.match(slow, { code: 'GS_ERR_SHIM_TIMEOUT' });
  const closed = http.createServer();
  await new Promise((r) => closed.listen(0, '127.0.0.1', r));
  const port = closed.address().port;
  await new Promise((r) => closed.close(r));
  const refused = (await get(srv.url, `/fetch?url=${encodeURIComponent(`http://127.0.0.1:${port}/`)}`)).json;
  t.match(refused, { name: 'TypeError', message: 'fetch failed', code: 'ECONNREFUSED' }, 'the cause\'s code is on the error');
  t.equal((await get(srv.url, '/fn/echo?args=[7]')).json.value, 7, 'the worker still answers');
});

t.test('fetchSync headers: given as a record, pairs or a Headers; read back through SyncHeaders, without undici in the worker', { timeout: 30000 }, async (t) => {
  const base = await localServer(t);
  const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 1, maxThreads: 1 });
  const url = encodeURIComponent(`${base}/cookies`);
  const record = (await get(srv.url, `/fetch-headers?url=${url}&form=record`)).json;
  t.equal(record.undiciLoaded, false, `fetchSync did not load undici into the worker (22-33 ms of CPU per thread on Node 20; already loaded before: ${record.undiciBefore})`);
  t.same(record.echo, { method: 'POST', body: 'a=1', ua: 'shim', type: 'application/x-www-form-urlencoded;charset=UTF-8', two: 'a' }, 'request headers and a form body');
  t.same(record.get, { cookie: 'a=1, b=2', test: 'yes', missing: null }, 'get() is case-insensitive and joins values');
  t.same(record.has, [true, true, false]);
  t.same(record.cookies, ['a=1', 'b=2'], 'getSetCookie()');
  t.same(record.entries, [['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['x-test', 'yes']], 'iteration: set-cookie unjoined');
  t.same(record.keys, [...record.keys].sort(), 'names lower-case and sorted, as Headers iterates them');
  t.ok(record.keys.includes('content-length'));
  t.same(record.values, ['yes']);
  t.same(record.each, ['set-cookie=a=1', 'set-cookie=b=2', 'x-test=yes'], 'forEach(value, name)');
  t.same(record.real, ['a=1', 'b=2'], 'new Headers(r.headers) makes a real one');
  t.equal(record.tag, '[object SyncHeaders]');
  const pairs = (await get(srv.url, `/fetch-headers?url=${url}&form=pairs`)).json;
  t.match(pairs.echo, { ua: 'shim', two: 'a, b' }, 'pairs: a repeated name is sent twice');
  const headers = (await get(srv.url, `/fetch-headers?url=${url}&form=headers`)).json;
  t.match(headers.echo, { ua: 'shim', two: 'a' }, 'a Headers instance');
});

t.test('heavy jobs: runSync from a sync handler, run from an async one, errors and limits', { timeout: 30000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('shims.mjs'), threads: 1, jobs: JOBS, jobsThreads: 2, jobsTimeout: 2 });
  const sync = (await get(srv.url, '/job?n=9')).json;
  t.equal(sync.result.square, 81);
  t.not(sync.result.threadId, sync.threadId, 'ran on a pool thread, not the request thread');
  t.equal((await get(srv.url, '/async-job?n=12')).json.result.square, 144);
  t.match((await get(srv.url, '/job?n=boom')).json, { name: 'TypeError', code: 'E_BAD_INPUT', message: 'bad input' });
  t.match((await get(srv.url, '/job?name=nope')).json, { code: 'GS_ERR_JOB_UNKNOWN', message: /no job named "nope"/ });
  t.match((await get(srv.url, '/job?n=2&spin=4000')).json, { code: 'GS_ERR_JOB_TIMEOUT' });
  t.equal((await get(srv.url, '/job?n=4')).json.result.square, 16, 'the pool works after a timeout');
});

t.test('an unknown --jobs module is a config error', async (t) => {
  const { serve } = await import(`${root}/dist/lib/index.js`);
  await t.rejects(serve({ app: fixture('shims.mjs'), bind: ['127.0.0.1:0'], threads: 1, logLevel: 'silent', env: {}, jobs: ['x=/no/such/job.mjs'] }), { code: 'GS_ERR_CONFIG', message: /module not found/ });
});
