// examples/notes, the demo app (and the model of a real app), through real sockets: CRUD, search,
// 400s that name the field, 404/405/413/415, the page, and concurrent creates from many
// connections on 4 worker threads, every one persisted. Also `greenserve` with no APP, which
// serves it (test/integration/notes-cli.test.mjs). The driver is better-sqlite3 where its addon
// loads (CI's Node 20) and node:sqlite otherwise (CI's Node 24): the same tests run on both.
import t from 'tap';
import http from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { example, startServer } from '../helpers.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-notes-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Start the notes app on a fresh database file (workers inherit NOTES_DB from this process). */
async function startNotes(t, threads = 2) {
  process.env.NOTES_DB = path.join(dir, `${t.name.replace(/\W+/g, '-')}.db`);
  return startServer(t, { app: example('notes/app.mjs'), threads });
}

/** One HTTP request on `agent`: resolves { status, headers, body (parsed JSON when JSON), text }. */
function request(base, method, target, { json, body, headers = {}, agent = false } = {}) {
  const url = new URL(target, base);
  const payload = json === undefined ? body : JSON.stringify(json);
  const h = { ...(json === undefined ? {} : { 'content-type': 'application/json' }), ...headers };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers: h, agent, timeout: 10000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const isJson = (res.headers['content-type'] ?? '').startsWith('application/json');
        resolve({ status: res.statusCode, headers: res.headers, text, body: isJson ? JSON.parse(text) : text });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${target}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

t.test('create, read, update, delete, list', { timeout: 30000 }, async (t) => {
  const h = await startNotes(t);
  const created = await request(h.url, 'POST', '/api/notes', { json: { title: 'First', body: 'hello world' } });
  t.equal(created.status, 201);
  t.match(created.body, { id: Number, title: 'First', body: 'hello world', createdAt: String, updatedAt: String });
  t.equal(created.headers.location, `/api/notes/${created.body.id}`);
  const id = created.body.id;

  const read = await request(h.url, 'GET', `/api/notes/${id}`);
  t.same([read.status, read.body], [200, created.body], 'read back as created');

  const noBody = await request(h.url, 'POST', '/api/notes', { json: { title: 'Second' } });
  t.same([noBody.status, noBody.body.body], [201, ''], 'body is optional, empty by default');

  const put = await request(h.url, 'PUT', `/api/notes/${id}`, { json: { title: 'First (edited)', body: 'new text' } });
  t.equal(put.status, 200);
  t.match(put.body, { id, title: 'First (edited)', body: 'new text', createdAt: created.body.createdAt });
  const patch = await request(h.url, 'PATCH', `/api/notes/${id}`, { json: { body: 'patched' } });
  t.match([patch.status, patch.body], [200, { title: 'First (edited)', body: 'patched' }], 'PATCH keeps the fields not given');

  const list = await request(h.url, 'GET', '/api/notes');
  t.equal(list.status, 200);
  t.same(list.body.notes.map((n) => n.id), [noBody.body.id, id], 'newest first');
  t.match(list.body, { total: 2, limit: 50, offset: 0 });
  const page = await request(h.url, 'GET', '/api/notes?limit=1&offset=1');
  t.same([page.body.notes.map((n) => n.id), page.body.total], [[id], 2], 'limit and offset');

  const del = await request(h.url, 'DELETE', `/api/notes/${id}`);
  t.same([del.status, del.text], [204, ''], 'DELETE: 204, no body');
  t.equal((await request(h.url, 'GET', `/api/notes/${id}`)).status, 404, 'gone');
  const again = await request(h.url, 'DELETE', `/api/notes/${id}`);
  t.same([again.status, again.body], [404, { error: `note ${id} not found` }]);
  t.equal((await request(h.url, 'PUT', `/api/notes/${id}`, { json: { title: 't', body: 'b' } })).status, 404, 'PUT of a missing note: 404');

  const info = await request(h.url, 'GET', '/api/info');
  t.ok(['better-sqlite3', 'node:sqlite'].includes(info.body.driver), `driver ${info.body.driver} ${info.body.version} on Node ${process.version}`);
  t.equal(info.body.journal, 'wal', 'WAL mode');
  t.equal(info.body.database, process.env.NOTES_DB, 'the database file from NOTES_DB');
});

t.test('search: title or text, case-insensitive, LIKE wildcards taken literally', { timeout: 30000 }, async (t) => {
  const h = await startNotes(t);
  const notes = [
    { title: 'Groceries', body: 'milk, eggs, Coffee beans' },
    { title: 'coffee machine', body: 'descale on Friday' },
    { title: 'Sale', body: '50% off everything' },
    { title: 'snake_case names', body: 'rename them' },
  ];
  for (const n of notes) t.equal((await request(h.url, 'POST', '/api/notes', { json: n })).status, 201);
  const titles = async (q) => {
    const r = await request(h.url, 'GET', `/api/notes?q=${encodeURIComponent(q)}`);
    t.equal(r.status, 200, `q=${q}`);
    t.equal(r.body.q, q);
    t.equal(r.body.total, r.body.notes.length);
    return r.body.notes.map((n) => n.title).sort();
  };
  t.same(await titles('COFFEE'), ['Groceries', 'coffee machine'], 'in the text or the title, any case');
  t.same(await titles('friday'), ['coffee machine']);
  t.same(await titles('%'), ['Sale'], '% is a character, not a wildcard');
  t.same(await titles('_'), ['snake_case names'], '_ is a character, not a wildcard');
  t.same(await titles('nothing like this'), []);
  t.same(await titles(''), notes.map((n) => n.title).sort(), 'an empty q lists everything');
});

t.test('bad input: 400 naming the field; 404, 405, 413, 415', { timeout: 30000 }, async (t) => {
  const h = await startNotes(t);
  const bad = async (method, target, options, status, error) => {
    const r = await request(h.url, method, target, options);
    t.equal(r.status, status, `${method} ${target} ${options.body ?? JSON.stringify(options.json) ?? ''}: ${status}`);
    t.match(r.body.error, error);
    t.match(r.headers['content-type'], /^application\/json/, 'errors are JSON');
    return r;
  };
  const missing = await bad('POST', '/api/notes', { json: { body: 'no title' } }, 400, /^title: is required$/);
  t.same(missing.body.errors, [{ field: 'title', message: 'is required' }], 'and as a list of { field, message }');
  await bad('POST', '/api/notes', { json: { title: '' } }, 400, /^title: .*greater or equal to 1/);
  await bad('POST', '/api/notes', { json: { title: 'x'.repeat(201) } }, 400, /^title: .*less or equal to 200/);
  await bad('POST', '/api/notes', { json: { title: 42 } }, 400, /^title: Expected string/);
  await bad('POST', '/api/notes', { json: { title: 'ok', body: 7 } }, 400, /^body: Expected string/);
  await bad('POST', '/api/notes', { json: { title: 'ok', color: 'red' } }, 400, /^color: is not a known field/);
  await bad('POST', '/api/notes', { json: ['a list'] }, 400, /^body: Expected object/);
  await bad('POST', '/api/notes', { body: '{"title": ', headers: { 'content-type': 'application/json' } }, 400, /^body: not valid JSON/);
  await bad('POST', '/api/notes', { body: '', headers: { 'content-type': 'application/json' } }, 400, /^body: is required/);
  await bad('POST', '/api/notes', { body: 'title=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, /^content-type: must be application\/json/);
  await bad('POST', '/api/notes', { json: { title: 'big', body: 'x'.repeat(200 * 1024) } }, 413, /^body: larger than 131072 bytes/);
  await bad('PATCH', '/api/notes/1', { json: {} }, 400, /^body: needs at least one of: title, body/);
  await bad('GET', '/api/notes/abc', {}, 400, /^id: Expected integer/);
  await bad('GET', '/api/notes/0', {}, 400, /^id: .*greater or equal to 1/);
  await bad('GET', '/api/notes?limit=0', {}, 400, /^limit: .*greater or equal to 1/);
  await bad('GET', '/api/notes?limit=5.5', {}, 400, /^limit: Expected integer/);
  await bad('GET', '/api/notes?limit=1000', {}, 400, /^limit: .*less or equal to 200/);
  await bad('GET', '/api/notes?sort=title', {}, 400, /^sort: is not a known field/);
  await bad('GET', '/api/notes/12345', {}, 404, /^note 12345 not found$/);
  await bad('GET', '/api/nothing', {}, 404, /no such resource/);
  const method = await bad('DELETE', '/api/notes', {}, 405, /DELETE is not allowed/);
  t.equal(method.headers.allow, 'GET, POST, HEAD', '405 says what is allowed');
  t.equal((await request(h.url, 'GET', '/api/notes')).body.total, 0, 'nothing was stored by the bad requests');
});

t.test('the page: HTML, script and style of its own, with the ids a browser test uses', { timeout: 30000 }, async (t) => {
  const h = await startNotes(t);
  const page = await request(h.url, 'GET', '/');
  t.equal(page.status, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.headers['content-security-policy'], /default-src 'self'/, 'no inline script, no other origin');
  for (const id of ['note-form', 'note-title', 'note-body', 'note-submit', 'note-cancel', 'search', 'notes', 'error']) t.match(page.text, `id="${id}"`, `#${id}`);
  t.match(page.text, '<label for="note-title">Title</label>');
  t.notMatch(page.text, /<script>|https?:\/\//, 'no inline script and nothing from a CDN');
  const js = await request(h.url, 'GET', '/notes.js');
  t.match([js.status, js.headers['content-type']], [200, /^text\/javascript/]);
  t.match(js.text, 'fetch(path, init)');
  const css = await request(h.url, 'GET', '/notes.css');
  t.match([css.status, css.headers['content-type']], [200, /^text\/css/]);
  const head = await request(h.url, 'HEAD', '/');
  t.same([head.status, head.text, head.headers['content-length']], [200, '', page.headers['content-length']], 'HEAD: the headers only');
});

t.test('concurrent creates from 40 connections on 4 threads: every note persisted', { timeout: 60000 }, async (t) => {
  const h = await startNotes(t, 4);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 40 });
  t.teardown(() => agent.destroy());
  const N = 400;
  const results = await Promise.all(Array.from({ length: N }, (_, i) =>
    request(h.url, 'POST', '/api/notes', { json: { title: `note ${i}`, body: `written by request ${i}` }, agent })));
  const failed = results.filter((r) => r.status !== 201);
  t.equal(failed.length, 0, `every create answered 201 (${failed.map((r) => `${r.status} ${r.text}`).slice(0, 3).join('; ')})`);
  t.equal(new Set(results.map((r) => r.body.id)).size, N, `${N} distinct ids`);
  const all = [];
  for (let offset = 0; ; offset += 200) {
    const page = await request(h.url, 'GET', `/api/notes?limit=200&offset=${offset}`, { agent });
    all.push(...page.body.notes);
    if (page.body.notes.length < 200) {
      t.equal(page.body.total, N, `total ${N}`);
      break;
    }
  }
  t.same(all.map((n) => n.title).sort(), Array.from({ length: N }, (_, i) => `note ${i}`).sort(), 'each note stored once, as written');
  // The acceptor never queues a request behind a worker running a sync handler while another is
  // idle, so with 40 requests in flight the writes are spread over the threads: SQLite's locking
  // (WAL, busy_timeout), not a single writer, is what kept them all.
  const writers = h.stats().workers.filter((w) => w.served > 0).length;
  t.ok(writers >= 2, `${writers} worker threads served the writes`);
});

t.test('6 threads opening a new database file at the same moment: every one opens it', { timeout: 60000 }, async (t) => {
  // What each greenserve worker does when it loads the app, with the threads released together
  // by a barrier so that they race for the locks of the WAL switch and the schema (SQLite fails
  // some of them at once, busy_timeout or not: 6 to 10 rounds in 60 did before openNotes retried).
  const THREADS = 6;
  const ROUNDS = 20;
  const db = pathToFileURL(example('notes/db.mjs')).href;
  const source = `
    import { parentPort, workerData } from 'node:worker_threads';
    const { loadDriver, openNotes } = await import(${JSON.stringify(db)});
    const driver = await loadDriver();
    const barrier = new Int32Array(workerData.barrier);
    if (Atomics.add(barrier, 0, 1) + 1 === ${THREADS}) Atomics.notify(barrier, 0);
    for (let n; (n = Atomics.load(barrier, 0)) < ${THREADS};) Atomics.wait(barrier, 0, n, 1000);
    try {
      openNotes(driver, workerData.file).close();
      parentPort.postMessage('opened');
    } catch (err) {
      parentPort.postMessage(String(err.message));
    }`;
  const failures = [];
  for (let round = 0; round < ROUNDS; round++) {
    const file = path.join(dir, `race-${round}`, 'notes.db');
    const barrier = new SharedArrayBuffer(4);
    const outcomes = await Promise.all(Array.from({ length: THREADS }, () => new Promise((resolve) => {
      // execArgv: [] leaves out the test runner's --import hooks, which make each thread start slowly.
      const w = new Worker(source, { eval: true, workerData: { file, barrier }, execArgv: [] });
      w.once('message', (m) => { resolve(m); void w.terminate(); });
      w.once('error', (err) => resolve(err.message));
    })));
    failures.push(...outcomes.filter((o) => o !== 'opened').map((o) => `round ${round}: ${o}`));
  }
  t.same(failures, [], `${ROUNDS} rounds of ${THREADS} threads`);
});

t.test('the notes app closes its connection in teardown(): after a graceful shutdown the WAL is checkpointed, the note kept', { timeout: 30000 }, async (t) => {
  const file = path.join(dir, 'teardown.db');
  process.env.NOTES_DB = file;
  const { serve } = await import('../helpers.mjs');
  const h = await serve({ bind: ['127.0.0.1:0'], app: example('notes/app.mjs'), threads: 2, logLevel: 'silent', env: {} });
  const base = `http://127.0.0.1:${h.addresses[0].port}`;
  t.match(h.app, /hooks: teardown/, 'the teardown export is found');
  t.equal((await request(base, 'POST', '/api/notes', { json: { title: 'kept' } })).status, 201);
  t.ok(existsSync(`${file}-wal`), 'while serving, the write sits in the WAL file');
  await h.close();
  // SQLite checkpoints and deletes the WAL when its last connection closes. (Both drivers would
  // also close a connection left open when its thread exits; the hook does it in the worker's own
  // time, before the supervisor terminates it. test/integration/app-hooks.test.mjs proves the hook runs.)
  t.notOk(existsSync(`${file}-wal`), 'after close(), every connection was closed: no WAL file left');
  const driver = await (await import(pathToFileURL(example('notes/db.mjs')).href)).loadDriver();
  const notes = (await import(pathToFileURL(example('notes/db.mjs')).href)).openNotes(driver, file);
  t.teardown(() => notes.close());
  t.equal(notes.list({ limit: 10, offset: 0 }).total, 1, 'the note is in the database file');
});
