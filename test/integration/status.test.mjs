// --status-bind: the live status dashboard on its own listener. The page (no external URLs, a
// strict Content-Security-Policy), /status.json while handlers hold their threads (running in a
// synchronous loop, parked in fetchSync: explicit handshakes, no sleeps), restarts by reason, the
// server-sent event stream moving with the traffic, the client cap, bad addresses, and the
// default of the built-in demo.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fixture, httpGet, portOf, rawExchange, runCli, startCli, startServer, until } from '../helpers.mjs';

async function snapshot(h) {
  const r = await httpGet(new URL('status.json', h.statusUrl), { timeoutMs: 5000 });
  if (r.status !== 200) throw new Error(`status.json answered ${r.status}`);
  return JSON.parse(r.body);
}

/**
 * Open /events and collect events; `next()` resolves with the next snapshot (parsed). Lines are
 * split on blank lines as the SSE format says; `retry` is the reconnect delay it announced.
 */
function events(h, t) {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL('events', h.statusUrl), { agent: false }, (res) => {
      const queue = [];
      const waiters = [];
      const stream = { status: res.statusCode, headers: res.headers, retry: null, count: 0, res };
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          for (const line of block.split('\n')) {
            if (line.startsWith('retry: ')) stream.retry = Number(line.slice(7));
            if (line.startsWith('data: ')) {
              stream.count++;
              const ev = JSON.parse(line.slice(6));
              const w = waiters.shift();
              if (w) w(ev);
              else queue.push(ev);
            }
          }
        }
      });
      stream.next = (ms = 5000) => new Promise((res2, rej2) => {
        if (queue.length > 0) return res2(queue.shift());
        const timer = setTimeout(() => rej2(new Error('no event in time')), ms);
        waiters.push((ev) => { clearTimeout(timer); res2(ev); });
      });
      resolve(stream);
    });
    req.on('error', reject);
    t.teardown(() => req.destroy());
  });
}

t.test('off by default', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('echo.mjs') });
  t.equal(h.statusUrl, null);
});

