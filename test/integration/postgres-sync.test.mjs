// examples/postgres-sync against a real PostgreSQL server (GS_TEST_PG_URL; .ci/run starts a
// throwaway one). A synchronous handler queries it through createSyncFn + pg.
import t from 'tap';
import { example, startServer } from '../helpers.mjs';

const url = process.env.GS_TEST_PG_URL;
if (url === undefined || url === '') {
  t.comment('GS_TEST_PG_URL is not set: skipping the PostgreSQL test (.ci/run starts a server; see examples/postgres-sync/README.md)');
  t.pass('skipped: no PostgreSQL server (GS_TEST_PG_URL unset)', { skip: 'GS_TEST_PG_URL unset' });
} else {
  // The I/O helper thread inherits this process's environment when the server starts.
  process.env.DATABASE_URL = url;

  async function call(base, path, method = 'GET') {
    const res = await fetch(new URL(path, base), { method });
    return { status: res.status, json: await res.json() };
  }

  t.test('a sync handler reads and writes PostgreSQL through createSyncFn', { timeout: 30000 }, async (t) => {
    const srv = await startServer(t, { app: example('postgres-sync/app.mjs'), threads: 2 });
    const v = await call(srv.url, '/version');
    t.equal(v.status, 200);
    t.match(v.json.version, /^PostgreSQL \d+/);
    const name = `ada-${process.pid}-${Date.now()}`;
    const created = await call(srv.url, `/users?name=${name}`, 'POST');
    t.equal(created.status, 201);
    t.equal(created.json.name, name);
    const list = await call(srv.url, '/users');
    t.ok(list.json.some((u) => u.id === created.json.id && u.name === name), 'the new row is listed');
  });

  t.test('a slow query parks its worker; stats show it and the other worker serves', { timeout: 30000 }, async (t) => {
    const srv = await startServer(t, { app: example('postgres-sync/app.mjs'), threads: 2 });
    await call(srv.url, '/version');
    const slow = call(srv.url, '/sleep?s=0.5');
    const deadline = Date.now() + 3000;
    const parked = () => srv.stats().workers.some((w) => w.state === 'parked');
    while (!parked() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    t.ok(parked(), 'a worker is parked in the query');
    const t0 = performance.now();
    t.equal((await call(srv.url, '/version')).status, 200);
    t.ok(performance.now() - t0 < 400, 'another request is answered while it waits');
    t.same((await slow).json, { slept: 0.5 });
  });

  t.test('concurrent queries on one worker; a bad request is a 400', { timeout: 30000 }, async (t) => {
    const srv = await startServer(t, { app: example('postgres-sync/app.mjs'), threads: 1 });
    const many = await Promise.all(Array.from({ length: 10 }, () => call(srv.url, '/sleep?s=0.01')));
    t.ok(many.every((r) => r.status === 200), '10 concurrent queries');
    const r = await call(srv.url, '/users?name=', 'POST');
    t.equal(r.status, 400);
  });
}
