// Memory limits that see all memory (docs/decisions/0028-memory-limits.md): --max-worker-memory
// counts the memory a worker's objects hold outside the V8 heap (Buffers) as well as its heap;
// --max-server-memory caps the whole process's resident memory; and without --max-worker-memory
// a worker still has room above greenserve's default limit, so that one large allocation stops
// the worker, not the process.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { captureLog, fixture, serve, startCli, until, fetchText as get } from '../helpers.mjs';

/** The JSON log records a CLI child wrote to stderr so far. */
function records(srv) {
  return srv.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

// Before, a worker held 3.17 GB of Buffers under --max-worker-memory 256: only the V8 heap counted.
t.test('--max-worker-memory counts Buffers: a worker that holds them near the limit is recycled, no request fails', { timeout: 60000 }, async (t) => {
  const { log, lines } = captureLog();
  const h = await serve({ app: fixture('buffers.mjs'), bind: ['127.0.0.1:0'], threads: 1, maxThreads: 1, maxWorkerMemory: 128, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  const first = (await get(h, '/ok')).body.split(' ')[1];
  let held = 0;
  // Up to 112 MiB of Buffers, in 8 MiB steps: above 80 % of 128 with the heap (a few MiB on node
  // 20, more on node 24) and below 128. Near the threshold each step waits for the supervisor's
  // sustain window (1 s) before the next.
  while (held < 112 && !lines.some((l) => l.reason === 'memory')) {
    const r = await get(h, '/buffer?mb=8');
    t.equal(r.status, 200);
    held += 8;
    if (held >= 80) await until(() => lines.some((l) => l.reason === 'memory'), 1500);
  }
  // Recycled (80 % for a second), or, where garbage left in the old generation pushes the sum
  // past 128 before the second is up, terminated between requests: either way for memory that
  // is mostly Buffers, which the V8 heap alone would not have counted.
  const acted = (l) => l.reason === 'memory' || l.reason === 'out-of-memory';
  t.ok(await until(() => lines.some(acted), 5000), 'recycled (or terminated) for memory', { msgs: lines.map((l) => l.msg) });
  const line = lines.find(acted);
  const outside = line.reason === 'memory' ? line.externalMb : Number(/outside the V8 heap (\d+) MiB/.exec(line.msg)?.[1]);
  t.ok(outside >= 80, `its memory outside the V8 heap counted (${outside} MiB; ${line.reason})`);
  let failed = 0;
  t.ok(await until(async () => {
    const r = await get(h, '/ok');
    if (r.status !== 200) failed++;
    return r.body.split(' ')[1] !== first;
  }, 20000), 'a fresh worker answers');
  t.equal(failed, 0, 'no request failed');
});

t.test('--max-worker-memory: a worker whose Buffers pass the limit is terminated, and the line says what it held', { timeout: 30000 }, async (t) => {
  const { log, lines } = captureLog();
  const h = await serve({ app: fixture('buffers.mjs'), bind: ['127.0.0.1:0'], threads: 1, maxThreads: 1, maxWorkerMemory: 128, logLevel: 'silent', env: {} }, log);
  t.teardown(() => h.close());
  const first = (await get(h, '/ok')).body.split(' ')[1];
  const r = await get(h, '/buffer?mb=200');
  t.ok([200, 502].includes(r.status), `the request that passed it: ${r.status}`);
  t.ok(await until(() => lines.some((l) => l.reason === 'out-of-memory'), 5000), 'terminated');
  t.match(lines.find((l) => l.reason === 'out-of-memory')?.msg,
    /^worker 0 out-of-memory: its memory in use, \d+ MiB \(V8 old generation \d+ MiB, outside the V8 heap 2\d\d MiB\), is past --max-worker-memory 128 MiB; terminating the worker$/);
  t.ok(await until(async () => (await get(h, '/ok').catch(() => null))?.body.split(' ')[1] !== first, 10000), 'a new worker serves');
});

// node's --max-old-space-size is every worker's V8 limit (it overrides resourceLimits). Before,
// greenserve enforced nothing below it by default: a worker kept what it allocated up to that
// limit, and one large allocation there (s.split('') of a 50 MiB string: a 400 MiB array at once)
// was V8's fatal out-of-memory error, which aborted the whole process. The default limit is now
// 384 MiB below the 768 MiB V8 limit (half of it below 1 GiB): the worker is stopped past it, and
// the large step lands in a fresh worker's heap, where it fits.
t.test('without --max-worker-memory, large allocations stop the worker, not the process', { timeout: 60000 }, async (t) => {
  const srv = await startCli(t, ['--no-parent', '--threads', '1', '--max-threads', '1', '--bind', '127.0.0.1:0', '--log-format', 'json', fixture('hog.mjs')],
    { env: { NODE_OPTIONS: '--max-old-space-size=768' } });
  const statuses = [];
  for (let i = 0; i < 7; i++) statuses.push((await get(srv.port, '/alloc?mb=64').catch(() => ({ status: 'no answer' }))).status);
  const killed = await until(() => records(srv).some((l) => l.reason === 'out-of-memory' && / is past --max-worker-memory /.test(l.msg)), 5000);
  t.ok(killed, `the worker past 384 MiB was terminated (${statuses.join(', ')})`, { msgs: records(srv).map((l) => l.msg) });
  t.match(records(srv).find((l) => l.reason === 'out-of-memory' && / is past /.test(l.msg))?.msg,
    /is past --max-worker-memory 384 MiB \(the default: node's --max-old-space-size, less room for one large allocation\); terminating the worker$/);
  const split = (await get(srv.port, '/split?mb=50').catch(() => ({ status: 'no answer' }))).status;
  t.ok([200, 502].includes(split), `one 400 MiB array: ${split}`);
  await until(() => srv.child.exitCode !== null || srv.child.signalCode !== null, 500);
  t.same([srv.child.exitCode, srv.child.signalCode], [null, null], 'the server process lives');
  t.ok(await until(async () => (await get(srv.port, '/ok').catch(() => null))?.status === 200, 10000), 'and serves');
  srv.child.kill('SIGTERM');
});

/** The resident memory of process `pid`, MiB (Linux). */
function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) / 1024;
}

t.test('--max-server-memory: the worker holding the most is recycled near it and terminated past it; the server serves on', { timeout: 60000, skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const srv = await startCli(t, ['--no-parent', '--threads', '2', '--max-threads', '2', '--max-server-memory', '480', '--bind', '127.0.0.1:0', '--log-format', 'json', fixture('buffers.mjs')]);
  const base = rssMb(srv.child.pid);
  t.ok(base < 300, `the server starts well below the limit (${Math.round(base)} MiB)`);
  // Fill one worker (the first in the pool's order takes sequential requests) up to 80 % of the
  // limit: 384 MiB of resident memory for the process.
  let failed = 0;
  const holder = (await get(srv.port, '/ok')).body.split(' ')[1];
  while (rssMb(srv.child.pid) < 400 && !records(srv).some((l) => l.reason === 'server-memory')) {
    const r = await get(srv.port, '/buffer?mb=32');
    if (r.status !== 200) failed++;
  }
  t.ok(await until(() => records(srv).some((l) => l.reason === 'server-memory'), 5000), 'recycled');
  const line = records(srv).find((l) => l.reason === 'server-memory');
  t.match(line?.msg, /^worker \d+ will be recycled \(server-memory\): the server's resident memory, \d+ MiB, is above 80 % of --max-server-memory 480 MiB and this worker holds the most \(\d+ MiB\); starting its replacement$/);
  t.ok(await until(async () => {
    const r = await get(srv.port, '/ok');
    if (r.status !== 200) failed++;
    return r.body.split(' ')[1] !== holder && rssMb(srv.child.pid) < 384;
  }, 20000), 'a new worker serves, and the memory was given back');
  t.equal(failed, 0, 'no request failed');
  // Past the limit in one step: terminated at once.
  const r = await get(srv.port, '/buffer?mb=400');
  t.ok([200, 502].includes(r.status), `the request that passed it: ${r.status}`);
  t.ok(await until(() => records(srv).some((l) => l.reason === 'out-of-memory'), 5000), 'terminated');
  t.match(records(srv).find((l) => l.reason === 'out-of-memory')?.msg, /out-of-memory: the server's resident memory, \d+ MiB, is past --max-server-memory 480 MiB, and this worker holds the most \(\d+ MiB: V8 old generation \d+ MiB, outside the V8 heap \d+ MiB\); terminating the worker$/);
  t.ok(await until(async () => (await get(srv.port, '/ok').catch(() => null))?.status === 200, 10000), 'served after');
  srv.child.kill('SIGTERM');
});
