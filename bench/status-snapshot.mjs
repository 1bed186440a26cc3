// The cost of one status dashboard snapshot on the acceptor (--status-bind): readWorkers over N
// worker handles, the board's snapshot, and JSON.stringify, as a tick or GET /status.json does it.
// Synthetic handles over a real control block, so 1,024 workers need no 1,024 threads. Half the
// workers run a request (control block), the others owe one (async). Prints the median of 7 runs.
//   node bench/status-snapshot.mjs [N ...]     (after npm run build)
import { StatusBoard } from '../dist/lib/acceptor/status.js';
import { readWorkers } from '../dist/lib/acceptor/status-workers.js';
import { ControlBlock, createControlBuffer, WorkerControl } from '../dist/lib/ring/control.js';
import { CONTROL_SLOTS } from '../dist/lib/ring/layout.js';

function handles(n, sab) {
  const out = new Array(CONTROL_SLOTS).fill(null);
  for (let slot = 0; slot < n; slot++) {
    const id = slot + 1;
    const ex = { id, method: 'GET', target: `/notes/${slot}?q=1`, rec: { start: performance.now() } };
    out[slot] = { slot, cohort: 0, elastic: false, retiring: false, recycle: null, outstanding: 1, exchanges: new Map([[id, ex]]) };
    const w = new WorkerControl(sab, slot);
    w.setState(1);
    if (slot % 2 === 0) w.enter(id);
    w.setHeapMb(9);
  }
  return out;
}

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
for (const n of sizes.length > 0 ? sizes : [16, 64, 256, 1024]) {
  const sab = createControlBuffer(CONTROL_SLOTS);
  const control = new ControlBlock(sab);
  const hs = handles(n, sab);
  const board = new StatusBoard(() => ({ app: 'bench', threads: n, maxThreads: n, connections: 100, inflight: n, queued: 0, workers: readWorkers(hs, control) }));
  for (let i = 0; i < 200; i++) JSON.stringify(board.snapshot()); // warm up
  const runs = [];
  let bytes = 0;
  for (let r = 0; r < 7; r++) {
    const iters = Math.max(20, Math.round(20000 / n));
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) bytes = JSON.stringify(board.snapshot()).length;
    runs.push(((performance.now() - t0) / iters) * 1000);
  }
  runs.sort((a, b) => a - b);
  console.log(`${String(n).padStart(5)} workers: ${runs[3].toFixed(1).padStart(7)} µs per snapshot (median of 7; min ${runs[0].toFixed(1)}), ${(bytes / 1024).toFixed(1)} KiB of JSON`);
  board.close();
}
