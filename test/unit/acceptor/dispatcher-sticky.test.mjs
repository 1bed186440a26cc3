// Dispatcher with --sticky: keys stay on their worker, new keys are spread, a request for a worker
// that cannot take it waits pinned to it (also when it was taken back from it), keys move only
// from a retiring or removed worker, and keys are learnt from responses. Stand-in worker handles
// and connections; the queues are driven directly. No threads.
import t from 'tap';
import path from 'node:path';
import { root } from '../../helpers.mjs';
import { standInExchange, standInWorker } from '../stand-ins.mjs';

const { Dispatcher } = await import(path.join(root, 'dist/lib/acceptor/dispatcher.js'));
const { ControlBlock, createControlBuffer } = await import(path.join(root, 'dist/lib/ring/control.js'));

const IDLE = 1;
const PARKED = 3;

/** A dispatcher with `n` idle stand-in workers; `written[slot]` records the request ids written to each. */
function setup(sticky, n = 3, threadConcurrency = 8) {
  const control = new ControlBlock(createControlBuffer(8));
  const d = new Dispatcher(control, { limitConcurrency: 1000, threadConcurrency, workerConnections: threadConcurrency, sticky });
  d.schedule = () => {}; // no pump turns: the test drives the queues itself
  const written = [];
  const workers = [];
  const handles = [];
  for (let slot = 0; slot < n; slot++) {
    control.setState(slot, IDLE);
    written.push([]);
    const { channel: h, handle } = standInWorker(slot, {
      requests: {
        write: (_type, _flags, _conn, id) => (written[slot].push(id), true),
        claimed: () => h.sent,
      },
    });
    d.workers.push(h);
    workers.push(h);
    handles.push(handle);
  }
  return { d, control, workers, handles, written };
}

let nextId = 1;
/** An exchange and the framed request that carries `cookie` (or none), from `peer`. */
function request(d, { cookie = null, target = '/', peer = '10.0.0.1' } = {}) {
  const head = `GET ${target} HTTP/1.1\r\nHost: x\r\n${cookie === null ? '' : `Cookie: ${cookie}\r\n`}\r\n`;
  const ex = standInExchange(nextId++, { peer: Buffer.alloc(0), trusted: false, socket: { remoteAddress: peer } });
  const buf = Buffer.from(head, 'latin1');
  d.submit(ex, { parts: [buf], size: buf.length, headEnd: buf.length, method: 'GET', target });
  return ex;
}

/** The worker answers `ex`: its response (one END frame) with `fields` in the head. (Stand-ins claim every frame at once.) */
function answer(d, h, ex, fields = '') {
  const payload = Buffer.from(`HTTP/1.1 200 OK\r\n${fields}Content-Length: 0\r\n\r\n`, 'latin1');
  d.responseSticky(h, 1 /* FL_END */, ex.id, payload);
}

t.test('ip: a key stays on its worker; new keys go round-robin', async (t) => {
  const { d, written } = setup({ kind: 'ip' });
  const a = [request(d, { peer: '10.0.0.1' }), request(d, { peer: '10.0.0.2' }), request(d, { peer: '10.0.0.3' })];
  t.same(a.map((ex) => ex.slot), [0, 1, 2], 'three new clients, three workers');
  const again = [request(d, { peer: '10.0.0.3' }), request(d, { peer: '10.0.0.1' }), request(d, { peer: '10.0.0.3' })];
  t.same(again.map((ex) => ex.slot), [2, 0, 2], 'each again on its own');
  t.same(written.map((w) => w.length), [2, 1, 3]);
});

t.test('a keyed request waits pinned to its worker while it cannot take it, then goes to it in order', async (t) => {
  const { d, control, workers, written } = setup({ kind: 'ip' }, 2, 1);
  const first = request(d);
  t.equal(first.slot, 0);
  const held = [request(d), request(d)];
  t.same(workers[0].pinned, held, 'full (--thread-concurrency 1): pinned, in order');
  t.same(written[1], [], 'not sent to the free worker');
  t.equal(d.waitingCount, 2, 'pinned requests count as waiting');
  answer(d, workers[0], first);
  t.same(written[0], [first.id, held[0].id], 'its answer frees a place: the first pinned one goes');
  control.setState(0, PARKED);
  answer(d, workers[0], held[0]);
  t.same(workers[0].pinned, [held[1]], 'parked: the next one stays pinned');
  control.setState(0, IDLE);
  d.flushPinned(workers[0]);
  t.same(written[0], [first.id, held[0].id, held[1].id]);
  t.equal(d.outstanding, 1);
});

