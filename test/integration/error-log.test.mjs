// --error-log: greenserve's own records (startup banner, worker lifecycle, request errors with
// stacks) from the acceptor and every worker thread go to one file as whole JSON lines; SIGUSR1
// reopens it in every thread (logrotate: move the file, then signal); a path that cannot be
// opened is a one-line usage error.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath, fixture, rawExchange, runCli, until } from '../helpers.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-errorlog-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const read = (file) => (existsSync(file) ? readFileSync(file, 'utf8') : '');
const records = (file) => read(file).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

/** Start the CLI logging to `file`; resolves { child, url, stderr() } once the file says it listens. */
async function startLogging(t, file, args) {
  const child = spawn(process.execPath, [cliPath, '--bind', '127.0.0.1:0', '--error-log', file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const listening = await until(() => /listening on http/.test(read(file)), 15000);
  if (!listening) throw new Error(`the CLI did not start: ${stderr}`);
  const url = /listening on (http:\/\/[^\s"]+)/.exec(read(file))[1];
  return { child, url, stderr: () => stderr };
}

const stop = (child) => new Promise((resolve) => {
  child.on('exit', resolve);
  child.kill('SIGTERM');
});

t.test('a worker thread loads pino only when it first writes a record (a faster worker start); that record is not lost', { timeout: 30000 }, async (t) => {
  const file = path.join(dir, 'lazy.log');
  const srv = await startLogging(t, file, ['--threads', '1', '--max-threads', '1', fixture('pino-loaded.mjs')]);
  const loaded = async () => (await (await fetch(new URL('/', srv.url))).json()).pino;
  t.equal(await loaded(), false, 'booted and served without pino');
  t.equal((await fetch(new URL('/throw', srv.url))).status, 500);
  t.ok(await until(() => read(file).includes('thrown for the log')), 'the first record of the worker reached the file');
  t.match(records(file).find((r) => r.msg === 'handler threw'), { level: 50, worker: 0, err: { message: 'thrown for the log' } });
  t.equal(await loaded(), true, 'pino was loaded for it');
  await stop(srv.child);
});

t.test('the banner, worker errors with stacks and lifecycle go to the file; SIGUSR1 reopens it in every thread', { timeout: 60000 }, async (t) => {
  const file = path.join(dir, 'logs', 'error.log'); // the directory is created
  const srv = await startLogging(t, file, ['--threads', '1', fixture('throws.mjs')]);
  t.equal((await fetch(new URL('/sync', srv.url))).status, 500);
  t.ok(await until(() => read(file).includes('handler threw')), 'the worker wrote its error');
  const before = records(file);
  t.match(before.find((r) => r.msg.startsWith('listening on')), { level: 30, thread: 0 }, 'the banner, from the acceptor');
  const failed = before.find((r) => r.msg === 'handler threw');
  t.match(failed, { level: 50, worker: 0, url: '/sync', err: { stack: /sync failure in \/sync\n\s+at / } }, 'a request error with its stack, from the worker');
  t.notOk(srv.stderr().includes('listening on'), 'nothing of it on stderr');

  renameSync(file, `${file}.1`);
  srv.child.kill('SIGUSR1');
  // The acceptor reopens when it handles the signal; the worker before its next line.
  t.ok(await until(() => existsSync(file)), 'the acceptor reopened the file');
  // Only one worker so far: it answers this one, with the file it had opened before the move.
  t.equal((await fetch(new URL('/async', srv.url))).status, 500);
  srv.child.kill('SIGTTIN'); // an acceptor record (and a second worker)
  t.ok(await until(() => /SIGTTIN/.test(read(file)) && /handler threw/.test(read(file))), 'both threads write to the new file');
  await stop(srv.child);
  const after = records(file);
  const again = after.find((r) => r.msg === 'handler threw');
  t.equal(again.thread, failed.thread, 'the same worker thread as before the rotation reopened its file');
  t.match(again, { url: '/async', err: { stack: /async failure/ } });
  t.ok(after.some((r) => /SIGTTIN received/.test(r.msg) && r.thread === 0), 'the acceptor record is in the new file');
  const old = records(`${file}.1`);
  t.notOk(old.some((r) => r.url === '/async' || /SIGTTIN/.test(r.msg)), 'nothing after the rotation in the moved file');
});

t.test('a path that cannot be opened: one line naming --error-log, exit 2', { timeout: 30000 }, async (t) => {
  const blocker = path.join(dir, 'a-file');
  await import('node:fs').then((fs) => fs.writeFileSync(blocker, 'x'));
  const r = await runCli(['--bind', '127.0.0.1:0', '--error-log', path.join(blocker, 'sub', 'error.log'), fixture('throws.mjs')]);
  t.equal(r.code, 2);
  t.match(r.stderr, /^greenserve: error: --error-log: cannot open .*error\.log for appending \(ENOTDIR\)\n$/);
});

t.test('requests with an unknown method get 400; the error log says so once a minute at most, not once per request', { timeout: 30000 }, async (t) => {
  // The acceptor frames any token as a method (RFC 9110 §9.1); node's parser in the worker knows
  // only its own list and refuses the rest. A client can send such requests at will.
  const file = path.join(dir, 'methods.log');
  const srv = await startLogging(t, file, ['--threads', '1', '--max-threads', '1', fixture('sized.mjs')]);
  const port = Number(new URL(srv.url).port);
  for (let i = 0; i < 30; i++) {
    const { text } = await rawExchange(port, `FOO${i} / HTTP/1.1\r\nHost: x\r\n\r\n`);
    t.match(text, /^HTTP\/1\.1 400 /, `FOO${i}: 400`);
  }
  t.equal((await fetch(new URL('/', srv.url))).status, 200, 'a known method is served');
  // Everything the worker wrote is in the file once the server has stopped.
  await stop(srv.child);
  const refused = records(file).filter((r) => /parser rejected/.test(r.msg));
  t.equal(refused.length, 1, `one line for 30 refused requests (${refused.length})`);
  t.match(refused[0], { level: 40, worker: 0, code: 'HPE_INVALID_METHOD', msg: /^worker parser rejected a framed request \(HPE_INVALID_METHOD\); at most one such line a minute/ });
});
