// `greenserve` with no APP serves the built-in notes demo (examples/notes/): the database file is
// printed at start and set by --demo-db / GREENSERVE_DEMO_DB (default: under the OS temp
// directory), notes outlive a restart, and a database path that cannot be used is a one-line
// usage error naming --demo-db.
import t from 'tap';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, startCli, until } from '../helpers.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-notes-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function json(url, init) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10000) });
  return { status: res.status, body: res.status === 204 ? null : await res.json() };
}

async function stop(t, srv) {
  const exited = new Promise((resolve) => srv.child.on('exit', (code, signal) => resolve({ code, signal })));
  srv.child.kill('SIGTERM');
  t.same(await exited, { code: 0, signal: null }, 'SIGTERM: exit 0');
}

t.test('no APP: the notes demo, its database file printed, notes kept across a restart', { timeout: 60000 }, async (t) => {
  const db = path.join(dir, 'sub', 'dir', 'notes.db');
  const args = ['--bind', '127.0.0.1:0', '--threads', '2', '--demo-db', db];
  const first = await startCli(t, args);
  // The banner's last line (startCli resolves at the first, "listening on").
  t.ok(await until(() => first.stderr().includes('no APP given')), 'the demo line');
  t.match(first.stderr(), `"database":"${db}"`, 'the database file in the startup log');
  t.match(first.stderr(), /no APP given: serving the notes demo at http:\/\/127\.0\.0\.1:\d+\//);
  const page = await fetch(`${first.url}/`, { signal: AbortSignal.timeout(10000) });
  t.equal(page.status, 200);
  t.match(await page.text(), /<title>Notes/, 'the page');
  const created = await json(`${first.url}/api/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'kept', body: 'across a restart' }) });
  t.equal(created.status, 201);
  await stop(t, first);
  t.ok(existsSync(db), 'the file (and its directories) created');

  const second = await startCli(t, args);
  const list = await json(`${second.url}/api/notes`);
  t.same(list.body.notes.map((n) => [n.id, n.title]), [[created.body.id, 'kept']], 'the note is still there');
  await stop(t, second);
});

t.test('GREENSERVE_DEMO_DB, and the default under the OS temp directory', { timeout: 60000 }, async (t) => {
  const fromEnv = path.join(dir, 'env.db');
  const a = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '1'], { env: { GREENSERVE_DEMO_DB: fromEnv } });
  t.equal((await json(`${a.url}/api/info`)).body.database, fromEnv, 'GREENSERVE_DEMO_DB');
  await stop(t, a);

  // os.tmpdir() follows TMPDIR: point it at this test's directory to see the default path.
  const tmp = path.join(dir, 'tmp');
  const b = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '1'], { env: { TMPDIR: tmp, GREENSERVE_DEMO_DB: '' } });
  const user = typeof process.getuid === 'function' ? String(process.getuid()) : os.userInfo().username;
  const expected = path.join(tmp, `greenserve-demo-${user}`, 'notes.db');
  t.equal((await json(`${b.url}/api/info`)).body.database, expected, 'default: greenserve-demo-UID/notes.db in the temp directory');
  t.ok(await until(() => b.stderr().includes(`"database":"${expected}"`)), 'printed at start');
  await stop(t, b);
});

t.test('a --demo-db that cannot be used: one line naming it, exit 2', { timeout: 30000 }, async (t) => {
  const file = path.join(dir, 'a-file');
  writeFileSync(file, 'not a directory');
  const cases = [
    [['--demo-db', path.join(file, 'notes.db')], /--demo-db: .*a-file is not a directory/],
    [['--demo-db', dir], /--demo-db: .* is not a file/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(['--bind', '127.0.0.1:0', ...args]);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, re);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  const withApp = await runCli(['--print-config', '--demo-db', path.join(dir, 'x.db')]);
  t.equal(withApp.code, 0, '--print-config without APP');
  t.match(JSON.parse(withApp.stdout).app, /examples\/notes\/app\.mjs$/, 'APP is the demo');
});
