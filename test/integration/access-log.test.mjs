// --access-log: one line per request written by the acceptor, including requests that never
// reached a worker (a framer 413, a 503 at --limit-concurrency, a health check); request ids
// taken from X-Request-Id or generated, and seen by node and fetch apps; the combined format;
// reopening the file (SIGUSR1 in the CLI).
import t from 'tap';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { delay, fixture, parseResponses, portOf, rawExchange, serve, startCli } from '../helpers.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-access-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const logFile = () => path.join(dir, `access-${++n}.log`);
const lines = (file) => readFileSync(file, 'utf8').trimEnd().split('\n').filter((l) => l !== '');

async function start(options) {
  return serve({ bind: ['127.0.0.1:0'], threads: 2, logLevel: 'silent', env: {}, ...options });
}

const get = (port, target, headers = '') =>
  rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`).then((r) => parseResponses(r.text)[0]);

t.test('json lines for app, framer, overload and health answers', { timeout: 30000 }, async (t) => {
  const file = logFile();
  const h = await start({ app: fixture('echo.mjs'), accessLog: file, healthPath: '/healthz', limitRequestBody: 10 });
  const port = portOf(h);
  const given = await get(port, '/a?x="1"', 'X-Request-Id: req-from-client\r\n');
  t.equal(JSON.parse(given.body).headers['x-request-id'], 'req-from-client', 'the app sees the client id');
  const made = await get(port, '/b');
  const madeId = JSON.parse(made.body).headers['x-request-id'];
  t.match(madeId, /^[0-9a-f-]{36}$/, 'a generated id reaches the app');
  const bad = await get(port, '/c', 'X-Request-Id: has space\r\n');
  const badId = JSON.parse(bad.body).headers['x-request-id'];
  t.match(badId, /^[0-9a-f-]{36}$/, 'an unusable client id is replaced');
  await rawExchange(port, 'POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n');
  await get(port, '/healthz');
  await h.close();
  const log = lines(file).map((l) => JSON.parse(l));
  t.equal(log.length, 5, 'one line per request');
  const [a, b, , big, health] = log;
  t.match(a, { remote: '127.0.0.1', method: 'GET', target: '/a?x="1"', status: 200, request_id: 'req-from-client' });
  t.ok(a.bytes > 100 && a.duration_ms >= 0 && typeof a.worker === 'number');
  t.ok(!Number.isNaN(Date.parse(a.time)), 'ISO time');
  t.equal(b.request_id, madeId, 'the log and the app agree on the generated id');
  t.equal(log[2].request_id, badId, 'and on the replacement');
  t.match(big, { status: 413, worker: null, method: '-' }, 'the framer 413 is logged');
  t.match(health, { status: 200, target: '/healthz', worker: null }, 'health checks are logged');
});

t.test('a 503 at the concurrency limit is logged', { timeout: 30000 }, async (t) => {
  const file = logFile();
  const h = await start({ app: fixture('blocks.mjs'), threads: 1, limitConcurrency: 1, accessLog: file });
  const port = portOf(h);
  const blocked = get(port, '/block?ms=300');
  for (let i = 0; i < 100 && h.stats().outstanding < 1; i++) await delay(5);
  t.equal((await get(port, '/x')).status, 503);
  await blocked;
  await h.close();
  const statuses = lines(file).map((l) => JSON.parse(l).status).sort();
  t.same(statuses, [200, 503]);
});

t.test('fetch-style apps see the request id too', { timeout: 30000 }, async (t) => {
  const h = await start({ app: fixture('echo-fetch.mjs'), accessLog: logFile() });
  t.teardown(() => h.close());
  const r = await get(portOf(h), '/echo');
  t.match(JSON.parse(r.body).headers['x-request-id'], /^[0-9a-f-]{36}$/);
  const custom = await start({ app: fixture('echo.mjs'), accessLog: logFile(), requestIdHeader: 'X-Trace' });
  t.teardown(() => custom.close());
  const c = await get(portOf(custom), '/', 'x-trace: t-1\r\n');
  t.equal(JSON.parse(c.body).headers['x-trace'], 't-1', '--request-id-header');
  t.equal(JSON.parse(c.body).headers['x-request-id'], undefined);
});

t.test('without the access log, apps see no generated id', { timeout: 30000 }, async (t) => {
  const h = await start({ app: fixture('echo.mjs') });
  t.teardown(() => h.close());
  t.equal(JSON.parse((await get(portOf(h), '/')).body).headers['x-request-id'], undefined);
});

t.test('combined format', { timeout: 30000 }, async (t) => {
  const file = logFile();
  const h = await start({ app: fixture('echo.mjs'), accessLog: file, accessLogFormat: 'combined' });
  await get(portOf(h), '/p?q=1', 'Referer: http://ref/\r\nUser-Agent: test "agent"\r\nX-Request-Id: r1\r\n');
  await h.close();
  const [line] = lines(file);
  t.match(line, /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/p\?q=1 HTTP\/1\.1" 200 \d+ "http:\/\/ref\/" "test \\"agent\\"" \d+\.\d{6} [01] r1$/);
});

t.test('CLI: the log file is reopened on SIGUSR1', { timeout: 30000 }, async (t) => {
  const file = logFile();
  const srv = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '1', '--access-log', file, fixture('echo.mjs')]);
  for (let i = 0; i < 100 && !/greenserve \d/.test(srv.stderr()); i++) await delay(10);
  t.match(srv.stderr(), /access log \(json\) to /, 'in the banner');
  await get(srv.port, '/one');
  for (let i = 0; i < 100 && !readFileSync(file, 'utf8').includes('/one'); i++) await delay(10);
  const rotated = `${file}.1`;
  renameSync(file, rotated);
  srv.child.kill('SIGUSR1');
  await delay(200);
  await get(srv.port, '/two');
  const exited = new Promise((resolve) => srv.child.on('exit', resolve));
  srv.child.kill('SIGTERM');
  await exited;
  t.match(readFileSync(rotated, 'utf8'), /"target":"\/one"/);
  const fresh = lines(file);
  t.equal(fresh.length, 1, 'the new file has the later line');
  t.match(fresh[0], /"target":"\/two"/);
});
