// A handler that throws, rejects, fails after sending headers, or returns something that is not
// a Response costs only its own request: the client gets a 500 (or, once headers went out, a
// closed connection) and the same worker keeps serving. A worker that crashes outside any handler
// costs the requests it had in flight (502) and is replaced.
import t from 'tap';
import { delay, fixture, parseResponses, portOf, rawExchange, startServer, fetchText as get } from '../helpers.mjs';

t.test('node listener: sync throw and async rejection get a 500; the worker keeps serving', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app: fixture('throws.mjs'), threads: 1 });
  const before = await get(h, '/ok');
  t.equal(before.status, 200);
  const thread = before.headers.get('x-thread-id');

  for (const path of ['/sync', '/async']) {
    const r = await get(h, path);
    t.equal(r.status, 500, `${path}: 500`);
    t.equal(r.body, 'Internal Server Error\n', `${path}: a plain body that does not leak the error`);
    const ok = await get(h, '/ok');
    t.same([ok.status, ok.headers.get('x-thread-id')], [200, thread], `after ${path}: the same worker answers`);
  }

  // The connection survives a 500 too: a failing and a good request pipelined on one connection.
  const { text } = await rawExchange(portOf(h),
    'GET /sync HTTP/1.1\r\nHost: x\r\n\r\nGET /async HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    { ms: 5000 });
  t.same(parseResponses(text).map((r) => r.status), [500, 500, 200], 'keep-alive: 500, 500, then 200 on one connection');

  // Interleaved: failures and successes at once, each with its own answer.
  const jobs = [];
  for (let i = 0; i < 30; i++) {
    const path = ['/sync', '/async', '/ok'][i % 3];
    jobs.push(get(h, `${path}?i=${i}`).then((r) => t.equal(r.status, path === '/ok' ? 200 : 500, `${path}?i=${i}`)));
  }
  await Promise.all(jobs);
  const after = await get(h, '/ok');
  t.equal(after.headers.get('x-thread-id'), thread, 'still the first worker: it was never replaced');
});

t.test('node listener: a throw after the headers went out closes the connection', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app: fixture('throws.mjs'), threads: 1 });
  const thread = (await get(h, '/ok')).headers.get('x-thread-id');
  // No Connection: close — only the failure may close this connection (rawExchange gives up after ms).
  const late = await rawExchange(portOf(h), 'GET /late HTTP/1.1\r\nHost: x\r\n\r\n', { ms: 5000 });
  t.ok(late.closed, 'the server closed the connection');
  t.match(late.text, /^HTTP\/1\.1 200 OK\r\n/, 'the headers the app sent');
  t.match(late.text, /partial body, then /, 'and the body it wrote before throwing');
  t.notMatch(late.text, /\r\n0\r\n\r\n$/, 'but not a complete chunked body: the client can tell it was cut');

  await t.rejects(fetch(new URL('/late', h.url)).then((r) => r.text()), 'fetch sees the body cut short');

  const ok = await get(h, '/ok');
  t.same([ok.status, ok.headers.get('x-thread-id')], [200, thread], 'the same worker keeps serving');
});

t.test('fetch handler: throw, rejection, or no Response get a 500; the worker keeps serving', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app: fixture('throws-fetch.mjs'), threads: 1 });
  t.match(h.app, /fetch handler/);
  const before = await get(h, '/ok');
  t.equal(before.status, 200);
  for (const path of ['/sync', '/async', '/not-response', '/undefined']) {
    const r = await get(h, path);
    t.equal(r.status, 500, `${path}: 500`);
    t.equal(r.body, 'Internal Server Error\n');
    const ok = await get(h, '/ok');
    t.same([ok.status, ok.body], [200, before.body], `after ${path}: the same worker answers`);
  }
});

t.test('a worker that crashes outside any handler: its in-flight requests get a 502, then it is replaced', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('crashes.mjs'), threads: 1, maxThreads: 1 }); // a fixed pool: no elastic extras
  const first = await get(h, '/ok');
  t.equal(first.status, 200);

  // /crash waits in the worker until /hang is in flight there too (a handshake inside the one
  // worker thread), then throws from a timer: both requests are in flight when the thread dies.
  const [hang, crash] = await Promise.all([get(h, '/hang'), get(h, '/crash?after=1')]);
  for (const [name, r] of [['/hang', hang], ['/crash', crash]]) {
    t.equal(r.status, 502, `${name}: 502 from the supervisor`);
    // Nothing of its response went out and its request was whole: the connection may go on.
    t.not(r.headers.get('connection'), 'close', `${name}: the connection stays open`);
  }

  // The slot is refilled with a fresh worker; poll (bounded) until it answers.
  const deadline = Date.now() + 5000;
  let again = null;
  while (Date.now() < deadline) {
    again = await get(h, '/ok').catch(() => null);
    if (again?.status === 200) break;
    await delay(20);
  }
  t.equal(again?.status, 200, 'served again after the worker was replaced');
  t.not(again?.body, first.body, 'by a new worker thread');
  t.match(h.stats().workers, [{ slot: 0, state: 'idle' }]);

  // And the new worker can be crashed and replaced the same way.
  const crashAgain = await get(h, '/crash');
  t.equal(crashAgain.status, 502);
  const deadline2 = Date.now() + 5000;
  let third = null;
  while (Date.now() < deadline2) {
    third = await get(h, '/ok').catch(() => null);
    if (third?.status === 200) break;
    await delay(20);
  }
  t.equal(third?.status, 200);
  t.not(third?.body, again?.body);
});
