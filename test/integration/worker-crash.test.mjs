// Crash handling and memory: a worker that dies outside any request is replaced (its requests get
// 502, or have their connection cut when their response had begun); one that runs
// out of its heap (--max-worker-memory) costs its request a 502 and is replaced; one whose heap
// stays near the limit is recycled before that, without failing a request; deaths that repeat
// back off per cause, and a worker that cannot start backs off apart from them.
import t from 'tap';
import { captureLog, channel, fixture, parseResponses, portOf, rawExchange, serve, startServer, until, fetchText as get } from '../helpers.mjs';
import { rawClient } from '../wire.mjs';

t.test('a worker that crashes outside any handler: 502 for its request in flight, then it is replaced', { timeout: 20000 }, async (t) => {
  const { log, lines } = captureLog();
  const h = await serve({ app: fixture('crashes.mjs'), bind: ['127.0.0.1:0'], threads: 1, maxThreads: 1, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  const first = await get(h, '/ok');
  // /crash answers nothing itself; its worker throws from a timer: 502 for it (it was in flight).
  t.equal((await get(h, '/crash')).status, 502);
  t.ok(await until(async () => (await get(h, '/ok').catch(() => null))?.status === 200), 'replaced');
  t.not((await get(h, '/ok')).body, first.body);
  const line = lines.find((l) => l.reason === 'crashed');
  t.match(line, { level: 'error', code: 'GS_ERR_WORKER_CRASHED', requests: [{ method: 'GET', path: '/crash' }] });
  t.match(line?.msg, /worker \d+ crashed: 1 request\(s\) in flight get 502: GET \/crash \(request \d+\)/);
  t.equal(line?.thread, Number(first.body.split(' ')[1]), 'the line names the thread that crashed (not -1, as Worker.threadId reads once exited)');
});

t.test('a worker that crashes mid-response: that connection is cut, and the line says so, not 502', { timeout: 20000 }, async (t) => {
  const { log, lines } = captureLog();
  const h = await serve({ app: fixture('crashes.mjs'), bind: ['127.0.0.1:0'], threads: 1, maxThreads: 1, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  const c = await rawClient(portOf(h), { send: 'GET /stream HTTP/1.1\r\nHost: x\r\n\r\n' });
  t.teardown(() => c.socket.destroy());
  t.ok(await until(() => c.text().includes('partial'), 5000), 'its first chunk reached the client');
  // Then the worker dies (after /stream is counted as hanging): /crash in flight too.
  t.equal((await fetch(new URL('/crash?after=1', h.url))).status, 502, 'the request whose response had not begun gets 502');
  const { text, closed } = await c.closed;
  t.ok(closed, 'the server closed the connection');
  t.match(text, /^HTTP\/1\.1 200 /, 'the stream began as a 200');
  t.notMatch(text, /502|0\r\n\r\n$/, 'and was cut: no status line inside it, no last chunk');
  const line = lines.find((l) => l.reason === 'crashed');
  t.match(line?.msg, /^worker \d+ crashed: 1 request\(s\) in flight get 502: GET \/crash\?after=1 \(request \d+\)[^;]*; 1 request\(s\) whose response had started: connection cut: GET \/stream \(request \d+\)$/);
  t.same(line?.requests.map((r) => [r.path, r.outcome]).sort(), [['/crash?after=1', 502], ['/stream', 'cut']], 'each request with what its client got');
});

t.test('a worker that dies while its partial response waits behind an earlier one: a clean 502 for it', { timeout: 20000 }, async (t) => {
  // None of /partial's bytes reached the client (they wait for /first's response): the 502
  // replaces them whole, after /first's 200, instead of following a head and a chunk.
  const { log, lines } = captureLog();
  const ch = channel(t, 'held-crash');
  const h = await serve({ app: fixture('held-crash.mjs'), bind: ['127.0.0.1:0'], threads: 2, maxThreads: 2, threadConcurrency: 1, workerConnections: 1, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  // (/partial says close: the connection ends after its 502.)
  const c = await rawClient(portOf(h), { send: 'GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /partial HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' });
  t.teardown(() => c.socket.destroy());
  await ch.wait((e) => e.key === 'first' && e.op === 'running');
  t.ok(await until(() => lines.some((l) => l.reason === 'crashed'), 10000), 'the worker of /partial died');
  ch.next('first');
  const { text, closed } = await c.closed;
  t.ok(closed, 'the server closed the connection');
  // (Checked first: parseResponses cannot find its way through a 502 inside a chunked body.)
  if (!t.notMatch(text, /partial/, 'nothing of the response that was cut short', { got: text })) return;
  t.same(parseResponses(text).map((r) => r.status), [200, 502], '/first\'s 200, then a 502 for /partial');
  t.match(lines.find((l) => l.reason === 'crashed')?.msg, /: 1 request\(s\) in flight get 502: GET \/partial \(request \d+\)/);
});

// Bystanders (docs/server-behavior.md, "What the requests of a dying worker get"). Pipelined in
// one write, all three requests are framed in one read and go into the one worker's ring; it
// claims /exit and exits in it, and never claims the two behind. Those go to the replacement, and
// the 502 keeps the connection (it used to close it, and the two were never answered).
t.test('requests queued behind one that exits its thread are served by another thread, on the same connection', { timeout: 20000 }, async (t) => {
  const { log, lines } = captureLog();
  const h = await serve({ app: fixture('hangs.mjs'), bind: ['127.0.0.1:0'], threads: 1, maxThreads: 1, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  const first = await get(h, '/ok');
  const { text } = await rawExchange(portOf(h),
    'GET /exit HTTP/1.1\r\nHost: x\r\n\r\nGET /ok?1 HTTP/1.1\r\nHost: x\r\n\r\nGET /ok?2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { ms: 10000 });
  const rs = parseResponses(text);
  t.same(rs.map((r) => r.status), [502, 200, 200], '502 for the request that killed the thread, 200 for the two behind it', { text });
  t.notOk(rs[0]?.headers.connection === 'close', 'the 502 keeps the connection');
  t.match(rs[1]?.body, /^ok \d+$/);
  t.not(rs[1]?.body, first.body, 'served by the replacement thread');
  t.match(lines.find((l) => l.reason === 'exited')?.msg, /^worker 0 exited: 1 request\(s\) in flight get 502: GET \/exit \(request \d+\) after \d+ ms$/, 'only the one it ran is in the line');
});

t.test('requests on other connections queued behind one that exits its thread are served, none gets 502', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('hangs.mjs'), threads: 1, maxThreads: 1 });
  await get(h, '/ok');
  // Eight connections, each with one request, written while /exit runs or just before: whichever
  // reach the worker's ring before it dies are not claimed by it.
  const exit = rawExchange(portOf(h), 'GET /exit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { ms: 10000 });
  const others = Array.from({ length: 8 }, (_, i) => rawExchange(portOf(h), `GET /ok?${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { ms: 10000 }));
  t.equal(parseResponses((await exit).text)[0]?.status, 502);
  const statuses = (await Promise.all(others)).map((r) => parseResponses(r.text)[0]?.status);
  t.same(statuses, Array(8).fill(200), 'every other request is served');
});

// Deterministic on node 20 and 24: the test holds a known amount of live data (in 1 MiB arrays,
// which V8 puts straight in the old generation) above the recycle threshold, and the supervisor
// compares the old generation in use, which garbage in the young generation (tens of MiB on
// node 24, gone at the next scavenge) does not move. 160 MiB cap: the threshold is 128; 128 MiB
// held plus the app's own old generation is above it, and well below the cap.
t.test('--max-worker-memory: a heap that stays near the limit is recycled without a failed request', { timeout: 60000 }, async (t) => {
  const { log, lines } = captureLog();
  const h = await serve({ app: fixture('leaks.mjs'), bind: ['127.0.0.1:0'], threads: 1, maxThreads: 1, maxWorkerMemory: 160, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  const first = await get(h, '/ok');
  let leaked = 0;
  while (leaked < 128 && h.stats().workers.every((w) => !w.retiring)) {
    const r = await get(h, '/leak?mb=8');
    t.equal(r.status, 200, `holds ${(leaked += 8)} MiB more`);
    t.equal(Number(r.body.split(' ')[2]), leaked, 'in the same worker');
    // Near the threshold, give the supervisor its sustain window (1 s) before leaking more: on a
    // loaded machine, leaking on at once went past the cap (CI: out of memory at 120 MiB held).
    if (leaked >= 96) await until(() => h.stats().workers.some((w) => w.retiring), 1500);
  }
  let failed = 0;
  t.ok(await until(async () => {
    const r = await get(h, '/ok');
    if (r.status !== 200) failed++;
    return r.body.split(' ')[1] !== first.body.split(' ')[1];
  }, 25000), 'a fresh worker answers');
  t.equal(failed, 0, 'no request failed meanwhile');
  const line = lines.find((l) => l.reason === 'memory' && /will be recycled \(memory\)/.test(l.msg));
  t.ok(line, 'logged as a memory recycle', { lines: lines.map((l) => l.msg) });
  t.ok(line?.oldGenerationMb + line?.externalMb >= 128, `its memory was above 80 % of the limit (${line?.oldGenerationMb} + ${line?.externalMb} MiB)`);
  t.notOk(lines.some((l) => l.reason === 'out-of-memory'), 'recycled before running out of memory');
});

t.test('--max-worker-memory: a worker that runs out of heap costs its request a 502 and is replaced', { timeout: 30000 }, async (t) => {
  // 64 MiB: enough to boot (module loading, node's http) on Node 20 and 24 even under load. V8's
  // own limit is 512 MiB above it: one request that holds 700 MiB, in 1 MiB steps, reaches it.
  const h = await startServer(t, { app: fixture('leaks.mjs'), threads: 1, maxThreads: 1, maxWorkerMemory: 64 });
  t.equal((await get(h, '/leak?mb=700')).status, 502);
  t.ok(await until(async () => (await get(h, '/ok').catch(() => null))?.status === 200), 'replaced');
});

// Large steps: past --max-worker-memory, V8's own limit (which node lets a worker pass by only
// 16 MiB to terminate) would have been V8's fatal out-of-memory error: the whole process aborted.
// With V8's limit well above, the step fits, and the supervisor terminates the worker.
t.test('--max-worker-memory 256: allocations in 50 MiB steps past it cost at most one request; the process goes on', { timeout: 60000 }, async (t) => {
  const { log, lines } = captureLog();
  const h = await serve({ app: fixture('hog.mjs'), bind: ['127.0.0.1:0'], threads: 1, maxThreads: 1, maxWorkerMemory: 256, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  const first = (await get(h, '/ok')).body.split(' ')[1];
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push((await get(h, '/alloc?mb=50')).status);
  // Which step crosses 256 MiB depends on when V8 frees the backing store each fill() leaves
  // behind and on when the supervisor's check falls: the one that does is served or gets 502.
  t.ok(statuses.every((s) => s === 200 || s === 502), `every step is served or gets 502: ${statuses}`);
  t.ok(statuses.filter((s) => s === 502).length <= 1, `at most one request pays for crossing the limit: ${statuses}`);
  t.ok(await until(() => lines.some((l) => l.reason === 'out-of-memory')), 'the worker past the limit is terminated');
  const line = lines.find((l) => l.reason === 'out-of-memory');
  t.match(line.msg, /^worker 0 out-of-memory: its memory in use, \d+ MiB \(V8 old generation \d+ MiB, outside the V8 heap \d+ MiB\), is past --max-worker-memory 256 MiB; terminating the worker$/);
  t.ok(await until(async () => (await get(h, '/ok').catch(() => null))?.body.split(' ')[1] !== first), 'a new worker serves');
  // One 480 MiB array at once (s.split('') of a 60 MiB string, 8 bytes a character).
  const split = (await get(h, '/split?mb=60')).status;
  t.ok([200, 502].includes(split), `s.split('') of 60 MiB: ${split}`);
  t.ok(await until(async () => (await get(h, '/ok').catch(() => null))?.status === 200), 'served again');
});

// Backoff per cause (docs/decisions/0027-crash-backoff.md). A route that kills its thread on
// every request used to hold back every worker's start: after 9 crashes in a row the next start
// waited 6.4 s, and a request to any other route waited with it.
t.test('a route that keeps killing its only thread: the thread is replaced at once every time', { timeout: 60000 }, async (t) => {
  const { log, lines } = captureLog();
  const h = await serve({ app: fixture('hangs.mjs'), bind: ['127.0.0.1:0'], threads: 1, maxThreads: 1, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  const waits = [];
  for (let i = 0; i < 9; i++) {
    t.equal((await get(h, '/exit')).status, 502, `crash ${i + 1}`);
    const r = await get(h, '/ok');
    t.equal(r.status, 200, 'another route is served after it');
    waits.push(Math.round(r.ms));
  }
  // A worker start takes tens of ms (a few hundred on a loaded 2-core machine); the old backoff
  // made the last ones wait 1.6, 3.2 and 6.4 s.
  t.ok(Math.max(...waits) < 2500, `each /ok after a crash waited for one worker start at most: ${waits.join(', ')} ms`);
  const held = lines.filter((l) => /died of the same cause \d+ times in a row/.test(l.msg));
  t.equal(held.length, 7, 'the 3rd and later crashes of the cause are noted', { msgs: held.map((l) => l.msg) });
  t.match(held[0], { level: 'warn', cause: 'GET /exit', crashes: 3, delayMs: 0 });
  t.match(held[0].msg, /\(GET \/exit\); its replacement starts at once: holding it back would leave fewer than half of --threads 1 serving$/);
});

t.test('a route that keeps crashing holds back the replacement of at most half of the threads, doubling', { timeout: 60000 }, async (t) => {
  const { log, lines } = captureLog();
  const h = await serve({ app: fixture('hangs.mjs'), bind: ['127.0.0.1:0'], threads: 2, maxThreads: 2, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  const waits = [];
  for (let i = 0; i < 6; i++) {
    t.equal((await get(h, '/exit?i=' + i)).status, 502, `crash ${i + 1}`);
    // With a worker up, /ok is served at once. When /exit killed the only one up (the other's
    // replacement held back or still starting), /ok waits for a worker to start, which takes
    // seconds on a loaded 2-core machine and is not the backoff: "never both" below covers it.
    const up = h.stats().workers.filter((w) => w.state !== 'dead' && w.state !== 'starting').length;
    const r = await get(h, '/ok');
    t.equal(r.status, 200);
    if (up > 0) waits.push(Math.round(r.ms));
  }
  t.ok(waits.length > 0, 'some /ok went out with a worker up');
  t.ok(Math.max(...waits) < 2500, `/ok never waited for the backoff while a worker was up: ${waits.join(', ')} ms`);
  const notes = lines.filter((l) => /died of the same cause/.test(l.msg));
  const held = notes.filter((l) => l.delayMs > 0);
  t.ok(held.length >= 1, 'a replacement was held back', { msgs: notes.map((l) => l.msg) });
  t.match(held[0]?.msg, /\(GET \/exit\); its replacement starts in \d+ ms; the other workers serve meanwhile$/, 'the query is not part of the cause');
  for (let i = 1; i < held.length; i++) t.ok(held[i].delayMs > held[i - 1].delayMs, 'longer each time');
  t.ok(notes.some((l) => l.delayMs === 0), 'never both: the second replacement starts at once');
  t.ok(await until(() => h.stats().workers.filter((w) => w.state !== 'dead' && w.state !== 'starting').length === 2, 10000), 'both threads are back once the hold ran out');
});

t.test('a worker that cannot start backs off server-wide, apart from crashes, and the rest keep serving', { timeout: 60000 }, async (t) => {
  const dir = t.testdir({
    'app.mjs': "import { existsSync } from 'node:fs';\n" +
      "import { threadId } from 'node:worker_threads';\n" +
      "if (existsSync(new URL('./broken', import.meta.url))) throw new Error('broken on purpose');\n" +
      "export default (req, res) => { if (req.url === '/exit') process.exit(3); res.end(`ok ${threadId}`); };\n",
  });
  const { log, lines } = captureLog();
  const h = await serve({ app: `${dir}/app.mjs`, bind: ['127.0.0.1:0'], threads: 2, maxThreads: 2, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  const { writeFileSync, rmSync } = await import('node:fs');
  writeFileSync(`${dir}/broken`, '');
  t.equal((await get(h, '/exit')).status, 502, 'one worker dies; its replacement cannot load the app');
  t.ok(await until(() => lines.filter((l) => l.bootFailures !== undefined).length >= 4, 15000), 'its starts fail again and again');
  const fails = lines.filter((l) => l.bootFailures !== undefined);
  t.same(fails.slice(0, 4).map((l) => l.delayMs), [100, 200, 400, 800], 'each waits twice as long as the one before');
  t.match(fails[0].msg, /^worker \d+ failed to start: .*broken on purpose.*; next worker start in 100 ms \(1 in a row: the app does not start\)$/);
  t.notOk(lines.some((l) => l.cause !== undefined), 'boot failures are not counted as crashes of a cause');
  const r = await get(h, '/ok');
  t.equal(r.status, 200, 'the other worker serves meanwhile');
  t.ok(r.ms < 1000, `at once (${Math.round(r.ms)} ms)`);
  rmSync(`${dir}/broken`);
  t.ok(await until(() => h.stats().workers.filter((w) => w.state !== 'dead' && w.state !== 'starting').length === 2, 20000), 'fixed, the next start brings the second worker back');
});