t.test('the page is one self-contained file', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('echo.mjs'), statusBind: '127.0.0.1:0' });
  t.match(h.statusUrl, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const r = await httpGet(h.statusUrl, { timeoutMs: 5000 });
  t.equal(r.status, 200);
  t.match(r.headers['content-type'], /^text\/html/);
  t.match(r.headers['content-security-policy'], /default-src 'none'/);
  t.match(r.headers['content-security-policy'], /connect-src 'self'/);
  t.notMatch(r.headers['content-security-policy'], /unsafe-inline|https?:/, 'inline code is allowed by hash only');
  t.match(r.body, /<title>greenserve status<\/title>/);
  t.notMatch(r.body, /https?:\/\//, 'no absolute URL anywhere in the page');
  t.notMatch(r.body, /\b(?:src|href|action)\s*=\s*["']?\/\//i, 'no protocol-relative URL');
  t.notMatch(r.body, /@import|url\(/i, 'no stylesheet or font fetched by CSS');
  for (const [, attr] of r.body.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/gi)) {
    t.ok(attr.startsWith('data:') || !/^[a-z][a-z0-9+.-]*:/i.test(attr), `${attr} is local`);
  }
  t.match(r.body, /new EventSource\('events'\)/, 'the stream is fetched relative to the page');
  const head = await httpGet(h.statusUrl, { method: 'HEAD', timeoutMs: 5000 });
  t.equal(head.status, 200);
  t.equal(head.body, '');
  t.equal((await httpGet(new URL('nope', h.statusUrl), { timeoutMs: 5000 })).status, 404);
  const post = await httpGet(new URL('status.json', h.statusUrl), { method: 'POST', timeoutMs: 5000 });
  t.equal(post.status, 405);
  t.equal(post.headers.allow, 'GET, HEAD');
});

t.test('status.json shows running and parked workers with their request paths', { timeout: 60000 }, async (t) => {
  // The parked handler's fetchSync waits on this server until the test answers it.
  let answer = null;
  const upstream = http.createServer((req, res) => (answer = () => res.end('ok')));
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
  t.teardown(() => { answer?.(); upstream.close(); upstream.closeAllConnections(); });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-status-'));
  const flag = path.join(dir, 'release');
  let blocked = null;
  // Let go of the blocking handler whatever happens (so closing does not wait for its 20 s cap),
  // and remove the flag only once the handler has seen it.
  t.teardown(async () => {
    writeFileSync(flag, '');
    await blocked;
    rmSync(dir, { recursive: true, force: true });
  });
  const h = await startServer(t, { app: fixture('holds.mjs'), threads: 2, maxThreads: 2, statusBind: '127.0.0.1:0' });
  const port = portOf(h);
  let s = await snapshot(h);
  t.equal(s.version, 1);
  t.equal(s.workers.length, 2);
  t.same(s.workers.map((w) => w.state), ['idle', 'idle']);
  t.equal(s.threads.target, 2);
  t.equal(s.threads.live, 2);
  t.match(s.app, /node request listener/);

  blocked = rawExchange(port, `GET /block?flag=${encodeURIComponent(flag)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { ms: 30000 });
  t.ok(await until(async () => (s = await snapshot(h)).workers.some((w) => w.state === 'running'), 15000), 'a worker runs the blocking handler');
  const running = s.workers.find((w) => w.state === 'running');
  t.match(running.request, { method: 'GET', path: '/block', running: true });
  t.ok(running.request.ageMs >= 0, 'with its age');
  t.equal(running.inflight, 1);
  t.notMatch(JSON.stringify(s), /release|flag=/, 'the query string is not shown');
  t.equal(s.inflight, 1);

  const parked = rawExchange(port, `GET /park?url=${encodeURIComponent(`http://127.0.0.1:${upstream.address().port}/`)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { ms: 30000 });
  t.ok(await until(async () => (s = await snapshot(h)).workers.some((w) => w.state === 'parked'), 15000), 'the other worker parks in fetchSync');
  const park = s.workers.find((w) => w.state === 'parked');
  t.match(park.request, { method: 'GET', path: '/park', running: true });
  t.not(park.slot, running.slot);
  t.equal(s.workers.find((w) => w.slot === running.slot).state, 'running', 'still running: the test has not let go');
  t.equal(s.inflight, 2);
  t.equal(s.connections, 2);
  const older = s.workers.find((w) => w.slot === running.slot).request.ageMs;
  t.ok(older >= running.request.ageMs, 'the running request has grown older');

  // The worker publishes `parked` just before its request leaves the I/O helper: wait for it here.
  t.ok(await until(() => answer !== null, 15000), 'the parked request reached the upstream');
  answer();
  writeFileSync(flag, '');
  t.match((await parked).text, /parked 200/);
  t.match((await blocked).text, /released/);
  t.ok(await until(async () => (s = await snapshot(h)).workers.every((w) => w.state === 'idle' && w.request === null)), 'both idle again');
  t.equal(s.requests.total, 2);
  t.equal(s.requests.byClass['2xx'], 2);
  t.equal(s.latency.total.reduce((a, b) => a + b, 0), 2, 'both in the latency histogram');
  t.ok(s.latency.recentPercentilesMs.p99 > 0);
});

t.test('restarts by reason', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('crashes.mjs'), threads: 1, statusBind: '127.0.0.1:0' });
  await rawExchange(portOf(h), 'GET /crash HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { ms: 3000 });
  let s;
  // the replacement may take a while on a loaded machine
  t.ok(await until(async () => (s = await snapshot(h)).restarts.crashed === 1 && s.workers.some((w) => w.state === 'idle'), 15000));
  t.same(s.restarts, { crashed: 1 });
});

t.test('the event stream delivers snapshots that move with the traffic', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('echo.mjs'), statusBind: '127.0.0.1:0' });
  const stream = await events(h, t);
  t.equal(stream.status, 200);
  t.match(stream.headers['content-type'], /^text\/event-stream/);
  t.equal(stream.headers['cache-control'], 'no-store');
  const first = await stream.next();
  t.equal(stream.retry, 2000, 'a reconnect delay comes first');
  t.equal(first.requests.total, 0);
  for (let i = 0; i < 3; i++) {
    const r = await rawExchange(portOf(h), 'GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    t.match(r.text, /^HTTP\/1\.1 200 /);
  }
  let ev = await stream.next();
  // A tick may fall between two of the requests: wait for the one that has all three (bounded).
  for (let i = 0; i < 3 && ev.requests.total < 3; i++) ev = await stream.next();
  t.equal(ev.requests.total, 3, 'the request counter moved');
  t.ok(ev.time > first.time);
  t.ok(stream.count >= 2);
  t.ok(ev.stream.clients >= 1, 'the snapshot counts this client');
  const json = await snapshot(h);
  t.equal(json.stream.clients, 1);
});

