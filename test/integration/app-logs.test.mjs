// Logs from app code in workers: the app logger (`import { logger } from
// 'greenserve/logger'` or 'greenserve') and, with --capture-output, console calls reach the
// --error-log file as whole JSON lines, each with the id of the request it was written for, in
// sync handlers and in async ones with many requests in flight per thread. Without
// --capture-output, console output stays plain text on the process's stdout.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath, fixture, root, serve } from '../helpers.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-applogs-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const logFile = () => path.join(dir, `error-${++n}.log`);
const records = (file) => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');

async function start(t, options) {
  const h = await serve({ app: fixture('logs.mjs'), bind: ['127.0.0.1:0'], threads: 2, logLevel: 'info', env: {}, captureOutput: true, ...options });
  t.teardown(() => h.close());
  return h;
}

/** Every line of the file parses as one JSON object (no line was broken or interleaved). */
function parseAll(t, file) {
  const lines = records(file);
  const parsed = [];
  let bad = 0;
  for (const l of lines) {
    try {
      parsed.push(JSON.parse(l));
    } catch {
      bad++;
    }
  }
  t.equal(bad, 0, `all ${lines.length} lines parse as JSON`);
  return parsed;
}

t.test('logger and console records carry their request id, sync and async, many in flight', { timeout: 60000 }, async (t) => {
  const file = logFile();
  const h = await start(t, { errorLog: file });
  // 40 requests at once on 2 threads: async ones interleave their awaits on each thread. Half
  // send their own X-Request-Id; the others get one the worker makes (the access log is off).
  const N = 40;
  const sent = Array.from({ length: N }, (_, i) => {
    const kind = i % 2 === 0 ? 'async' : 'sync';
    const headers = i % 4 < 2 ? { 'x-request-id': `req-${i}` } : {};
    return fetch(new URL(`/${kind}?t=t${i}&n=4&ms=3`, h.url), { headers }).then((r) => r.text());
  });
  const bodies = await Promise.all(sent);
  t.same(bodies, Array.from({ length: N }, (_, i) => `t${i}`), 'every request answered');
  await h.close();
  const recs = parseAll(t, file);
  const top = recs.filter((r) => r.msg === 'loaded: top-level console output');
  const loaded = new Set(top.map((r) => r.thread));
  t.ok(top.length >= 2, 'top-level console output of each worker, captured (a pre-warmed spare may add one)');
  t.ok(top.every((r) => r.requestId === undefined && r.name === 'console'), 'outside a request: no request id');
  const ids = new Map();
  let count = 0;
  for (const r of recs) {
    const token = r.token ?? /token=(t\d+)/.exec(r.msg ?? '')?.[1];
    if (token === undefined) continue;
    count++;
    if (!ids.has(token)) ids.set(token, new Set());
    ids.get(token).add(r.requestId);
  }
  t.equal(count, N * 4 * 2, 'four logger and four console records per request');
  t.ok(recs.filter((r) => r.token !== undefined).every((r) => loaded.has(r.thread)), 'every serving worker captured its import-time output');
  t.equal(ids.size, N);
  const generated = new Set();
  for (let i = 0; i < N; i++) {
    const got = [...ids.get(`t${i}`)];
    t.equal(got.length, 1, `t${i}: one request id on all its records`);
    if (i % 4 < 2) t.equal(got[0], `req-${i}`, `t${i}: the client's id`);
    else {
      t.match(got[0], /^[0-9a-f-]{36}$/, `t${i}: a generated id`);
      generated.add(got[0]);
    }
  }
  t.equal(generated.size, N / 2, 'generated ids differ between requests');
  const asyncConsole = recs.find((r) => /console async/.test(r.msg ?? ''));
  t.match(asyncConsole, { level: 40, name: 'console', worker: Number }, 'console.warn is a warn record of the worker');
  const rec = recs.find((r) => r.msg === 'sync record');
  t.match(rec, { level: 30, name: 'app', pid: process.pid, big: String });
  t.equal(rec.big.length, 6000, 'a record longer than PIPE_BUF is whole');
});

