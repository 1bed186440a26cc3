// Dispatcher: requests of a connection that is gone (it ended after a closing response, or
// closed) are dropped before they reach a worker, and the count of requests owed stays right; stream
// control frames that find the ring full wait, in order, for the pump's next turn.
// Stand-in worker channels and connections; the queues are filled directly. No threads.
import t from 'tap';
import path from 'node:path';
import { root } from '../../helpers.mjs';
import { standInExchange, standInWorker } from '../stand-ins.mjs';

const { Dispatcher } = await import(path.join(root, 'dist/lib/acceptor/dispatcher.js'));
const { ControlBlock, createControlBuffer } = await import(path.join(root, 'dist/lib/ring/control.js'));

/** A dispatcher with one idle stand-in worker whose request ring records the ids written to it. */
function setup() {
  const control = new ControlBlock(createControlBuffer(8));
  const d = new Dispatcher(control, { limitConcurrency: 1000, threadConcurrency: 8, workerConnections: 8 });
  d.schedule = () => {}; // no pump turns: the test drives the queues itself
  const written = [];
  const h = standInWorker(0, { requests: { write: (_type, _flags, _conn, id) => (written.push(id), true) } }).channel;
  d.workers.push(h);
  return { d, h, written };
}

const exchange = (id, gone) => standInExchange(id, { gone });

t.test('a request waiting for a worker is dropped when its connection is gone', async (t) => {
  const { d, h, written } = setup();
  const dead = exchange(1, true);
  const live = exchange(2, false);
  d.waiting.push(dead);
  d.waiting.push(live);
  d.outstanding = 2;
  d.flushWaiting();
  t.same(written, [2], 'only the live connection\'s request is sent');
  t.equal(d.waitingCount, 0);
  t.equal(d.outstanding, 1, 'the dropped one is no longer owed');
  t.equal(h.outstanding, 1);
});

t.test('a request still in a worker\'s overflow is dropped when its connection is gone', async (t) => {
  const { d, h, written } = setup();
  const dead = exchange(1, true);
  const live = exchange(2, false);
  for (const ex of [dead, live]) {
    ex.worker = h;
    h.exchanges.set(ex.id, ex);
    h.overflow.push(ex);
  }
  d.outstanding = 2;
  d.retryOverflow(h);
  t.same(written, [2], 'only the live connection\'s request reaches the ring');
  t.same(h.overflow, [], 'the overflow is empty');
  t.same([...h.exchanges.keys()], [2], 'the worker no longer carries the dropped one');
  t.equal(h.outstanding, 1);
  t.equal(d.outstanding, 1, 'the dropped one is no longer owed');
});

t.test('stream control frames wait for a full ring in order, each with its own value, and go at the next turn', async (t) => {
  const { d, h } = setup();
  const { T_CREDIT, T_CANCEL } = await import(path.join(root, 'dist/lib/ring/layout.js'));
  let full = true;
  const sent = [];
  h.requests.write1 = (type, _flags, _conn, id, payload) => {
    if (full) return false;
    sent.push([type, id, payload.length === 4 ? payload.readUInt32LE(0) : null]); // read at write time: the ring copies
    return true;
  };
  let scheduled = 0;
  d.schedule = () => scheduled++;
  const ex = exchange(7, false);
  ex.worker = h;
  h.exchanges.set(7, ex);
  d.streamControl(ex, T_CREDIT, 5);
  d.streamControl(ex, T_CREDIT, 7);
  d.streamControl(ex, T_CANCEL, 0);
  t.same(sent, [], 'nothing fits yet');
  t.ok(scheduled > 0, 'a pump turn is asked for');
  t.same(ex.backlog.filter((x) => typeof x !== 'number').map((b) => b.readUInt32LE(0)), [5, 7, 0], 'each queued frame kept its own value');
  d.retryBacklogs();
  t.same(sent, [], 'still full: nothing sent, nothing lost');
  scheduled = 0;
  d.sleep();
  t.equal(scheduled, 1, 'the pump does not sleep while frames wait for room');
  full = false;
  d.retryBacklogs();
  t.same(sent, [[T_CREDIT, 7, 5], [T_CREDIT, 7, 7], [T_CANCEL, 7, 0]], 'sent in order once the ring has room');
  t.equal(ex.backlog, null);
  t.equal(d.backlogged.size, 0);
  d.streamControl(ex, T_CREDIT, 9);
  t.same(sent.at(-1), [T_CREDIT, 7, 9], 'with room, a frame goes at once');
});
