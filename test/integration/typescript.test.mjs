// TypeScript apps: `greenserve app.ts` serves with the loader the process was given (node --import
// tsx, or NODE_OPTIONS), in every worker thread; where node strips types itself (22.18+), with
// none; elsewhere, without one, it stops with a message that says what to add.
import t from 'tap';
import { spawn } from 'node:child_process';
import { cliPath, fixture, root } from '../helpers.mjs';

const APP = fixture('typescript/app.ts');
const native = Boolean(process.features.typescript);

/** Start `node [nodeArgs] cli.js args`; resolves { port, stderr } once listening, or { code, stderr } if it exits. */
function start(t, nodeArgs, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, cliPath, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    t.teardown(() => child.kill('SIGKILL'));
    let stderr = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); }, 20000);
    child.stderr.on('data', (c) => {
      stderr += c;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) { clearTimeout(timer); resolve({ port: Number(m[1]), stderr: () => stderr }); }
    });
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stderr: () => stderr }); });
  });
}

async function servesFromEveryThread(t, server) {
  t.ok(server.port, `listening (stderr: ${server.port ? '' : server.stderr()})`);
  if (!server.port) return;
  for (let i = 0; i < 6; i++) {
    const res = await fetch(`http://127.0.0.1:${server.port}/ts${i}`);
    t.same([res.status, (await res.json()).text], [200, `typescript /ts${i}`]);
  }
}

const ARGS = ['--bind', '127.0.0.1:0', '--threads', '2', '--log-level', 'info', APP];

t.test('node --import tsx: every worker runs the .ts app', { timeout: 30000 }, async (t) => {
  const s = await start(t, ['--import', 'tsx'], ARGS);
  await servesFromEveryThread(t, s);
  t.match(s.stderr(), /2 threads/);
});

t.test('--import tsx, a package without "type": "module" (tsx makes it CommonJS)', { timeout: 30000 }, async (t) => {
  const s = await start(t, ['--import', 'tsx'], [...ARGS.slice(0, -1), fixture('typescript-commonjs/app.ts')]);
  await servesFromEveryThread(t, s);
  t.match(s.stderr(), /default export: node request listener/, 'its default export, not the CommonJS exports object');
});

t.test('NODE_OPTIONS=--import tsx: the same', { timeout: 30000 }, async (t) => {
  const s = await start(t, [], ARGS, { NODE_OPTIONS: '--import tsx' });
  await servesFromEveryThread(t, s);
});

t.test('no loader: served where node strips types, else a message that says what to add', { timeout: 30000 }, async (t) => {
  const s = await start(t, [], ARGS, { NODE_OPTIONS: '' });
  if (native) {
    await servesFromEveryThread(t, s);
    return;
  }
  t.equal(s.code, 3, 'exit 3: the app did not load');
  t.match(s.stderr(), /GS_ERR_APP_LOAD/);
  t.match(s.stderr(), /app\.ts is TypeScript/);
  t.match(s.stderr(), new RegExp(`Node ${process.version.slice(1).replace(/\./g, '\\.')} does not run it`));
  t.match(s.stderr(), /--import tsx/, 'says what to add');
  t.notMatch(s.stderr(), /Unknown file extension/);
});