t.test('at most 32 dashboards at once; a client that leaves frees its place', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('echo.mjs'), statusBind: '127.0.0.1:0' });
  const streams = [];
  for (let i = 0; i < 32; i++) streams.push(await events(h, t));
  t.ok(streams.every((s) => s.status === 200));
  const extra = await httpGet(new URL('events', h.statusUrl), { timeoutMs: 5000 });
  t.equal(extra.status, 503);
  t.equal(extra.headers['retry-after'], '2');
  streams[0].res.destroy();
  let again;
  t.ok(await until(async () => {
    const s = await events(h, t);
    if (s.status === 200) again = s;
    else s.res.destroy();
    return s.status === 200;
  }, 10000), 'a place frees once a client disconnects');
  t.equal((await again.next()).version, 1);
});

t.test('the CLI prints where the dashboard is; bad addresses get one line', { timeout: 60000 }, async (t) => {
  const c = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '1', '--status-bind', '127.0.0.1:0', fixture('echo.mjs')]);
  t.ok(await until(() => /status dashboard on http:\/\/127\.0\.0\.1:\d+\//.test(c.stderr())), 'the banner names the URL');
  const url = /status dashboard on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(c.stderr())[1];
  t.equal((await httpGet(url, { timeoutMs: 5000 })).status, 200);
  c.child.kill('SIGTERM');
  // Without APP (the built-in demo) the dashboard is on at a free loopback port, unless set anywhere.
  const printed = async (args, env = {}) => JSON.parse((await runCli(['--print-config', ...args], { env })).stdout).statusBind;
  t.equal(await printed([]), '127.0.0.1:0', 'the demo turns it on');
  t.equal(await printed(['--status-bind', '']), '', '--status-bind \'\' turns it off');
  t.equal(await printed([], { GREENSERVE_STATUS_BIND: '127.0.0.1:9999' }), '127.0.0.1:9999', 'the environment wins over the demo default');
  t.equal(await printed([fixture('echo.mjs')]), '', 'off with an APP');
  for (const [args, env, re] of [
    [['--status-bind', 'nope'], {}, /^greenserve: error: --status-bind: must be HOST:PORT, \[IPv6\]:PORT or unix:PATH \(got "nope"\)\n$/],
    [['--status-bind', '127.0.0.1:70000'], {}, /^greenserve: error: --status-bind: .*port.*\n$/],
    [[], { GREENSERVE_STATUS_BIND: 'unix:' }, /^greenserve: error: GREENSERVE_STATUS_BIND: .*unix:PATH.*\n$/],
  ]) {
    const r = await runCli([...args, fixture('echo.mjs')], { env });
    t.equal(r.code, 2, `${args.join(' ') || JSON.stringify(env)}: exit 2`);
    t.match(r.stderr, re);
    t.equal(r.stderr.split('\n').length, 2, 'one line');
  }
});