t.test('with the access log on, app records carry the id the access log shows', { timeout: 30000 }, async (t) => {
  const file = logFile();
  const access = logFile();
  const h = await start(t, { errorLog: file, accessLog: access, logLevel: 'warn' });
  const id = await (await fetch(new URL('/id?t=a1', h.url))).text();
  t.match(id, /^[0-9a-f-]{36}$/, 'the acceptor made an id');
  t.equal(await (await fetch(new URL('/same', h.url))).text(), 'true', "'greenserve' and 'greenserve/logger' export the same logger");
  await h.close();
  const recs = parseAll(t, file).filter((r) => r.token === 'a1');
  t.same(recs.map((r) => [r.msg, r.requestId]), [['warn record', id]], '--log-level warn drops the debug record');
  const line = records(access).map((l) => JSON.parse(l)).find((r) => r.target === '/id?t=a1');
  t.equal(line.request_id, id, 'the same id in the access log');
});

t.test('a handler error in the error log carries the request id and the stack', { timeout: 30000 }, async (t) => {
  const file = logFile();
  const h = await serve({ app: fixture('throws.mjs'), bind: ['127.0.0.1:0'], threads: 1, logLevel: 'info', env: {}, errorLog: file, captureOutput: true });
  t.teardown(() => h.close());
  t.equal((await fetch(new URL('/sync', h.url), { headers: { 'x-request-id': 'boom-1' } })).status, 500);
  t.equal((await fetch(new URL('/async', h.url), { headers: { 'x-request-id': 'boom-2' } })).status, 500);
  await h.close();
  const recs = parseAll(t, file).filter((x) => x.msg === 'handler threw');
  t.match(recs, [
    { level: 50, requestId: 'boom-1', url: '/sync', err: { stack: /sync failure in \/sync\n\s+at / } },
    { level: 50, requestId: 'boom-2', url: '/async', err: { stack: /async failure in \/async\n\s+at / } },
  ], 'thrown and rejected: both with their request id');
});

/** Run the CLI until it has answered `paths`, then stop it; resolves { stdout, stderr }. */
function runWithRequests(args, paths) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`timed out: ${stderr}`)); }, 20000);
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', async (c) => {
      const before = stderr;
      stderr += c;
      const m = /listening on (http:\/\/[^\s"]+)/.exec(stderr);
      if (m === null || /listening on/.test(before)) return;
      for (const p of paths) await fetch(new URL(p, m[1])).then((r) => r.text());
      child.kill('SIGTERM');
    });
    child.on('exit', () => { clearTimeout(timer); resolve({ stdout, stderr }); });
  });
}

t.test('without --capture-output console output stays plain text on stdout', { timeout: 30000 }, async (t) => {
  const { stdout, stderr } = await runWithRequests(['--bind', '127.0.0.1:0', '--threads', '1', fixture('logs.mjs')], ['/sync?t=p1&n=1']);
  t.match(stdout, /^loaded: top-level console output$/m);
  t.match(stdout, /^console sync token=p1 i=0$/m, 'console.log of a handler, as written');
  const app = stderr.split('\n').filter((l) => l.includes('"sync record"')).map((l) => JSON.parse(l));
  t.match(app, [{ name: 'app', token: 'p1', requestId: /^[0-9a-f-]{36}$/ }], 'the app logger writes to stderr (--error-log -)');
});

t.test('on the main thread the app logger writes to stderr', { timeout: 30000 }, async (t) => {
  const code = "import { logger } from 'greenserve/logger'; logger.info({ k: 1 }, 'from main');";
  const { stderr, status } = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    child.on('exit', (s) => resolve({ stderr: err, status: s }));
  });
  t.equal(status, 0);
  t.match(JSON.parse(stderr.trim()), { name: 'app', msg: 'from main', k: 1, level: 30 });
});
