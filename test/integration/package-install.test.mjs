// The README's install from a tarball, as a user runs it: `npm pack` in this repository, then
// `npm install` of that tarball into a fresh project, whose `greenserve` bin serves an app there
// and whose `import { serve } from 'greenserve'` works. The install takes the dependencies from
// npm's cache (--offline), or fetches what the cache lacks (--prefer-offline), bounded in time;
// where npm can do neither, the test skips and says why. The pack skips the prepare script
// (tsc): the tests run against the dist/ that is already built, and that is what it packs.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root } from '../helpers.mjs';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-package-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd, args, cwd, ms) {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: ms, env: { ...process.env, npm_config_update_notifier: 'false' } });
}

t.test('npm pack, npm install of the tarball, then the installed greenserve serves an app', { timeout: 240000 }, async (t) => {
  const pack = run(npm, ['pack', '--ignore-scripts', '--pack-destination', dir], root, 60000);
  t.equal(pack.status, 0, 'npm pack', { stderr: pack.stderr });
  const tgz = path.join(dir, `greenserve-${version}.tgz`);
  t.ok(existsSync(tgz), `wrote greenserve-${version}.tgz`, { files: readdirSync(dir) });
  if (!existsSync(tgz)) return;

  const project = path.join(dir, 'my-app');
  mkdirSync(project);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'my-app', private: true, type: 'module' }));
  writeFileSync(path.join(project, 'app.mjs'), 'export default (req, res) => res.end(`hello from ${req.url}`);\n');
  // From npm's cache alone first; where it lacks something, npm may fetch that (bounded). The
  // optional better-sqlite3 (the built-in demo's SQLite driver) is left out: the app here does not
  // use it, and with it the install took 100 s instead of 5 on a loaded 2-core machine.
  const args = ['install', tgz, '--omit=optional', '--no-audit', '--no-fund'];
  let install = run(npm, [...args, '--offline'], project, 60000);
  if (install.status !== 0 && /ENOTCACHED/.test(install.stderr)) install = run(npm, [...args, '--prefer-offline'], project, 120000);
  if (install.status !== 0) {
    const why = install.error?.code === 'ETIMEDOUT' ? 'it took too long'
      : /ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|network/i.test(install.stderr) ? 'the dependencies are neither in npm\'s cache nor reachable' : null;
    if (why !== null) return t.skip(`npm cannot install the tarball here (${why}): ${install.stderr.slice(-500)}`);
    return t.fail('npm install of the tarball', { stderr: install.stderr });
  }
  const bin = path.join(project, 'node_modules', '.bin', 'greenserve');
  t.ok(existsSync(bin), 'the greenserve bin is installed');
  t.ok(existsSync(path.join(project, 'node_modules', 'greenserve', 'dist', 'lib', 'cli.js')), 'with the compiled dist/');

  const child = spawn(bin, ['--bind', '127.0.0.1:0', '--threads', '1', 'app.mjs'], { cwd: project, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line within 20 s: ${stderr}`)), 20000);
    child.stderr.on('data', (c) => {
      stderr += c;
      const m = /listening on (http:\/\/[^\s"]+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  const res = await fetch(new URL('/x', url), { signal: AbortSignal.timeout(10000) });
  t.equal(res.status, 200);
  t.equal(await res.text(), 'hello from /x');
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM stops it, exit status 0');

  // The library entry points resolve from the project as from a registry package.
  const lib = run(process.execPath, ['--input-type=module', '-e', "const g = await import('greenserve'); const l = await import('greenserve/logger'); console.log(typeof g.serve, typeof l.logger.info)"], project, 30000);
  t.equal(lib.stdout.trim(), 'function function', 'import { serve } from \'greenserve\' and greenserve/logger', { stderr: lib.stderr });
});
