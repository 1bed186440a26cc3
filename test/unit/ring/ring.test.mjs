// The SPSC frame ring: wrap-around, full ring, frames larger than the ring (spill path), ids of
// many producers, and a real cross-thread run with the Atomics doorbell.
import t from 'tap';
import { MessageChannel, Worker } from 'node:worker_threads';
import { root } from '../../helpers.mjs';
import path from 'node:path';

const { createRingBuffer, RingReader, RingWriter, ringDoorbell, ring } = await import(path.join(root, 'dist/lib/ring/ring.js'));
const L = await import(path.join(root, 'dist/lib/ring/layout.js'));

function pair(capacity = 256) {
  const sab = createRingBuffer(capacity);
  const ch = new MessageChannel();
  t.teardown(() => { ch.port1.close(); ch.port2.close(); });
  return { sab, w: new RingWriter(sab, ch.port1), r: new RingReader(sab, ch.port2) };
}

function bytes(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function readAll(r) {
  const got = [];
  r.read((type, flags, connId, reqId, payload) => got.push({ type, flags, connId, reqId, payload }));
  return got;
}

t.test('a frame round-trips with its header fields', async (t) => {
  const { w, r } = pair();
  t.ok(r.empty());
  t.ok(w.write1(L.T_REQUEST, 3, 0xfffffffe, 42, Buffer.from('hello')));
  t.notOk(r.empty());
  const got = readAll(r);
  t.equal(got.length, 1);
  t.same({ ...got[0], payload: got[0].payload.toString() }, { type: L.T_REQUEST, flags: 3, connId: 0xfffffffe, reqId: 42, payload: 'hello' });
  t.ok(r.empty());
});

t.test('payload given in several parts is concatenated', async (t) => {
  const { w, r } = pair();
  t.ok(w.write(L.T_REQUEST, 0, 1, 2, [Buffer.from('ab'), Buffer.from(''), Buffer.from('cde')], 5));
  t.equal(readAll(r)[0].payload.toString(), 'abcde');
});

t.test('wrap-around: payloads that straddle the end of the data area come out intact', async (t) => {
  const { w, r } = pair(256);
  let seed = 0;
  for (let round = 0; round < 200; round++) {
    const n = 1 + ((round * 37) % 100); // sizes 1..100 walk the tail around the 256-byte ring
    const payload = bytes(n, seed++);
    t.ok(w.write1(L.T_RESPONSE, 0, round, round + 1, payload), `write ${round}`);
    const got = readAll(r);
    if (got.length !== 1 || !got[0].payload.equals(payload) || got[0].reqId !== round + 1) {
      t.fail(`round ${round}: payload corrupted`);
      return;
    }
  }
  t.pass('200 frames crossed the wrap point intact');
});

t.test('full ring: write refuses without writing, and succeeds after the reader frees space', async (t) => {
  const { w, r } = pair(256);
  const payload = bytes(48, 1); // 16 + 48 = 64 bytes per frame: four fill the ring
  let n = 0;
  while (w.write1(L.T_REQUEST, 0, 0, n + 1, payload)) n++;
  t.equal(n, 4, 'four 64-byte frames fill a 256-byte ring');
  t.equal(w.used, 256);
  const first = [];
  t.equal(r.read((...a) => first.push(a[3]), 1), 1, 'read one frame');
  t.same(first, [1]);
  t.ok(w.write1(L.T_REQUEST, 0, 0, 99, payload), 'space freed by the reader is reused');
  const rest = [];
  r.read((...a) => rest.push(a[3]));
  t.same(rest, [2, 3, 4, 99], 'order preserved across the full condition');
});

t.test('a frame larger than the ring goes through the spill path, in order', async (t) => {
  const { w, r } = pair(256);
  const big = bytes(100_000, 7);
  t.ok(w.write1(L.T_REQUEST, 0, 5, 1, Buffer.from('before')));
  t.ok(w.write1(L.T_REQUEST, 1, 5, 2, big));
  t.ok(w.write1(L.T_REQUEST, 0, 5, 3, Buffer.from('after')));
  const got = readAll(r);
  t.same(got.map((g) => g.reqId), [1, 2, 3]);
  t.equal(got[1].type, L.T_REQUEST, 'the real type is restored');
  t.equal(got[1].flags, 1);
  t.ok(got[1].payload.equals(big), 'spilled payload byte-exact');
  t.equal(got[2].payload.toString(), 'after');
});

t.test('frames above half the capacity spill; a spilled frame needs only a header of ring space', async (t) => {
  const { w, r } = pair(256);
  t.equal(w.frameBytes(200), 16);
  t.equal(w.frameBytes(10), 32);
  // 128 + 112 = 240 bytes used, leaving exactly 16 free
  t.ok(w.write1(L.T_REQUEST, 0, 0, 1, bytes(112, 0)));
  t.ok(w.write1(L.T_REQUEST, 0, 0, 2, bytes(96, 0)));
  t.equal(w.used, 240);
  t.ok(w.write1(L.T_REQUEST, 0, 0, 3, bytes(300, 3)), 'spilled frame fits in the last 16 bytes');
  t.notOk(w.write1(L.T_REQUEST, 0, 0, 4, bytes(300, 3)), 'no room even for a marker');
  const got = readAll(r);
  t.same(got.map((g) => g.reqId), [1, 2, 3]);
  t.ok(got[2].payload.equals(bytes(300, 3)));
});

t.test('ids of many producers survive: full 32-bit connection and request ids', async (t) => {
  const { w, r } = pair(4096);
  const ids = [];
  for (let i = 0; i < 1000; i++) ids.push([(i * 2654435761) >>> 0, (0xffffffff - i * 7919) >>> 0]);
  let next = 0;
  const got = [];
  while (next < ids.length) {
    while (next < ids.length && w.write1(L.T_RESPONSE, next & 7, ids[next][0], ids[next][1], Buffer.from(String(next)))) next++;
    r.read((type, flags, c, q, p) => got.push([c, q, flags, Number(p.toString())]));
  }
  r.read((type, flags, c, q, p) => got.push([c, q, flags, Number(p.toString())]));
  t.equal(got.length, 1000);
  t.ok(got.every((g, i) => g[0] === ids[i][0] && g[1] === ids[i][1] && g[2] === (i & 7) && g[3] === i), 'every id pair intact and in order');
});

t.test('capacity must be a power of two', async (t) => {
  t.throws(() => createRingBuffer(1000), /power of two/);
  t.throws(() => createRingBuffer(128), /power of two/);
});

t.test('cross-thread: a worker produces 20,000 frames through a 1 KiB ring with doorbell wake-ups', { timeout: 20000 }, async (t) => {
  const capacity = 1024;
  const sab = createRingBuffer(capacity);
  const back = createRingBuffer(capacity); // the worker sleeps on this ring's doorbell when full
  const ch = new MessageChannel();
  const count = 20000;
  const src = `
    const { workerData } = require('node:worker_threads');
    (async () => {
      const { RingWriter } = await import(workerData.ringUrl);
      const w = new RingWriter(workerData.sab, workerData.port);
      for (let i = 0; i < workerData.count; i++) {
        const n = i % 97 === 0 ? 3000 : (i % 50); // some frames spill
        const p = Buffer.alloc(n, i & 0xff);
        while (!w.write1(2, 0, i, (i * 7) >>> 0, p)) w.waitForSpace(50);
        const i32 = new Int32Array(workerData.sab, 0, 32);
        if (Atomics.load(i32, 17)) { Atomics.add(i32, 18, 1); Atomics.notify(i32, 18); }
      }
    })();
  `;
  const worker = new Worker(src, {
    eval: true,
    workerData: { sab, port: ch.port1, count, ringUrl: 'file://' + path.join(root, 'dist/lib/ring/ring.js') },
    transferList: [ch.port1],
  });
  t.teardown(() => worker.terminate());
  const r = new RingReader(sab, ch.port2);
  let seen = 0;
  let bad = 0;
  const sink = (type, flags, connId, reqId, payload) => {
    const i = seen++;
    const n = i % 97 === 0 ? 3000 : (i % 50);
    if (connId !== i || reqId !== ((i * 7) >>> 0) || payload.length !== n || (n > 0 && payload[n - 1] !== (i & 0xff))) bad++;
  };
  const i32 = new Int32Array(sab, 0, 32);
  while (seen < count) {
    if (r.read(sink) === 0) {
      Atomics.store(i32, L.R_C_SLEEP, 1);
      const bell = Atomics.load(i32, L.R_C_BELL);
      if (r.empty()) {
        const res = Atomics.waitAsync(i32, L.R_C_BELL, bell, 1000);
        if (res.async) await res.value;
      }
      Atomics.store(i32, L.R_C_SLEEP, 0);
    }
  }
  t.equal(seen, count);
  t.equal(bad, 0, 'every frame intact, in order, with its ids');
  void back; void ring; void ringDoorbell;
});

t.test('transfer mode: frames above transferMin cross on the spill port, in order, and their buffers are reused once given back', async (t) => {
  const sab = createRingBuffer(1 << 16);
  const ch = new MessageChannel();
  t.teardown(() => { ch.port1.close(); ch.port2.close(); });
  const w = new RingWriter(sab, ch.port1, { transferMin: 1024 });
  const adopted = [];
  const memory = { take: (len) => Buffer.allocUnsafe(len), adopt: (payload, giveBack) => adopted.push({ payload, giveBack }) };
  const r = new RingReader(sab, ch.port2, memory);
  const sizes = [100, 5000, 2000, 1024, 1025, L.TRANSFER_PIECE, L.TRANSFER_PIECE + 1];
  for (let i = 0; i < sizes.length; i++) t.ok(w.write1(L.T_RESPONSE, 0, i, i, bytes(sizes[i], i)), `frame ${i} (${sizes[i]} bytes) written`);
  const got = readAll(r);
  t.same(got.map((f) => f.connId), sizes.map((_, i) => i), 'in order');
  for (let i = 0; i < sizes.length; i++) t.same(got[i].payload, bytes(sizes[i], i), `frame ${i} intact`);
  t.same(adopted.map((a) => a.payload.length), [5000, 2000, 1025, L.TRANSFER_PIECE], 'each transferred frame up to a piece is adopted; the inline ones and the oversized one are not');
  t.equal(w.transfersAllocated, 4);

  // Given back: the next transferred frames reuse those buffers, and allocate none.
  for (const a of adopted) a.giveBack();
  // giveBack transferred the buffer: the acceptor's view of it is empty now.
  t.equal(adopted[0].payload.length, 0, 'a given-back buffer is detached on the reader side');
  await new Promise((resolve) => setImmediate(resolve));
  adopted.length = 0;
  for (let i = 0; i < 4; i++) t.ok(w.write1(L.T_RESPONSE, 0, 10 + i, 10 + i, bytes(3000, 10 + i)));
  const again = readAll(r);
  for (let i = 0; i < 4; i++) t.same(again[i].payload, bytes(3000, 10 + i), `reused buffer ${i} carries its new frame intact`);
  t.equal(w.transfersAllocated, 4, 'no new buffer while given-back ones wait');
  t.ok(w.write1(L.T_RESPONSE, 0, 20, 20, bytes(3000, 20)));
  t.equal(w.transfersAllocated, 5, 'none given back: a new one');
  readAll(r);
});

t.test('a writer keeps at most MAX_SPARE_TRANSFERS given-back buffers', async (t) => {
  const sab = createRingBuffer(1 << 16);
  const ch = new MessageChannel();
  t.teardown(() => { ch.port1.close(); ch.port2.close(); });
  const w = new RingWriter(sab, ch.port1, { transferMin: 1024 });
  const { MAX_SPARE_TRANSFERS } = await import(path.join(root, 'dist/lib/ring/ring.js'));
  const backs = [];
  const r = new RingReader(sab, ch.port2, { take: (len) => Buffer.allocUnsafe(len), adopt: (_p, giveBack) => backs.push(giveBack) });
  const n = MAX_SPARE_TRANSFERS + 3;
  for (let i = 0; i < n; i++) w.write1(L.T_RESPONSE, 0, i, i, bytes(2000, i));
  readAll(r);
  for (const b of backs) b();
  for (let i = 0; i < n; i++) w.write1(L.T_RESPONSE, 0, i, i, bytes(2000, i));
  t.equal(w.transfersAllocated, n + 3, `${MAX_SPARE_TRANSFERS} reused, the rest new`);
  readAll(r);
});

t.test('transfer() moves only a payload that is the whole of its buffer', async (t) => {
  const { sab, w, r } = pair(1 << 12);
  const whole = Buffer.from(new ArrayBuffer(5000));
  bytes(5000, 7).copy(whole);
  const part = Buffer.from(new ArrayBuffer(6000)).subarray(1000);
  t.equal(w.transfer(L.T_DATA, 0, 1, 1, part), null, 'a part of a buffer is not moved');
  t.equal(part.length, 5000, 'and stays usable here');
  t.equal(w.transfer(L.T_DATA, 0, 2, 2, whole), true);
  t.equal(whole.length, 0, 'the moved buffer is detached here');
  const got = readAll(r);
  t.equal(got.length, 1);
  t.same(got[0].payload, bytes(5000, 7), 'it arrives intact');
  void sab;
});
