// --reload (development): the CLI watches the app's directory; a change to the app or a module it
// imports reloads the workers with zero downtime (no failed request while clients keep sending),
// and the new code answers; code that does not load leaves the old workers serving until the
// next change fixes it. Bad --reload-* values are one-line usage errors.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, startCli, until } from '../helpers.mjs';
import { load } from '../load.mjs';

const base = mkdtempSync(path.join(os.tmpdir(), 'gs-reload-cli-'));
t.teardown(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** A temp app: app.mjs answers with the message lib/message.mjs exports. */
function makeApp(message) {
  const dir = path.join(base, `app-${++n}`);
  mkdirSync(path.join(dir, 'lib'), { recursive: true });
  writeFileSync(path.join(dir, 'app.mjs'), "import { message } from './lib/message.mjs';\nexport default (req, res) => res.end(message);\n");
  writeMessage(dir, message);
  return dir;
}
const writeMessage = (dir, message) => writeFileSync(path.join(dir, 'lib', 'message.mjs'), `export const message = ${JSON.stringify(message)};\n`);
const body = async (url) => (await fetch(url)).text();
/** The log records of reloads (`reload: FILE changed; reloading the workers`). */
const reloadRecords = (stderr) => stderr.split('\n').filter((l) => /"msg":"reload: .* changed; reloading/.test(l)).map((l) => JSON.parse(l));

t.test('a change reloads the workers: no failed request, then the new code answers', { timeout: 60000 }, async (t) => {
  const dir = makeApp('v1');
  const srv = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '2', '--reload', path.join(dir, 'app.mjs')]);
  t.ok(await until(() => /reload: watching /.test(srv.stderr())), 'it says what it watches');
  t.equal(await body(srv.url), 'v1');
  let changed = false;
  let afterChange = 0;
  const r = await load(srv.url, {
    clients: 10,
    // Keep sending through the reload, and a few hundred requests after the new code answers.
    until: () => afterChange >= 300,
    onResponse: (_status, text) => {
      if (!changed) {
        changed = true;
        writeMessage(dir, 'v2'); // a module the app imports, not the app file itself
      } else if (text === 'v2') {
        afterChange++;
      }
    },
  });
  t.equal(r.failed, 0, `no failed request (${JSON.stringify(r.statuses)} ${r.errors.slice(0, 3).join('; ')})`);
  t.ok(r.bodies.has('v1') && r.bodies.has('v2'), 'the old code answered, then the new');
  t.equal(await body(srv.url), 'v2');
  t.match(reloadRecords(srv.stderr())[0], { level: 30, changed: [path.join(dir, 'lib', 'message.mjs')] }, 'the reload is logged with the changed file');

  // Code that does not load: the old workers keep serving; the next save fixes it.
  writeFileSync(path.join(dir, 'lib', 'message.mjs'), 'export const message = ;\n');
  t.ok(await until(() => /reload failed/.test(srv.stderr()), 20000), 'the failed reload is logged');
  t.equal(await body(srv.url), 'v2', 'still the old code');
  writeMessage(dir, 'v3');
  t.ok(await until(async () => (await body(srv.url)) === 'v3', 20000), 'fixed: the new code answers');
  // Files that are not code, and excluded directories, do not reload.
  const count = reloadRecords(srv.stderr()).length;
  mkdirSync(path.join(dir, 'node_modules'));
  writeFileSync(path.join(dir, 'node_modules', 'x.js'), '1');
  writeFileSync(path.join(dir, 'notes.txt'), '1');
  writeMessage(dir, 'v4');
  t.ok(await until(async () => (await body(srv.url)) === 'v4', 20000));
  const records = reloadRecords(srv.stderr());
  t.equal(records.length, count + 1, 'one more reload');
  t.same(records.pop().changed, [path.join(dir, 'lib', 'message.mjs')], 'for the code file only');
});

t.test('with more than 4 threads it warns', { timeout: 30000 }, async (t) => {
  const dir = makeApp('w');
  const srv = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '5', '--reload', path.join(dir, 'app.mjs')]);
  t.ok(await until(() => /"level":40.*reload: 5 threads/.test(srv.stderr())), 'a warning');
});

t.test('bad --reload-* values: one line naming the setting, exit 2', { timeout: 30000 }, async (t) => {
  const dir = makeApp('x');
  const app = path.join(dir, 'app.mjs');
  const missing = await runCli(['--reload', '--reload-dir', path.join(dir, 'nope'), app]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /^greenserve: error: --reload-dir: no such directory/);
  const glob = await runCli(['--reload', '--reload-include', '[ab', app]);
  t.equal(glob.code, 2);
  t.match(glob.stderr, /^greenserve: error: --reload-include: is not a valid glob: "\[" at 0 has no closing "\]"/);
});
