// Shutdown: SIGTERM/SIGINT (and handle.close()) stop accepting, let the requests in flight
// finish, answer requests that still arrive on open connections with Connection: close, and
// stop; SIGQUIT (close({ graceful: false })) stops at once. One test sends a real signal to the CLI.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { captureLog, connect, delay, fixture, parseResponses, portOf, serve, startCli, until } from '../helpers.mjs';
import { rawClient } from '../wire.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-shutdown-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const versionFile = path.join(dir, 'version.txt');
writeFileSync(versionFile, 'v1');
process.env.GS_VERSION_FILE = versionFile;

async function start(t, options = {}) {
  const h = await serve({ app: fixture('versioned.mjs'), bind: ['127.0.0.1:0'], threads: 2, logLevel: 'silent', env: {}, ...options });
  t.teardown(() => h.close());
  return h;
}


const refused = (port) => new Promise((resolve) => {
  const s = net.connect({ port, host: '127.0.0.1' });
  s.on('connect', () => { s.destroy(); resolve(false); });
  s.on('error', () => resolve(true));
});

t.test('SIGTERM: the requests in flight finish, then the server stops', { timeout: 30000 }, async (t) => {
  const h = await start(t);
  const port = portOf(h);
  const inflight = Array.from({ length: 10 }, () => fetch(new URL('/slow?ms=500', h.url)).then(async (r) => /** @type {const} */ ([r.status, await r.text()])));
  t.ok(await until(() => h.stats().outstanding === 10), 'ten requests in flight');
  h.signal('SIGTERM');
  t.ok(await until(() => refused(port)), 'no new connections');
  const results = await Promise.all(inflight);
  for (const [status, text] of results) t.same([status, text.split(' ')[0]], [200, 'v1']);
  await h.closed;
  t.pass('closed resolves');
});

t.test('a request that arrives on an open connection during the drain is answered with Connection: close', { timeout: 30000 }, async (t) => {
  const h = await start(t);
  const s = await connect(portOf(h));
  const chunks = [];
  s.on('data', (c) => chunks.push(c));
  const ended = new Promise((resolve) => s.on('close', resolve));
  s.write('GET /slow?ms=800 HTTP/1.1\r\nHost: x\r\n\r\n');
  t.ok(await until(() => h.stats().outstanding === 1), 'the first request is in flight');
  h.signal('SIGTERM');
  t.ok(await until(() => refused(portOf(h))), 'shutting down');
  s.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
  await ended;
  const rs = parseResponses(Buffer.concat(chunks).toString('latin1'));
  t.same(rs.map((r) => r.status), [200, 200], 'both answered');
  t.equal(rs[1]?.headers.connection, 'close', 'the later one with Connection: close');
  await h.closed;
});

t.test('SIGTERM past --graceful-timeout: requests still owed get 503 and the error log names them', { timeout: 30000 }, async (t) => {
  // One worker with room for two requests: /slow runs (async), /stream has sent its head, and a
  // third request waits in the acceptor's queue. None can finish within --graceful-timeout 1.
  const { log, lines } = captureLog();
  const h = await serve({ app: fixture('versioned.mjs'), bind: ['127.0.0.1:0'], threads: 1, maxThreads: 1, threadConcurrency: 2, workerConnections: 2, gracefulTimeout: 1, env: {} }, log);
  t.teardown(() => h.close());
  const port = portOf(h);
  const running = await rawClient(port, { send: 'GET /slow?ms=20000 HTTP/1.1\r\nHost: x\r\n\r\n' });
  const streaming = await rawClient(port, { send: 'GET /stream?ms=20000 HTTP/1.1\r\nHost: x\r\n\r\n' });
  t.ok(await until(() => streaming.text().includes('v1 ')), 'the streamed response has begun');
  t.ok(await until(() => h.stats().outstanding === 2), 'two requests run on the worker');
  const queued = await rawClient(port, { send: 'GET /slow?ms=1&queued HTTP/1.1\r\nHost: x\r\n\r\n' });
  t.ok(await until(() => h.stats().waiting === 1), 'a third waits for the worker');
  const started = Date.now();
  h.signal('SIGTERM');
  const [r, s, q] = await Promise.all([running.closed, streaming.closed, queued.closed]);
  const ms = Date.now() - started;
  await h.closed;
  t.ok(r.closed && s.closed && q.closed, `every connection closed (after ${ms} ms)`);
  t.ok(ms >= 900 && ms < 5000, 'at --graceful-timeout');
  for (const [name, res] of /** @type {const} */ ([['running', r], ['queued', q]])) {
    const rs = parseResponses(res.text);
    t.same(rs.map((x) => [x.status, x.headers.connection]), [[503, 'close']], `${name}: 503 with Connection: close`);
  }
  t.match(s.text, /^HTTP\/1\.1 200 /, 'streaming: its response had begun');
  t.notMatch(s.text, /503/, 'streaming: cut, no status line inside it');
  const worker = lines.filter((l) => l.level === 'error' && l.reason === 'graceful-timeout' && l.slot !== undefined);
  t.equal(worker.length, 1, 'one error line for the worker');
  // The line says what each client got: the 503, or its connection cut (the stream had begun).
  t.match(worker[0]?.msg, /^worker 0 graceful-timeout: 1 request\(s\) in flight get 503: GET \/slow\?ms=20000 \(request \d+\)[^;]*; 1 request\(s\) whose response had started: connection cut: GET \/stream\?ms=20000 \(request \d+\)/);
  t.match(worker[0], { code: 'GS_ERR_WORKER_CRASHED', slot: 0, requests: [{ method: 'GET' }, { method: 'GET' }] });
  t.same(worker[0]?.requests.map((x) => [x.path, x.outcome]).sort(), [['/slow?ms=20000', 503], ['/stream?ms=20000', 'cut']]);
  const waiting = lines.filter((l) => l.level === 'error' && l.reason === 'graceful-timeout' && l.slot === undefined);
  t.equal(waiting.length, 1, 'one error line for the request no worker had started');
  t.match(waiting[0]?.msg, /GET \/slow\?ms=1&queued \(request \d+\)/);
});

