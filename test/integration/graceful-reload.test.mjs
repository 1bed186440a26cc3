// Zero-downtime reload (SIGHUP, handle.reload()): a new generation of workers imports the app
// afresh and becomes ready, then the old one stops taking requests, finishes and exits. Under
// load no request fails; afterwards the new code answers. New code that does not load leaves the
// old workers serving. Scaling (SIGTTIN / SIGTTOU, handle.scale()) adds and removes workers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { pathToFileURL } from 'node:url';
import { captureLog, channel, delay, fixture, serve, until } from '../helpers.mjs';
import { load } from '../load.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-reload-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const versionFile = path.join(dir, 'version.txt');
process.env.GS_VERSION_FILE = versionFile; // workers inherit the environment when they start


async function start(t, options = {}, log = undefined) {
  // maxThreads 1: no elastic threads (the tests count workers); scale() is not bound by it.
  const h = await serve({ app: fixture('versioned.mjs'), bind: ['127.0.0.1:0'], threads: 2, maxThreads: 1, logLevel: 'silent', env: {}, ...options }, log);
  t.teardown(() => h.close());
  return h;
}

async function body(h, p = '/') {
  const r = await fetch(new URL(p, h.url));
  return (await r.text()).split(' ')[0];
}


t.test('reload under load: no failed or reset request, then the new code answers', { timeout: 60000 }, async (t) => {
  writeFileSync(versionFile, 'v1');
  const h = await start(t);
  t.equal(await body(h), 'v1');
  let reloaded = false;
  const afterReload = { v1: 0, v2: 0 };
  let count = 0;
  let reloading = null;
  const r = await load(h.url, {
    clients: 20,
    until: () => reloaded && count > 300, // a few hundred more after the reload
    onResponse: (_s, text) => {
      count++;
      if (reloaded) afterReload[text.split(' ')[0]] = (afterReload[text.split(' ')[0]] ?? 0) + 1;
      if (count === 300 && reloading === null) {
        writeFileSync(versionFile, 'v2');
        reloading = h.reload().then(() => { reloaded = true; count = 0; });
      }
    },
  });
  await reloading;
  t.equal(r.failed, 0, `no failed request (${JSON.stringify(r.statuses)} ${r.errors.slice(0, 3).join('; ')})`);
  t.ok(r.bodies.size >= 2, 'old and new workers answered during the run');
  // Once reload() resolved the old workers took no new request: only those already in flight (at
  // most one per client) were answered by the old code after it.
  t.ok(afterReload.v1 <= 20, `at most the 20 in flight answered by v1 after the reload (${afterReload.v1})`);
  t.ok(afterReload.v2 >= 280, 'the rest by v2');
  t.equal(await body(h), 'v2', 'the new code answers');
  t.ok(await until(() => h.stats().workers.length === 2), 'the old generation has exited');
  t.match(h.stats().workers, [{ generation: 1 }, { generation: 1 }]);
});

t.test('SIGHUP (as an enqueued signal) reloads; in-flight requests on the old workers finish', { timeout: 30000 }, async (t) => {
  writeFileSync(versionFile, 'v3');
  const h = await start(t);
  const slow = fetch(new URL('/slow?ms=600', h.url)).then((r) => r.text());
  await until(() => h.stats().workers.some((w) => w.inflight > 0)); // the slow request is in a worker
  writeFileSync(versionFile, 'v4');
  h.signal('SIGHUP');
  t.ok(await until(async () => (await body(h)) === 'v4'), 'v4 served after SIGHUP');
  t.match(await slow, /^v3 /, 'the request in flight on the old generation finished there');
});

t.test('a reload whose code does not load keeps the old workers serving and says why', { timeout: 30000 }, async (t) => {
  writeFileSync(versionFile, 'v5');
  const { log, lines } = captureLog();
  const h = await start(t, {}, log);
  writeFileSync(versionFile, 'broken');
  await t.rejects(h.reload(), { code: 'GS_ERR_APP_LOAD' }, 'reload() rejects with the load error');
  t.equal(await body(h), 'v5', 'still the old code');
  const line = lines.find((l) => /reload failed/.test(l.msg));
  t.match(line?.msg, /reload failed: the new app code did not load .*the version file says broken.*still serving with the old workers/);
  t.ok(await until(() => h.stats().workers.length === 2), 'the failed generation is gone');
  writeFileSync(versionFile, 'v6');
  await h.reload();
  t.equal(await body(h), 'v6', 'a later reload works');
});

