// --health-path and --ready-path: answered by the acceptor, in order with the connection's other
// responses, never by a worker (fast while the only worker is blocked), 503 once draining.
import t from 'tap';
import { connect, delay, fixture, httpGet, parseResponses, portOf, rawExchange, startServer, until } from '../helpers.mjs';

/** Wait until the server's worker runs a handler (the blocked request has started). */
async function untilRunning(t, handle) {
  for (let i = 0; i < 200; i++) {
    if (handle.stats().workers.some((w) => w.state === 'running')) return;
    await delay(5);
  }
  t.fail('the worker never started running the handler');
}

t.test('liveness and readiness answer; other paths reach the app', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('echo.mjs'), healthPath: '/healthz' });
  const port = portOf(h);
  const live = await httpGet({ port, path: '/healthz' });
  t.same([live.status, live.body], [200, 'ok\n']);
  t.equal(live.headers['cache-control'], 'no-store');
  t.same((await httpGet({ port, path: '/healthz?probe=1' })).body, 'ok\n', 'a query string is ignored');
  const ready = await httpGet({ port, path: '/healthz/ready' });
  t.same([ready.status, ready.body], [200, 'ready\n'], 'readiness defaults to PATH/ready');
  const head = await httpGet({ port, path: '/healthz' }, { method: 'HEAD' });
  t.same([head.status, head.body, head.headers['content-length']], [200, '', '3'], 'HEAD: no body');
  const other = await httpGet({ port, path: '/healthzz' });
  t.equal(JSON.parse(other.body).url, '/healthzz', 'a longer path goes to the app');
  // A worker counts a request served just after it publishes the response: wait for that count.
  const served = () => h.stats().workers.reduce((n, w) => n + w.served, 0);
  await until(() => served() >= 1, 5000);
  t.equal(served(), 1, 'only that one reached a worker');
});

t.test('--ready-path on its own', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('echo.mjs'), readyPath: '/ready' });
  const port = portOf(h);
  t.same((await httpGet({ port, path: '/ready' })).body, 'ready\n');
  t.equal(JSON.parse((await httpGet({ port, path: '/healthz' })).body).url, '/healthz', 'no liveness path set');
});

t.test('fast while the only worker is blocked in a sync handler', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('blocks.mjs'), threads: 1, healthPath: '/healthz' });
  const port = portOf(h);
  const blocked = httpGet({ port, path: '/block?ms=1500' });
  await untilRunning(t, h);
  const live = await httpGet({ port, path: '/healthz' });
  t.equal(live.status, 200);
  t.ok(live.ms < 50, `liveness took ${live.ms.toFixed(1)} ms`);
  const ready = await httpGet({ port, path: '/healthz/ready' });
  t.equal(ready.status, 200, 'a blocked worker is still a ready one');
  t.ok(ready.ms < 50, `readiness took ${ready.ms.toFixed(1)} ms`);
  t.match((await blocked).body, /^blocked/);
});

t.test('in order with pipelined requests on the same connection', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('echo.mjs'), healthPath: '/healthz' });
  const req = (path) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
  const r = await rawExchange(portOf(h), req('/delay/200/a') + req('/healthz') + req('/b') + 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const res = parseResponses(r.text);
  t.equal(res.length, 4);
  t.equal(JSON.parse(res[0].body).url, '/delay/200/a');
  t.equal(res[1].body, 'ok\n');
  t.equal(JSON.parse(res[2].body).url, '/b');
  t.same([res[3].body, res[3].headers.connection], ['ok\n', 'close'], 'Connection: close honoured');
  t.ok(r.closed);
});

t.test('readiness is 503 once the server is shutting down', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('blocks.mjs'), threads: 1, healthPath: '/healthz' });
  const s = await connect(portOf(h));
  let text = '';
  s.on('data', (c) => (text += c.toString('latin1')));
  s.write('GET /block?ms=400 HTTP/1.1\r\nHost: x\r\n\r\n');
  await untilRunning(t, h);
  const closing = h.close();
  s.write('GET /healthz/ready HTTP/1.1\r\nHost: x\r\n\r\n');
  await closing;
  s.destroy();
  const res = parseResponses(text);
  t.match(res[0]?.body, /^blocked/);
  t.equal(res[1]?.status, 503, 'not ready while draining');
  t.equal(res[1]?.body, 'not ready\n');
});
