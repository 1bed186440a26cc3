// The supervisor's loop (lib/supervisor/arbiter.ts) against a stand-in pool and dispatcher: what it
// asks of them (spawn, add, retire, take, fail, remove, stop a worker) as workers become ready,
// run past --timeout, die with requests owed, reach --max-requests, and as the code is reloaded.
// Workers are described through a real control block (what each would publish) and handles whose
// fate (the arbiter's part) the arbiter makes itself; the stand-ins only record. No threads.
import t from 'tap';
import path from 'node:path';
import { root } from '../../helpers.mjs';

const { Arbiter } = await import(path.join(root, 'dist/lib/supervisor/arbiter.js'));
const { ControlBlock, WorkerControl, createControlBuffer, epochNow } = await import(path.join(root, 'dist/lib/ring/control.js'));
const { W_F64_RUN_SINCE, wIndexF64 } = await import(path.join(root, 'dist/lib/ring/layout.js'));

const IDLE = 1;

/** One turn of the arbiter's loop (it runs on setImmediate). */
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** A stand-in for one worker's channel as the dispatcher would show it. */
function channelOf(slot, exchanges) {
  return {
    slot,
    retiring: false,
    given: 0,
    unsent: 0,
    get outstanding() { return exchanges.size; },
    get owed() { return exchanges.size; },
    exchange: (id) => exchanges.get(id),
    inFlight: () => exchanges.values(),
    snapshot: () => new Map(exchanges),
  };
}

/**
 * An arbiter for `threads` workers over a stand-in pool and dispatcher. `calls` records what it
 * asked of them, in order; `workers` are the handles the pool made.
 */
function setup({ threads = 2, timeoutMs = 0, maxRequests = 0 } = {}) {
  const sab = createControlBuffer(16);
  const control = new ControlBlock(sab);
  const calls = [];
  const workers = [];
  const logs = [];
  const exchangesOf = new Map();
  const pool = {
    control,
    isStopping: false,
    live: () => workers.filter((h) => !h.life.dead),
    spawn(cohort, fate, elastic = false) {
      const slot = workers.length;
      const exchanges = new Map();
      exchangesOf.set(slot, exchanges);
      control.setState(slot, IDLE);
      const h = {
        slot,
        threadId: 100 + slot,
        cohort,
        elastic,
        maxRequests,
        thread: { terminate: async () => calls.push(['terminate', slot]) },
        api: { drain: async () => calls.push(['drain', slot]) },
        channel: channelOf(slot, exchanges),
        life: { ready: false, dead: false, stopping: false, hooks: [], interface: 'node', detail: '', closing: null },
        fate,
      };
      workers.push(h);
      calls.push(['spawn', slot, cohort]);
      return h;
    },
    async start(fate) {
      for (let i = 0; i < threads; i++) this.spawn(0, fate());
    },
    retire(h) {
      h.life.stopping = true;
      calls.push(['stop', h.slot]);
    },
  };
  const dispatcher = {
    waitingCount: 0,
    queued: 0,
    serving: [],
    completed: 0,
    submitted: 0,
    add: (h) => calls.push(['add', h.slot]),
    retire: (h) => {
      h.channel.retiring = true;
      calls.push(['retire', h.slot]);
    },
    take: (ex) => calls.push(['take', ex.id]),
    fail: (ex, status) => calls.push(['fail', ex.id, status]),
    remove: (h) => {
      const owed = [...exchangesOf.get(h.slot).values()];
      exchangesOf.get(h.slot).clear();
      calls.push(['remove', h.slot]);
      return owed;
    },
    unpinRetiring: () => {},
  };
  const record = (level) => (fields, msg) => logs.push({ level, ...(typeof fields === 'object' ? fields : {}), msg: msg ?? fields });
  const log = { info: record('info'), warn: record('warn'), error: record('error'), debug: record('debug') };
  const arbiter = new Arbiter(
    { threads, timeoutMs, gracefulMs: 30_000, maxWorkerMemoryMb: 0, maxThreads: threads, workerConnections: 8 },
    pool, dispatcher, control, log, { shutdown: (graceful) => calls.push(['shutdown', graceful]) },
  );
  /** The pool says worker `h` is ready. */
  const ready = async (h) => {
    h.life.ready = true;
    arbiter.enqueue({ type: 'ready', handle: h });
    await turn();
  };
  const tick = async () => {
    arbiter.enqueue({ type: 'tick' });
    await turn();
  };
  const exchange = (slot, id, fields = {}) => {
    const ex = { id, method: 'GET', target: `/r${id}`, close: false, received: true, tunnel: false, streamed: false, rec: null, ...fields };
    exchangesOf.get(slot).set(id, ex);
    return ex;
  };
  const answer = (slot, id) => exchangesOf.get(slot).delete(id);
  t.teardown(() => arbiter.stop());
  return { arbiter, control, sab, calls, workers, logs, ready, tick, exchange, answer };
}

const named = (calls, name) => calls.filter((c) => c[0] === name);

t.test('it starts --threads workers and gives each to the dispatcher once ready', async (t) => {
  const { arbiter, calls, workers, ready } = setup({ threads: 2 });
  await arbiter.startWorkers();
  t.same(named(calls, 'spawn'), [['spawn', 0, 0], ['spawn', 1, 0]], 'two workers of generation 0');
  for (const h of workers) t.same([h.fate.recycle, h.fate.killReason, h.fate.retireBy], [null, null, 0], `worker ${h.slot}'s fate starts blank`);
  arbiter.start();
  for (const h of workers) await ready(h);
  t.same(named(calls, 'add'), [['add', 0], ['add', 1]], 'both take requests');
  t.same(named(calls, 'spawn').length, 2, 'and no more are started');
});

