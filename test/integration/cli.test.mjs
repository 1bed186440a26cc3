// The greenserve command: help, version, usage errors (one line, exit 2), boot errors (exit 3),
// serving on TCP and unix sockets, GREENSERVE_* settings, and a graceful stop on SIGTERM.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { example, fixture, httpGet, runCli, startCli } from '../helpers.mjs';

t.test('--help lists the settings and exits 0', { timeout: 15000 }, async (t) => {
  const r = await runCli(['--help']);
  t.equal(r.code, 0);
  t.match(r.stdout, /greenserve \[options\] \[APP\]/);
  for (const flag of ['--bind', '--threads', '--connections', '--backlog', '--limit-concurrency', '--limit-request-body']) t.match(r.stdout, flag);
});

t.test('--version prints the package version', { timeout: 15000 }, async (t) => {
  const r = await runCli(['--version']);
  t.equal(r.code, 0);
  t.match(r.stdout, /^greenserve \d+\.\d+\.\d+/);
});

t.test('bad settings: one line naming the setting, exit 2', { timeout: 30000 }, async (t) => {
  /** @type {Array<[string[], RegExp]>} */
  const cases = [
    [['--threads', 'abc', example('hello.mjs')], /--threads/],
    [['--threads', '0', example('hello.mjs')], /--threads/],
    [['--bind', 'nohost', example('hello.mjs')], /--bind/],
    [['--thread', '2', example('hello.mjs')], /did you mean --threads/],
    [[example('hello.mjs'), example('blocking.mjs')], /only one APP/], // (no APP at all serves the demo: notes-cli.test.mjs)
  ];
  for (const [args, re] of cases) {
    const r = await runCli(args);
    t.equal(r.code, 2, `exit 2 for ${args.join(' ')}`);
    t.match(r.stderr, re);
    t.equal(r.stderr.trim().split('\n').length, 1, 'exactly one line');
    t.match(r.stderr, /^greenserve: error: /);
  }
  const env = await runCli([example('hello.mjs')], { env: { GREENSERVE_CONNECTIONS: 'lots' } });
  t.equal(env.code, 2);
  t.match(env.stderr, /GREENSERVE_CONNECTIONS/);
});

t.test('an app that cannot load stops the server with a clear message, exit 3', { timeout: 30000 }, async (t) => {
  const missing = await runCli(['--bind', '127.0.0.1:0', '/nonexistent/app.mjs']);
  t.equal(missing.code, 3, 'exit 3: the app did not load (WORKER_BOOT_ERROR)');
  t.match(missing.stderr, /GS_ERR_APP_LOAD.*\/nonexistent\/app\.mjs/);
  const shape = await runCli(['--bind', '127.0.0.1:0', '--threads', '1', fixture('not-a-handler.mjs')]);
  t.equal(shape.code, 3);
  t.match(shape.stderr, /GS_ERR_APP_SHAPE/);
  const throws = await runCli(['--bind', '127.0.0.1:0', '--threads', '2', fixture('throws-at-import.mjs')]);
  t.equal(throws.code, 3, 'an app that throws while loading: exit 3, no respawn loop');
  t.match(throws.stderr, /greenserve: cannot start: GS_ERR_APP_LOAD: .*fixture failed at import time/);
});

t.test('--boot-timeout: a worker that takes too long to load stops the server, exit 3', { timeout: 15000 }, async (t) => {
  const started = Date.now();
  const r = await runCli(['--bind', '127.0.0.1:0', '--threads', '1', '--boot-timeout', '0.5', fixture('slow-boot.mjs')]);
  t.equal(r.code, 3);
  t.match(r.stderr, /GS_ERR_BOOT_TIMEOUT: worker \d+ did not load the app within --boot-timeout 0\.5 s/);
  t.ok(Date.now() - started < 8000, 'without waiting for the app');
});

t.test('serves on TCP and a unix socket at once, settings from env, SIGTERM stops gracefully', { timeout: 20000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'gs.sock');
  const srv = await startCli(t, ['--bind', '127.0.0.1:0', '--bind', `unix:${sock}`, example('hello.mjs')], { env: { GREENSERVE_THREADS: '1' } });
  const tcp = await httpGet({ port: srv.port, path: '/' });
  t.same([tcp.status, tcp.body], [200, 'Hello, World!']);
  const unix = await httpGet({ socketPath: sock, path: '/' });
  t.same([unix.status, unix.body], [200, 'Hello, World!']);
  t.match(srv.stderr(), /1 threads/, 'GREENSERVE_THREADS applied');
  const exited = new Promise((resolve) => srv.child.on('exit', (code, signal) => resolve({ code, signal })));
  srv.child.kill('SIGTERM');
  t.same(await exited, { code: 0, signal: null }, 'exit 0 after SIGTERM');
});