t.test('requests taken back from a blocked worker come back to it', async (t) => {
  const { d, workers, written } = setup({ kind: 'ip' }, 2);
  const exs = [request(d), request(d), request(d)];
  t.same(written[0], exs.map((ex) => ex.id), 'all on worker 0');
  workers[0].revoking = true; // the dispatcher revoked the unstarted ones: worker 0 is blocked
  d.takeBack(workers[0], exs.slice(1));
  t.same(written[1], [], 'none went to the free worker');
  t.same(workers[0].pinned, exs.slice(1), 'they wait pinned to worker 0');
  workers[0].revoking = false;
  d.flushPinned(workers[0]);
  t.same(written[0], [exs[0].id, exs[1].id, exs[2].id, exs[1].id, exs[2].id], 'written to worker 0 again');
});

t.test('a retiring worker\'s keys and pinned requests move; a removed worker\'s too', async (t) => {
  const { d, workers, handles } = setup({ kind: 'ip' }, 3, 1);
  const a = request(d, { peer: 'a' });
  const pinned = request(d, { peer: 'a' });
  t.same(workers[0].pinned, [pinned]);
  workers[0].retiring = true;
  d.flushPinned(workers[0]);
  t.equal(pinned.slot, 1, 'the pinned request moved to the next worker');
  const later = request(d, { peer: 'a' });
  t.same(workers[1].pinned, [later], 'and the key with it: the next one waits on worker 1');
  const b = request(d, { peer: 'b' });
  t.equal(b.slot, 2);
  const bPinned = request(d, { peer: 'b' });
  d.remove(handles[2]);
  t.equal(bPinned.slot, -1, 'worker 2 removed: no worker can take its pinned request now (all full or retiring)');
  t.equal(d.waitingCount, 2, 'it waits in the shared queue (and one is still pinned to worker 1)');
  t.notOk(d.keys.has('b'), 'its keys are forgotten');
  t.equal(a.slot, 0);
});

t.test('cookie: the worker whose response sets the cookie gets the cookie\'s requests', async (t) => {
  const { d, workers } = setup({ kind: 'cookie', name: 'connect.sid' }, 3);
  const login = [request(d), request(d)];
  t.same(login.map((ex) => ex.slot), [0, 1], 'keyless requests are spread');
  answer(d, workers[1], login[1], 'Set-Cookie: connect.sid=s%3Aone.sig; Path=/; HttpOnly\r\n');
  answer(d, workers[0], login[0], 'Set-Cookie: other=1\r\n');
  for (let i = 0; i < 4; i++) t.equal(request(d, { cookie: 'a=1; connect.sid=s%3Aone.sig' }).slot, 1, `request ${i} with the cookie on worker 1`);
  const regen = request(d, { cookie: 'connect.sid=s%3Aone.sig' });
  answer(d, workers[1], regen, 'set-cookie: connect.sid=s%3Atwo.sig; Path=/\r\n');
  t.equal(request(d, { cookie: 'connect.sid=s%3Atwo.sig' }).slot, 1, 'a regenerated session stays on the worker that set it');
});

t.test('query: the sid handed out in a keyless request\'s JSON body ties the sid to that worker', async (t) => {
  const { d, workers } = setup({ kind: 'query', name: 'sid' }, 3);
  request(d, { target: '/socket.io/?EIO=4&transport=polling' });
  const hs = request(d, { target: '/socket.io/?EIO=4&transport=polling' });
  t.equal(hs.slot, 1);
  const payload = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n0{"sid":"abcDEF123","upgrades":["websocket"],"pingInterval":25000}', 'latin1');
  d.responseSticky(workers[1], 1, hs.id, payload);
  for (let i = 0; i < 4; i++) t.equal(request(d, { target: '/socket.io/?EIO=4&transport=polling&sid=abcDEF123' }).slot, 1);
});

t.test('off: no key is read and dispatch packs as before', async (t) => {
  const { d } = setup(null, 3);
  const exs = [request(d, { peer: 'a' }), request(d, { peer: 'b' }), request(d, { peer: 'c' })];
  t.same(exs.map((ex) => ex.key), [null, null, null]);
  t.equal(d.keys, null);
});