// A SIGHUP while a reload runs: the code loaded must be at least as new as at that SIGHUP. The
// running reload's worker has read its version already (test/fixtures/held-load.mjs holds it
// there); the file then changes and SIGHUP comes again, then the held worker is let go.
for (const [first, outcome] of [['broken', 'fails'], ['v2', 'succeeds']]) {
  t.test(`a SIGHUP during a reload that ${outcome} is not lost: the code of that SIGHUP is loaded after it`, { timeout: 30000 }, async (t) => {
    writeFileSync(versionFile, 'v1');
    const { log, lines } = captureLog();
    const h = await start(t, { app: fixture('held-load.mjs'), threads: 1, logLevel: 'info' }, log);
    const ch = channel(t, 'gs-held-load');
    t.equal(await body(h), 'v1');
    writeFileSync(versionFile, `hold:${first}`);
    const firstReload = h.reload().then(() => 'done', (err) => err.code);
    await ch.wait((e) => e.key === 'load' && e.op === 'read' && e.version === first);
    writeFileSync(versionFile, 'v3');
    h.signal('SIGHUP'); // while the first reload's worker is still loading
    const secondReload = h.reload(); // the same, through the library: handled in the same turn of the loop
    await until(() => lines.some((l) => l.signal === 'SIGHUP'));
    ch.next('load');
    t.equal(await firstReload, first === 'broken' ? 'GS_ERR_APP_LOAD' : 'done', `the first reload ${outcome}`);
    await secondReload;
    t.equal(await body(h), 'v3', 'reload() asked for meanwhile resolves once the code of the later SIGHUP is served');
    t.equal(lines.filter((l) => /^reloading: starting/.test(l.msg)).length, 2, 'two reloads ran');
    t.equal(lines.filter((l) => /^reloading again: asked for while the previous reload ran/.test(l.msg)).length, 1, 'the second one says why');
    t.ok(await until(() => h.stats().workers.length === 1), 'one worker left');
  });
}

t.test('scale(n), SIGTTIN and SIGTTOU add and remove workers', { timeout: 30000 }, async (t) => {
  writeFileSync(versionFile, 'v7');
  const h = await start(t, { threads: 1 });
  await h.scale(3);
  t.equal(h.stats().workers.filter((w) => !w.retiring && w.state !== 'starting').length, 3, 'scale(3): three ready');
  h.signal('SIGTTOU');
  t.ok(await until(() => h.stats().workers.length === 2), 'SIGTTOU: one fewer');
  h.signal('SIGTTIN');
  h.signal('SIGTTIN');
  t.ok(await until(() => h.stats().workers.filter((w) => w.state === 'idle').length === 4), 'SIGTTIN twice: four');
  t.equal(h.stats().threads, 4);
  await t.rejects(h.scale(0), RangeError);
});

t.test('a worker of the old generation that becomes ready after a reload began is retired gracefully: no request fails', { timeout: 30000 }, async (t) => {
  // scale(2) starts worker B (generation 0) with a 300 ms setup; the reload starts while B boots.
  // B must not serve and then be killed as past a graceful deadline it was never given.
  const { log, lines } = captureLog();
  const app = `${pathToFileURL(fixture('slow-setup.mjs')).href}?setupMs=300`;
  const h = await serve({ app, bind: ['127.0.0.1:0'], threads: 1, maxThreads: 1, threadConcurrency: 1, workerConnections: 1, gracefulTimeout: 30, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  const scaled = h.scale(2);
  await delay(50);
  const reloaded = h.reload();
  const statuses = await Promise.all(Array.from({ length: 6 }, () => fetch(new URL('/slow?ms=200', h.url)).then((r) => r.status, (e) => e.message)));
  await Promise.all([scaled, reloaded]);
  t.same(statuses, [200, 200, 200, 200, 200, 200], 'every request answered 200');
  t.same(lines.filter((l) => l.reason === 'graceful-timeout' || l.code === 'GS_ERR_WORKER_CRASHED').map((l) => l.msg), [], 'no worker killed');
});