t.test('SIGQUIT stops at once: connections close without waiting for their requests', { timeout: 30000 }, async (t) => {
  const h = await start(t, { gracefulTimeout: 60 });
  const slow = fetch(new URL('/slow?ms=20000', h.url)).then((r) => r.text());
  t.ok(await until(() => h.stats().outstanding === 1));
  const started = Date.now();
  h.signal('SIGQUIT');
  await t.rejects(slow, 'the request in flight is cut');
  await h.closed;
  t.ok(Date.now() - started < 3000, `stopped at once (${Date.now() - started} ms)`);
});

t.test('a second SIGTERM during the drain stops at once', { timeout: 30000 }, async (t) => {
  const h = await start(t, { gracefulTimeout: 60 });
  const slow = fetch(new URL('/slow?ms=20000', h.url)).then((r) => r.text());
  t.ok(await until(() => h.stats().outstanding === 1));
  h.signal('SIGTERM');
  t.ok(await until(() => refused(portOf(h))));
  h.signal('SIGTERM');
  await t.rejects(slow);
  await h.closed;
});

t.test('CLI: a real SIGTERM lets a streaming request finish, then exits 0', { timeout: 30000 }, async (t) => {
  const srv = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '1', fixture('versioned.mjs')], { env: { GS_VERSION_FILE: versionFile } });
  const res = await fetch(`${srv.url}/stream?ms=500`); // resolves at the head: the request is in flight
  t.equal(res.status, 200);
  const exited = new Promise((resolve) => srv.child.on('exit', (code, signal) => resolve({ code, signal })));
  srv.child.kill('SIGTERM');
  t.equal(await res.text(), 'v1 done', 'the response completes');
  t.same(await exited, { code: 0, signal: null }, 'exit 0');
  t.match(srv.stderr(), /SIGTERM received/);
});

t.test('CLI: a real SIGHUP reloads the app', { timeout: 30000 }, async (t) => {
  const file = path.join(dir, 'cli-version.txt');
  writeFileSync(file, 'c1');
  const srv = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '1', fixture('versioned.mjs')], { env: { GS_VERSION_FILE: file } });
  const get = async () => (await (await fetch(srv.url)).text()).split(' ')[0];
  t.equal(await get(), 'c1');
  writeFileSync(file, 'c2');
  srv.child.kill('SIGHUP');
  t.ok(await until(async () => (await get()) === 'c2'), 'the new code answers after SIGHUP');
  // Logged in the same step that retires the old worker, but it may reach this pipe a moment after the answer.
  t.ok(await until(() => /reload done/.test(srv.stderr())), 'reload done is logged');
  srv.child.kill('SIGTERM');
});

// ── a worker blocked in a native call (test/fixtures/blocks-native.mjs: execFileSync('sleep')) ──
// terminate() cannot stop such a thread until the call returns; the stop must not wait for it.
// The handshake is the handler's own child process, found in /proc (Linux); the test then ends
// that child so the thread exits and nothing outlives the test.
const hasProc = existsSync('/proc/self/stat');
const needsProc = hasProc ? false : 'finds the blocked call\'s child process in /proc';

