// The supervisor's sensors (lib/supervisor/sensors.ts): saturated and anyBlocked, when it adds
// elastic threads; waitingOnFullWorkers, when it warns about --thread-concurrency. Workers are
// described through a real control block (the states each worker would publish) and stand-in
// channels; the waiting queue is filled directly. No threads: every state combination is exact.
import t from 'tap';
import path from 'node:path';
import { root } from '../../helpers.mjs';
import { standInExchange, standInWorker } from '../stand-ins.mjs';

const { Dispatcher } = await import(path.join(root, 'dist/lib/acceptor/dispatcher.js'));
const sensors = await import(path.join(root, 'dist/lib/supervisor/sensors.js'));
const { ControlBlock, WorkerControl, createControlBuffer, epochNow } = await import(path.join(root, 'dist/lib/ring/control.js'));
const { WORKER_STATE_NAMES, W_F64_RUN_SINCE, wIndexF64 } = await import(path.join(root, 'dist/lib/ring/layout.js'));

const CAP = 4; // --thread-concurrency

/**
 * A dispatcher with one stand-in worker per spec: { state: 'idle' | 'parked' | 'running' |
 * 'draining', ranMs (running), outstanding, inflight (as the worker publishes it), retiring } and
 * `waiting` requests queued; its sensors read as properties.
 */
function setup(specs, waiting) {
  const sab = createControlBuffer(8);
  const control = new ControlBlock(sab);
  const d = new Dispatcher(control, { limitConcurrency: 1000, threadConcurrency: CAP, workerConnections: CAP });
  specs.forEach((spec, slot) => {
    const w = new WorkerControl(sab, slot);
    if (spec.state === 'running') {
      w.enter(100 + slot);
      control.f64[wIndexF64(slot, W_F64_RUN_SINCE)] = epochNow() - spec.ranMs;
    } else {
      w.setState(WORKER_STATE_NAMES.indexOf(spec.state)); // the state by its name
    }
    w.setInflight(spec.inflight ?? 0);
    const h = standInWorker(slot).channel;
    // Its outstanding count is its exchanges: as many as the spec says.
    for (let i = 0; i < (spec.outstanding ?? 1); i++) h.exchanges.set(slot * 100 + i, standInExchange(slot * 100 + i));
    h.retiring = spec.retiring ?? false;
    d.workers.push(h);
  });
  for (let i = 0; i < waiting; i++) d.waiting.push({});
  return {
    get saturated() { return sensors.saturated(d, control); },
    get anyBlocked() { return sensors.anyBlocked(d, control); },
    get waitingOnFullWorkers() { return sensors.waitingOnFullWorkers(d, control); },
  };
}

const parked = { state: 'parked' };
const longSync = { state: 'running', ranMs: 50 };
const shortSync = { state: 'running', ranMs: 5 };
const asyncFull = { state: 'idle', outstanding: CAP };
const between = { state: 'idle', outstanding: 1 };

t.test('nothing waits: never saturated', async (t) => {
  t.equal(setup([parked, parked], 0).saturated, false);
});

t.test('every worker parked or in a long synchronous handler, requests wait: saturated', async (t) => {
  t.equal(setup([parked, parked], 1).saturated, true, 'both parked');
  t.equal(setup([parked, longSync], 1).saturated, true, 'one parked, one running 50 ms');
  t.equal(setup([longSync], 3).saturated, true, 'running 50 ms');
});

t.test('only full of async requests: not saturated, whatever waits', async (t) => {
  t.equal(setup([asyncFull, asyncFull], 50).saturated, false, 'both at --thread-concurrency, idle between events');
  t.equal(setup([parked, asyncFull], 50).saturated, false, 'one parked, one merely full');
  t.equal(setup([{ state: 'running', ranMs: 1, outstanding: CAP }], 50).saturated, false, 'full, running a continuation for 1 ms');
});

t.test('a synchronous handler of a few ms is not blocked', async (t) => {
  t.equal(setup([shortSync, shortSync], 5).saturated, false, 'running 5 ms (a loaded machine, a CPU-bound handler)');
  t.equal(setup([shortSync, parked], 5).saturated, true, 'but a parked one beside it counts');
});

t.test('workers in between two requests take one each: saturated only when more wait', async (t) => {
  t.equal(setup([parked, between, between], 2).saturated, false, 'two waiting, two workers about to take one');
  t.equal(setup([parked, between, between], 3).saturated, true, 'three waiting');
});

t.test('retiring and draining workers count neither way', async (t) => {
  t.equal(setup([parked, { ...asyncFull, retiring: true }], 1).saturated, true, 'a full retiring worker does not stop it');
  t.equal(setup([parked, { state: 'draining', outstanding: CAP }], 1).saturated, true, 'nor a draining one');
  t.equal(setup([{ ...parked, retiring: true }], 1).saturated, false, 'a retiring parked worker alone is not a reason');
});

t.test('anyBlocked: some worker parked or in a long synchronous handler', async (t) => {
  t.equal(setup([between, asyncFull], 0).anyBlocked, false);
  t.equal(setup([between, shortSync], 0).anyBlocked, false);
  t.equal(setup([between, parked], 0).anyBlocked, true);
  t.equal(setup([longSync], 0).anyBlocked, true);
});

t.test('waitingOnFullWorkers: requests wait and every worker taking work holds --thread-concurrency, its loop free', async (t) => {
  const full = { state: 'idle', outstanding: CAP, inflight: CAP };
  t.equal(setup([full, full], 0).waitingOnFullWorkers, false, 'nothing waits');
  t.equal(setup([full, full], 1).waitingOnFullWorkers, true, 'both full, one waits');
  t.equal(setup([full, between], 1).waitingOnFullWorkers, false, 'one has room');
  t.equal(setup([full, { state: 'running', ranMs: 1, outstanding: CAP, inflight: CAP }], 1).waitingOnFullWorkers, false, 'one runs a handler');
  t.equal(setup([full, { state: 'idle', outstanding: CAP, inflight: 1 }], 1).waitingOnFullWorkers, false, 'one has requests it has not read');
  t.equal(setup([full, { ...between, retiring: true }], 1).waitingOnFullWorkers, true, 'a retiring worker does not count');
});
