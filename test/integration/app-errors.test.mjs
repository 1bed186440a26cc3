// What greenserve says when it cannot start an app: an unknown flag suggests one only when one
// is close; a directory given as the app says so; a framework's app object is named as such; a
// syntax error names file:line:column (in the app or a module it imports, ESM or CommonJS); a
// throw at import shows its stack.
import t from 'tap';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixture, runCli, startServer } from '../helpers.mjs';
import { serveError } from '../app-helpers.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-app-errors-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
function write(name, text) {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}
const BIND = ['--bind', '127.0.0.1:0', '--threads', '1'];

t.test('an unknown flag: a suggestion only when one is close', { timeout: 20000 }, async (t) => {
  const far = await runCli(['--bogus', fixture('echo.mjs')]);
  t.equal(far.code, 2);
  t.match(far.stderr, /^greenserve: error: --bogus: unknown option/);
  t.notMatch(far.stderr, /did you mean/, 'nothing is close to --bogus');
  t.match(far.stderr, /--help/, 'points to the list');
  const near = await runCli(['--bindd', '127.0.0.1:0', fixture('echo.mjs')]);
  t.equal(near.code, 2);
  t.match(near.stderr, /--bindd: unknown option; did you mean --bind\?/);
  const env = await runCli([fixture('echo.mjs')], { env: { GREENSERVE_XYZZY: '1' } });
  t.match(env.stderr, /GREENSERVE_XYZZY: unknown environment variable/);
  t.notMatch(env.stderr, /did you mean/);
});

t.test('a directory given as the app says so, and names the module in it', { timeout: 20000 }, async (t) => {
  write('site/index.mjs', 'export default (req, res) => res.end("x");\n');
  const r = await runCli([...BIND, path.join(dir, 'site')]);
  t.equal(r.code, 3);
  t.match(r.stderr, /GS_ERR_APP_LOAD/);
  t.match(r.stderr, /site is a directory/);
  t.match(r.stderr, /site\/index\.mjs/, 'suggests the module in it');
  t.notMatch(r.stderr, /not found/);
});

t.test('a Koa app is described as a Koa app', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('koa-app.mjs'), threads: 1 });
  t.match(h.app, /^default export: node request listener \(Koa app\)$/);
  const res = await fetch(new URL('/hi', h.url));
  t.equal(await res.text(), 'koa /hi');
  const err = await serveError(t, { app: fixture('koa-app.mjs'), interface: 'fetch' });
  t.match(err.message, /default export is a Koa app; expected a fetch handler/);
  t.notMatch(err.message, /_events/);
});

t.test('a syntax error names file:line:column', { timeout: 30000 }, async (t) => {
  const cases = [
    [write('syn/app.mjs', 'export default function (req, res) {\n  const x = ;\n}\n'), /syn\/app\.mjs:2:13\b/, "Unexpected token ';'"],
    [write('syn/imports.mjs', 'import { a } from "./dep.mjs";\nexport default (req, res) => res.end(String(a));\n'), /syn\/dep\.mjs:3:5\b/, 'Unexpected strict mode reserved word'],
    [write('syn/app.cjs', 'module.exports = function (req, res) {\n  res.end("x")\n  }}\n'), /syn\/app\.cjs:3:4\b/, "Unexpected token '}'"],
  ];
  write('syn/dep.mjs', 'export const a = 1;\n// a comment\nlet let = 2;\n');
  for (const [file, where, what] of cases) {
    const r = await runCli([...BIND, file]);
    t.equal(r.code, 3, `${path.basename(file)}: exit 3`);
    t.match(r.stderr, where, `${path.basename(file)}: the place`);
    t.match(r.stderr, what, `${path.basename(file)}: the message`);
  }
});

t.test('a throw at import shows its stack', { timeout: 20000 }, async (t) => {
  const r = await runCli([...BIND, fixture('throws-at-import.mjs')]);
  t.equal(r.code, 3);
  t.match(r.stderr, /fixture failed at import time/);
  t.match(r.stderr, /at .*throws-at-import\.mjs:2:7/, 'the frame of the throw');
});
