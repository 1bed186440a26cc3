// The request deadline (--timeout) and liveness: a handler that holds its worker past the deadline
// gets its worker terminated and its client a 504; requests the worker had not started go to
// another worker; a worker whose event loop is stuck outside any request is found by its
// heartbeat; a worker that exits or crashes mid-request costs its in-flight requests a 502.
import t from 'tap';
import { fixture, parseResponses, portOf, rawExchange, startServer, until, captureLog } from '../helpers.mjs';

async function get(h, path) {
  const res = await fetch(new URL(path, h.url));
  return { status: res.status, body: await res.text(), connection: res.headers.get('connection') };
}

/** Poll (bounded) until `cond()` holds. */


t.test('a busy-loop handler gets a 504 within --timeout and the server keeps serving', { timeout: 20000 }, async (t) => {
  const { log, lines } = captureLog();
  const { serve } = await import('../helpers.mjs');
  const h = await serve({ app: fixture('hangs.mjs'), bind: ['127.0.0.1:0'], threads: 2, maxThreads: 2, timeout: 1, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  const before = await get(h, '/ok');
  const started = Date.now();
  const spinning = get(h, '/spin?x=1');
  // The other worker answers while one spins.
  t.equal((await get(h, '/ok')).status, 200, 'the other worker serves meanwhile');
  const r = await spinning;
  const took = Date.now() - started;
  t.equal(r.status, 504, '504 Gateway Timeout');
  t.ok(took >= 1000 && took < 2500, `within the deadline and a margin (${took} ms)`);
  const line = lines.find((l) => l.reason === 'timeout');
  t.ok(line, 'an error line with reason timeout');
  t.equal(line?.level, 'error');
  t.match(line?.msg, /worker \d+ timeout: GET \/spin\?x=1 \(request \d+\) ran \d+ ms, past --timeout 1 s/);
  t.match(line, { code: 'GS_ERR_WORKER_TIMEOUT', request: { method: 'GET', path: '/spin?x=1' } });
  t.ok(line?.ranMs >= 1000, 'how long it ran');
  t.ok(await until(() => h.stats().workers.filter((w) => !w.retiring && w.state === 'idle').length === 2), 'a replacement is serving: 2 idle workers');
  for (let i = 0; i < 4; i++) t.equal((await get(h, '/ok')).status, 200);
  t.not(before.body, undefined);
});

t.test('a request queued behind the stuck handler on the same worker is served by the replacement', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('hangs.mjs'), threads: 1, maxThreads: 1, timeout: 1 });
  const first = await get(h, '/ok');
  // One write: both requests are framed in one read and both go into the one worker's ring; it
  // starts /spin and never reads /ok.
  const { text } = await rawExchange(portOf(h), 'GET /spin HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { ms: 8000 });
  const rs = parseResponses(text);
  t.same(rs.map((r) => r.status), [504, 200], '504 for the stuck one, then 200 for the one behind it, on one connection');
  t.match(rs[1]?.body, /^ok \d+$/);
  t.not(rs[1]?.body, first.body, 'from the replacement thread');
});

t.test('a handler blocked in Atomics.wait is terminated too', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('hangs.mjs'), threads: 1, maxThreads: 1, timeout: 1 });
  t.equal((await get(h, '/wait')).status, 504);
  t.ok(await until(async () => (await get(h, '/ok').catch(() => null))?.status === 200), 'served again');
});

t.test('an event loop stuck outside any request is found by the heartbeat', { timeout: 20000 }, async (t) => {
  const { log, lines } = captureLog();
  const { serve } = await import('../helpers.mjs');
  const h = await serve({ app: fixture('hangs.mjs'), bind: ['127.0.0.1:0'], threads: 1, maxThreads: 1, timeout: 1, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  const first = await get(h, '/stuck-later');
  t.equal(first.status, 200, 'the request itself is answered');
  const started = Date.now();
  // Dispatched to the stuck worker (it looks idle); it never reads it; the supervisor kills the
  // worker for its silent heartbeat and sends the request to the replacement.
  const r = await get(h, '/ok');
  t.equal(r.status, 200, 'the next request is answered by the replacement');
  // 1 s heartbeat limit + the 100 ms supervisor tick + starting a replacement (slow on a loaded 2-core box)
  t.ok(Date.now() - started < 10000, `within the heartbeat limit and a margin (${Date.now() - started} ms)`);
  t.not(r.body, first.body);
  t.ok(lines.some((l) => l.reason === 'unresponsive' && l.level === 'error'), 'logged as unresponsive');
});

t.test('process.exit in a handler: 502 for the request, the worker is replaced', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('hangs.mjs'), threads: 1 });
  const first = await get(h, '/ok');
  const r = await get(h, '/exit');
  t.equal(r.status, 502, '502 Bad Gateway');
  t.ok(await until(async () => (await get(h, '/ok').catch(() => null))?.status === 200), 'served again');
  t.not((await get(h, '/ok')).body, first.body, 'by a new thread');
});

t.test('--timeout 0 turns the deadline off', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('blocks.mjs'), threads: 1, timeout: 0 });
  const r = await fetch(new URL('/block?ms=300', h.url));
  t.equal(r.status, 200);
});
