// examples/sqlite: better-sqlite3, one connection per worker, WAL mode, over real sockets.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { example, startServer } from '../helpers.mjs';

// better-sqlite3 is a native addon built for the Node that ran `npm ci` (CI: Node 20). Under
// another major (CI's second run, on Node 24) it cannot load, and no headers for that major can be
// fetched here to rebuild it: the test says so and skips instead of failing on the addon.
async function sqliteLoads() {
  try {
    const { default: Database } = await import('better-sqlite3');
    new Database(':memory:').close();
    return null;
  } catch (err) {
    return `better-sqlite3 does not load on Node ${process.version}: ${err.message.split('\n')[0]}`;
  }
}
const unavailable = await sqliteLoads();

t.test('notes written by one worker are read by the others, in WAL mode', { timeout: 30000, skip: unavailable ?? false }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'greenserve-sqlite-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  process.env.SQLITE_PATH = path.join(dir, 'notes.db'); // workers inherit the environment
  const srv = await startServer(t, { app: example('sqlite/app.mjs'), threads: 2 });
  const posts = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`${srv.url}/notes`, { method: 'POST', body: `note ${i}` }).then((r) => r.json())));
  t.equal(new Set(posts.map((p) => p.id)).size, 20, '20 rows inserted');
  const workers = new Set();
  let journal = null;
  for (let i = 0; i < 10; i++) {
    const r = await (await fetch(`${srv.url}/notes`)).json();
    workers.add(r.worker);
    journal = r.journal;
    t.equal(r.notes.length, 20);
  }
  t.equal(journal, 'wal');
  t.ok(workers.size >= 1, `answered by ${workers.size} worker(s)`);
});
