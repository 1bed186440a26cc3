// Request claims (lib/ring/layout.ts, "Claims"): a worker claims each T_REQUEST frame before it
// runs it; the acceptor may take back the frames not claimed yet. Every frame is either run by
// the worker or taken back, never both, and after a revoke the ring goes on as before.
import t from 'tap';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { root } from '../../helpers.mjs';

const { createRingBuffer, RingReader, RingWriter } = await import(path.join(root, 'dist/lib/ring/ring.js'));
const { CLAIM_MASK } = await import(path.join(root, 'dist/lib/ring/layout.js'));

const T_REQUEST = 2;

function pair() {
  const sab = createRingBuffer(1024);
  return { sab, w: new RingWriter(sab, null), r: new RingReader(sab, null) };
}

/** Read every frame; returns the request ids the reader claimed (ran) and those it skipped. */
function drain(r) {
  const ran = [];
  const skipped = [];
  r.read((type, _f, _c, reqId) => {
    if (type !== T_REQUEST) return;
    (r.claim() ? ran : skipped).push(reqId);
  });
  return { ran, skipped };
}

t.test('claimed frames are not revoked; unclaimed ones are, once, and the ring goes on', async (t) => {
  const { w, r } = pair();
  let sent = 0;
  const send = (id) => { t.ok(w.write1(T_REQUEST, 0, 1, id, Buffer.alloc(8))); sent++; };
  t.equal(w.revoke(sent), -1, 'nothing to take back from an empty ring');
  send(1);
  send(2);
  t.same(r.read((type, _f, _c, id) => t.ok(r.claim(), `frame ${id} claimed`), 1), 1);
  t.equal(w.claimed(), 1, 'one claimed');
  send(3);
  // The worker is now "blocked" in frame 1: take back 2 and 3.
  const from = w.revoke(sent);
  t.equal(from, 1, 'revoked from the claim count');
  t.ok(w.claimed() < 0, 'a revoke is pending');
  t.equal(w.revoke(sent), -1, 'no second revoke while one is pending');
  const d = drain(r);
  t.same(d, { ran: [], skipped: [2, 3] }, 'the worker skips what was taken back');
  t.equal(w.claimed(), 3, 'the last skipped frame ends the revoke');
  send(4);
  t.same(drain(r), { ran: [4], skipped: [] }, 'later frames run as before');
  t.equal(w.revoke(sent), -1, 'all claimed: nothing to take back');
});

t.test('counts wrap at 2^31', async (t) => {
  const { sab, w } = pair();
  // Start both sides just below the wrap, as after 2^31 requests.
  const ctl = new Int32Array(sab, 0, 32);
  ctl[19] = CLAIM_MASK - 1;
  const r = new RingReader(sab, null);
  let sent = CLAIM_MASK - 1;
  for (let id = 1; id <= 4; id++) {
    w.write1(T_REQUEST, 0, 1, id, Buffer.alloc(4));
    sent = (sent + 1) & CLAIM_MASK;
  }
  r.read(() => t.ok(r.claim()), 1);
  t.equal(w.claimed(), CLAIM_MASK, 'claimed up to the top count');
  t.equal(w.revoke(sent), CLAIM_MASK, 'revoke from there');
  t.same(drain(r), { ran: [], skipped: [2, 3, 4] });
  t.equal(w.claimed(), sent, 'the count went round to 2');
});

t.test('a worker claiming while the acceptor revokes: every frame exactly once', { timeout: 60000 }, async (t) => {
  const sab = createRingBuffer(1 << 16);
  const w = new RingWriter(sab, null);
  const N = 20000;
  const done = new Int32Array(new SharedArrayBuffer(8));
  // The consumer claims frames as they come and reports the ids it ran.
  const worker = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads');
    import(workerData.ring).then(({ RingReader }) => {
      const r = new RingReader(workerData.sab, null);
      const ran = [];
      const done = new Int32Array(workerData.done);
      while (Atomics.load(done, 0) === 0 || !r.empty()) {
        r.read((type, f, c, id) => { if (r.claim()) ran.push(id); });
      }
      parentPort.postMessage(ran);
    });
  `, { eval: true, workerData: { sab, done: done.buffer, ring: path.join(root, 'dist/lib/ring/ring.js') } });
  const ranP = new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
  let sent = 0;
  const seqOf = new Map(); // frame number -> id
  const revoked = [];
  for (let id = 1; id <= N; id++) {
    while (!w.write1(T_REQUEST, 0, 1, id, Buffer.alloc(16))) await new Promise((r) => setImmediate(r));
    seqOf.set(sent, id);
    sent = (sent + 1) & CLAIM_MASK;
    if (id % 7 === 0) {
      // Wait for a pending revoke to end before the next (as the dispatcher sends nothing meanwhile).
      while (w.claimed() < 0) await new Promise((r) => setImmediate(r));
      const from = w.revoke(sent);
      if (from >= 0) for (let s = from; s !== sent; s = (s + 1) & CLAIM_MASK) revoked.push(seqOf.get(s));
    }
  }
  Atomics.store(done, 0, 1);
  const ran = await ranP;
  await worker.terminate();
  const seen = new Set([...ran, ...revoked]);
  t.equal(ran.length + revoked.length, N, `every frame once (${ran.length} ran, ${revoked.length} taken back)`);
  t.equal(seen.size, N, 'no frame both ran and was taken back');
});
