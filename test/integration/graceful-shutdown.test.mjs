// Shutdown: SIGTERM/SIGINT (and handle.close()) stop accepting, let the requests in flight
// finish, answer requests that still arrive on open connections with Connection: close, and
// stop; SIGQUIT (close({ graceful: false })) stops at once. One test sends a real signal to the CLI.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { connect, fixture, parseResponses, serve, startCli, until } from '../helpers.mjs';

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
  const port = h.addresses[0].port;
  const inflight = Array.from({ length: 10 }, () => fetch(new URL('/slow?ms=500', h.url)).then(async (r) => [r.status, await r.text()]));
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
  const s = await connect(h.addresses[0].port);
  const chunks = [];
  s.on('data', (c) => chunks.push(c));
  const ended = new Promise((resolve) => s.on('close', resolve));
  s.write('GET /slow?ms=800 HTTP/1.1\r\nHost: x\r\n\r\n');
  t.ok(await until(() => h.stats().outstanding === 1), 'the first request is in flight');
  h.signal('SIGTERM');
  t.ok(await until(() => refused(h.addresses[0].port)), 'shutting down');
  s.write('GET /after HTTP/1.1\r\nHost: x\r\n\r\n');
  await ended;
  const rs = parseResponses(Buffer.concat(chunks).toString('latin1'));
  t.same(rs.map((r) => r.status), [200, 200], 'both answered');
  t.equal(rs[1]?.headers.connection, 'close', 'the later one with Connection: close');
  await h.closed;
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
  t.ok(await until(() => refused(h.addresses[0].port)));
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
  t.match(srv.stderr(), /reload done/);
  srv.child.kill('SIGTERM');
});