t.test('a worker that dies is replaced; the requests it had started are failed with 502', async (t) => {
  const { arbiter, calls, workers, logs, ready, tick, exchange } = setup({ threads: 1 });
  await arbiter.startWorkers();
  arbiter.start();
  await ready(workers[0]);
  const a = exchange(0, 7);
  const b = exchange(0, 8);
  workers[0].life.dead = true;
  arbiter.enqueue({ type: 'exited', handle: workers[0], reason: 'crashed', error: new Error('boom') });
  await turn();
  t.same(named(calls, 'remove'), [['remove', 0]], 'its exchanges are taken from the dispatcher');
  t.same(named(calls, 'fail'), [['fail', a.id, 502], ['fail', b.id, 502]], 'each owed one gets 502');
  const line = logs.find((l) => l.level === 'error' && l.reason === 'crashed');
  t.match(line.msg, /worker 0 crashed: 2 request\(s\) in flight get 502: GET \/r7 \(request 7\); GET \/r8 \(request 8\)/);
  await tick();
  t.same(named(calls, 'spawn').at(-1), ['spawn', 1, 0], 'a replacement starts');
});

t.test('a handler past --timeout: its request gets 504 and the worker takes nothing more', async (t) => {
  const { arbiter, sab, calls, workers, ready, tick, exchange, control } = setup({ threads: 1, timeoutMs: 50 });
  await arbiter.startWorkers();
  arbiter.start();
  const h = workers[0];
  await ready(h);
  exchange(0, 42);
  new WorkerControl(sab, 0).enter(42);
  control.f64[wIndexF64(0, W_F64_RUN_SINCE)] = epochNow() - 500;
  await tick();
  t.equal(h.fate.killReason, 'timeout', 'it is killed for the timeout');
  t.ok(h.channel.retiring, 'through the dispatcher: it is sent nothing more');
  const asked = calls.filter((c) => ['retire', 'take', 'fail'].includes(c[0]));
  t.same(asked, [['retire', 0], ['take', 42], ['fail', 42, 504]], 'its exchange is detached, then answered 504');
  await tick();
  t.same(named(calls, 'spawn').at(-1), ['spawn', 1, 0], 'a replacement starts at once');
});

t.test('--max-requests: the replacement starts first, then the old worker retires and is stopped once it owes nothing', async (t) => {
  const { arbiter, calls, workers, ready, tick, exchange, answer } = setup({ threads: 1, maxRequests: 10 });
  await arbiter.startWorkers();
  arbiter.start();
  const old = workers[0];
  await ready(old);
  old.channel.given = 9; // the dispatcher's count: 90 % of its share
  const ex = exchange(0, 5);
  await tick();
  t.equal(old.fate.recycle, 'max-requests');
  t.same(named(calls, 'spawn').at(-1), ['spawn', 1, 0], 'its replacement starts');
  t.notOk(old.channel.retiring, 'it serves until the replacement is ready');
  await ready(workers[1]);
  t.ok(old.channel.retiring, 'then it is told to take nothing more');
  t.ok(old.fate.retireBy > epochNow(), 'with a --graceful-timeout deadline');
  t.ok(calls.some((c) => c[0] === 'drain' && c[1] === 0), 'and asked to drain');
  t.same(named(calls, 'stop'), [], 'not stopped while it owes a response');
  answer(0, ex.id); // the dispatcher delivered its last response
  await tick();
  t.same(named(calls, 'stop'), [['stop', 0]], 'owing nothing, it is stopped');
});

t.test('reload: a new generation starts; the old workers retire once it is ready', async (t) => {
  const { arbiter, calls, workers, ready } = setup({ threads: 2 });
  await arbiter.startWorkers();
  arbiter.start();
  for (const h of workers) await ready(h);
  let done = false;
  arbiter.enqueue({ type: 'reload', done: { resolve: () => (done = true), reject: (err) => t.fail(err.message) } });
  await turn();
  t.same(workers.slice(0, 2).map((h) => h.fate.recycle), ['reload', 'reload'], 'the old ones are marked');
  t.same(named(calls, 'spawn').slice(2), [['spawn', 2, 1], ['spawn', 3, 1]], 'two workers of generation 1');
  await ready(workers[2]);
  t.notOk(done, 'not done with one of two ready');
  t.notOk(workers[0].channel.retiring);
  await ready(workers[3]);
  t.ok(done, 'done once the whole generation is ready');
  t.same(named(calls, 'retire').map((c) => c[1]), [0, 1], 'the old ones are told to take nothing more');
  await turn();
  t.same(named(calls, 'stop').map((c) => c[1]).sort(), [0, 1], 'and, owing nothing, are stopped');
});

t.test('stop(): the dispatcher sends no worker anything more, and nothing new starts', async (t) => {
  const { arbiter, calls, workers, ready } = setup({ threads: 2 });
  await arbiter.startWorkers();
  arbiter.start();
  for (const h of workers) await ready(h);
  arbiter.stop();
  t.same(named(calls, 'retire').map((c) => c[1]), [0, 1]);
  workers[0].life.dead = true;
  arbiter.enqueue({ type: 'exited', handle: workers[0], reason: 'stopped', error: null });
  await turn();
  t.same(named(calls, 'spawn').length, 2, 'no replacement while stopping');
});
