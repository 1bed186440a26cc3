// The command line with config files: --print-config shows the resolved precedence,
// --check-config exits 0 for a good setup and 2 (one line) for a bad file, key or app.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { example, fixture, runCli } from '../helpers.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-config-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
function write(name, text) {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

t.test('--print-config: file < env < CLI, JSON on stdout, exit 0', { timeout: 15000 }, async (t) => {
  const cfg = write('gs.json', JSON.stringify({ app: example('hello.mjs'), threads: 3, backlog: 10, connections: 20 }));
  const r = await runCli(['--config', cfg, '--connections', '30', '--print-config'], { env: { GREENSERVE_BACKLOG: '15' } });
  t.equal(r.code, 0, r.stderr);
  const c = JSON.parse(r.stdout);
  t.equal(c.app, example('hello.mjs'));
  t.equal(c.threads, 3, 'from the file');
  t.equal(c.backlog, 15, 'env over file');
  t.equal(c.connections, 30, 'CLI over env');
  t.equal(Object.keys(c)[0], 'app', 'in the table order');
});

t.test('GREENSERVE_CONFIG names the file; an .mjs file works', { timeout: 15000 }, async (t) => {
  const cfg = write('gs.mjs', `export default { app: ${JSON.stringify(example('hello.mjs'))}, keepAlive: 5 };`);
  const r = await runCli(['--print-config'], { env: { GREENSERVE_CONFIG: cfg } });
  t.equal(r.code, 0, r.stderr);
  t.equal(JSON.parse(r.stdout).keepAlive, 5);
});

t.test('--check-config: 0 when good, 2 with one line when not', { timeout: 30000 }, async (t) => {
  const good = await runCli(['--check-config', example('hello.mjs')]);
  t.equal(good.code, 0, good.stderr);
  t.match(good.stdout, /config OK.*node/);
  const cases = [
    [['--config', write('bad.json', '{"threds": 2}'), '--check-config', example('hello.mjs')], /bad\.json: threds: unknown setting; did you mean threads\?/],
    [['--config', write('bad2.json', '{"threads": 0}'), '--check-config', example('hello.mjs')], /bad2\.json: threads: must be/],
    [['--config', path.join(dir, 'nope.json'), '--check-config', example('hello.mjs')], /--config: no such file/],
    [['--check-config', '/nonexistent/app.mjs'], /GS_ERR_APP_LOAD/],
    [['--check-config', fixture('not-a-handler.mjs')], /GS_ERR_APP_SHAPE/],
    [['--check-config', fixture('throws-at-import.mjs')], /GS_ERR_APP_LOAD/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    t.equal(r.code, 2, `exit 2: ${args.join(' ')}`);
    t.match(r.stderr, re);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
});
