// RingWriter.unreadIds(): the request ids of frames published and not yet consumed, which the
// supervisor sends to another worker when this one dies. Inline and spilled frames, across the
// wrap-around, after partial reads.
import t from 'tap';
import { MessageChannel } from 'node:worker_threads';
import path from 'node:path';
import { root } from '../../helpers.mjs';

const { createRingBuffer, RingReader, RingWriter } = await import(path.join(root, 'dist/lib/ring/ring.js'));

t.test('unread ids follow the consumer', async (t) => {
  const sab = createRingBuffer(256);
  const ch = new MessageChannel();
  t.teardown(() => { ch.port1.close(); ch.port2.close(); });
  const w = new RingWriter(sab, ch.port1);
  const r = new RingReader(sab, ch.port2);
  t.same(w.unreadIds(), [], 'empty ring');
  const sink = () => {};
  let next = 1;
  for (let round = 0; round < 20; round++) {
    // Two inline frames of odd sizes and one spilled (> capacity / 2), then the consumer reads one.
    t.ok(w.write1(2, 0, 7, next++, Buffer.alloc(13 + round)));
    t.ok(w.write1(2, 0, 7, next++, Buffer.alloc(200)));
    t.ok(w.write1(2, 0, 7, next++, Buffer.alloc(5)));
    const before = w.unreadIds();
    t.same(before.slice(-3), [next - 3, next - 2, next - 1], `round ${round}: the three just written`);
    r.read(sink, 1);
    t.same(w.unreadIds(), before.slice(1), 'one fewer after one read');
    r.read(sink);
    t.same(w.unreadIds(), [], 'none after reading all');
  }
});