/** The `sleep` processes below `pid` (its children's children too). */
function sleepersBelow(pid) {
  const kids = new Map();
  const comm = new Map();
  for (const n of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let stat;
    try {
      stat = readFileSync(`/proc/${n}/stat`, 'utf8'); // "pid (comm) state ppid ..."
    } catch {
      continue; // exited meanwhile
    }
    const end = stat.lastIndexOf(')');
    const ppid = Number(stat.slice(end + 2).split(' ')[1]);
    comm.set(Number(n), stat.slice(stat.indexOf('(') + 1, end));
    kids.set(ppid, [...(kids.get(ppid) ?? []), Number(n)]);
  }
  const found = [];
  const todo = [pid];
  while (todo.length > 0) {
    for (const k of kids.get(todo.pop()) ?? []) {
      todo.push(k);
      if (comm.get(k) === 'sleep') found.push(k);
    }
  }
  return found;
}

function killAll(pids) {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

// Bounds: the drain takes --graceful-timeout (1 s; 0 for SIGQUIT), then the stop waits
// EXIT_WAIT_MS (1 s) for the terminated thread; 3 s more for a loaded machine. Without the bound
// the stop waits for the native call (10 s / 20 s here).
const STOP_BOUND_MS = 1000 + 1000 + 3000;

t.test('close() with a worker blocked in a native call resolves within the bound and names the worker', { timeout: 30000, skip: needsProc }, async (t) => {
  const { log, lines } = captureLog();
  const h = await serve({ app: fixture('blocks-native.mjs'), bind: ['127.0.0.1:0'], threads: 2, maxThreads: 2, gracefulTimeout: 1, env: {} }, log);
  let sleepers = [];
  t.teardown(() => killAll(sleepers));
  const s = await connect(portOf(h));
  s.on('error', () => {});
  t.teardown(() => s.destroy());
  s.write('GET /block?s=10 HTTP/1.1\r\nHost: x\r\n\r\n');
  t.ok(await until(() => (sleepers = sleepersBelow(process.pid)).length === 1), 'the handler is in its native call');
  const slot = h.stats().workers.find((w) => w.state === 'running')?.slot;
  t.type(slot, 'number', 'its worker runs it');
  const started = Date.now();
  const outcome = await Promise.race([h.close().then(() => 'closed'), delay(15000).then(() => 'pending')]);
  const ms = Date.now() - started;
  t.equal(outcome, 'closed', 'close() resolves');
  t.ok(ms >= 900 && ms < STOP_BOUND_MS, `after the drain, within the bound (${ms} ms)`);
  t.equal(h.strandedThreads, 1, 'the blocked thread outlives close()');
  const stuck = lines.filter((l) => l.level === 'error' && /did not exit/.test(l.msg));
  t.equal(stuck.length, 1, 'one error line');
  t.match(stuck[0], {
    slot,
    thread: Number,
    current: { method: 'GET', path: '/block?s=10' },
    msg: new RegExp(`^worker ${slot} \\(thread \\d+\\) did not exit 1000 ms after terminate\\(\\): it runs GET /block\\?s=10, request \\d+, for \\d+ ms; blocked in a native call`),
  });
  killAll(sleepers); // the call returns: the thread exits
  t.ok(await until(() => h.strandedThreads === 0, 10000), 'and is counted until it exits');
});

for (const signal of ['SIGQUIT', 'SIGTERM']) {
  t.test(`CLI: ${signal} with a worker blocked in a native call exits within the bound (its own SIGKILL)`, { timeout: 30000, skip: needsProc }, async (t) => {
    const srv = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '2', '--max-threads', '2', '--graceful-timeout', '1', fixture('blocks-native.mjs')]);
    let sleepers = [];
    t.teardown(() => killAll(sleepers)); // orphaned by the CLI's exit; they would end by themselves in 20 s
    const s = await connect(srv.port);
    s.on('error', () => {});
    t.teardown(() => s.destroy());
    s.write('GET /block?s=20 HTTP/1.1\r\nHost: x\r\n\r\n');
    t.ok(await until(() => (sleepers = sleepersBelow(srv.child.pid)).length === 1), 'the handler is in its native call');
    // 'close': its stderr read to the end too ('exit' may come before the last lines).
    const exited = new Promise((resolve) => srv.child.on('close', (code, sig) => resolve({ code, signal: sig })));
    const started = Date.now();
    srv.child.kill(signal);
    const result = await Promise.race([exited, delay(15000).then(() => 'still running')]);
    const ms = Date.now() - started;
    t.same(result, { code: null, signal: 'SIGKILL' }, 'ended by its own SIGKILL');
    t.ok(ms < STOP_BOUND_MS, `within the bound (${ms} ms)`);
    t.match(srv.stderr(), /"level":50,[^\n]*"msg":"worker \d \(thread \d+\) did not exit [^\n]*GET \/block\?s=20/, 'the error log names the worker and its request');
    t.match(srv.stderr(), /"msg":"1 worker thread\(s\) still blocked in a native call: ending the process with SIGKILL"/);
  });
}
