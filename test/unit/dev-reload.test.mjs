// --reload's filter (which changed paths reload) and the watcher itself on a temp directory: a
// change reloads once per quiet moment; excluded directories are never watched; a directory
// created later is watched; the server's own log files never reload.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DevReload, ReloadFilter } from '../../dist/lib/dev-reload.js';
import { captureLog, until } from '../helpers.mjs';

const INCLUDE = ['*.js', '*.mjs', '*.cjs', '*.json', '*.ts'];
const EXCLUDE = ['node_modules', '.*'];

t.test('the default filter', async (t) => {
  const f = new ReloadFilter(INCLUDE, EXCLUDE);
  t.ok(f.wants('app.mjs'));
  t.ok(f.wants('src/routes/a.ts'));
  t.ok(f.wants('config.json'));
  t.notOk(f.wants('README.md'), 'not included');
  t.notOk(f.wants('node_modules/x/index.js'), 'node_modules at the top');
  t.notOk(f.wants('packages/a/node_modules/x.js'), 'node_modules anywhere');
  t.notOk(f.wants('.git/HEAD.js'), '.git');
  t.notOk(f.wants('.app.mjs.swp'), 'dotfiles');
  t.notOk(f.wants('src/.hidden.js'), 'dotfiles in subdirectories');
  t.ok(f.excluded('node_modules'));
  t.notOk(f.excluded('src'));
});

t.test('path globs match the relative path, and the directories above a file', async (t) => {
  const f = new ReloadFilter(['src/**/*.mjs', '*.json'], ['src/gen', 'tmp*']);
  t.ok(f.wants('src/a/b.mjs'));
  t.notOk(f.wants('lib/b.mjs'), 'outside the path glob');
  t.ok(f.wants('deep/x.json'), 'a name glob anywhere');
  t.notOk(f.wants('src/gen/b.mjs'), 'under an excluded directory');
  t.ok(f.excluded('src/gen'));
  t.notOk(f.wants('tmp1/x.json'), 'a name glob excludes directories');
});

t.test('the watcher reloads once per burst, skips excluded directories, follows new ones', { timeout: 30000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-devreload-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'node_modules', 'dep'), { recursive: true });
  mkdirSync(path.join(dir, 'src'));
  writeFileSync(path.join(dir, 'app.mjs'), '1');
  const { log, lines } = captureLog();
  let reloads = 0;
  let release = null;
  const reload = () => new Promise((resolve) => {
    reloads++;
    release = resolve;
  });
  const logFile = path.join(dir, 'error.json');
  const dev = new DevReload({ dirs: [dir], include: INCLUDE, exclude: EXCLUDE, ignore: [logFile], debounceMs: 50 }, reload, log);
  t.teardown(() => dev.close());
  t.equal(dev.watched, 2, 'the directory and src/, not node_modules');

  writeFileSync(path.join(dir, 'app.mjs'), '2');
  writeFileSync(path.join(dir, 'src', 'b.mjs'), '2');
  writeFileSync(path.join(dir, 'node_modules', 'dep', 'c.js'), '2');
  writeFileSync(path.join(dir, 'notes.md'), '2');
  writeFileSync(logFile, '{}');
  t.ok(await until(() => reloads === 1), 'one reload');
  const line = lines.find((l) => /^reload: /.test(l.msg));
  t.same(line.changed.sort(), [path.join(dir, 'app.mjs'), path.join(dir, 'src', 'b.mjs')], 'the changed files, without excluded or ignored ones');

  // Changes while a reload runs get one more reload after it, not one each.
  writeFileSync(path.join(dir, 'app.mjs'), '3');
  mkdirSync(path.join(dir, 'src', 'new'));
  writeFileSync(path.join(dir, 'src', 'new', 'd.mjs'), '3');
  await until(() => dev.watched === 3);
  t.equal(dev.watched, 3, 'a new directory is watched');
  await new Promise((r) => setTimeout(r, 200)); // several debounce periods: still only the one reload running
  t.equal(reloads, 1, 'no reload while one runs');
  release();
  t.ok(await until(() => reloads === 2), 'one more after it');
  release();
  writeFileSync(path.join(dir, 'src', 'new', 'd.mjs'), '4');
  t.ok(await until(() => reloads === 3), 'a file in the new directory reloads');
  const last = lines.filter((l) => /^reload: /.test(l.msg)).pop();
  t.same(last.changed, [path.join(dir, 'src', 'new', 'd.mjs')]);
  release();
  rmSync(path.join(dir, 'src', 'new'), { recursive: true });
  t.ok(await until(() => dev.watched === 2), 'a removed directory is no longer watched');
});
