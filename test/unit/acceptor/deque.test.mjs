// The wait queue's deque (lib/acceptor/deque.ts): FIFO order, unshift to the front, removal, and
// growth across the wrap-around point, checked against an Array doing the same (slowly).
import t from 'tap';
import { Deque } from '../../../dist/lib/acceptor/deque.js';

const drain = (q) => {
  const out = [];
  for (let x = q.shift(); x !== undefined; x = q.shift()) out.push(x);
  return out;
};

t.test('push / shift: first in, first out', async (t) => {
  const q = new Deque();
  t.equal(q.length, 0);
  t.equal(q.shift(), undefined);
  t.equal(q.peek(), undefined);
  for (let i = 0; i < 100; i++) q.push(i);
  t.equal(q.length, 100);
  t.equal(q.peek(), 0, 'peek leaves the front in place');
  t.same(drain(q), Array.from({ length: 100 }, (_, i) => i));
  t.equal(q.length, 0);
});

t.test('unshift puts items back in front, in the order they are unshifted in reverse', async (t) => {
  const q = new Deque();
  q.push('c');
  q.push('d');
  for (const x of ['b', 'a']) q.unshift(x); // takeBack: the taken-back requests, last first
  t.same(drain(q), ['a', 'b', 'c', 'd']);
});

t.test('remove takes an item out of the middle and keeps the order of the rest', async (t) => {
  const q = new Deque();
  for (const x of ['a', 'b', 'c', 'd']) q.push(x);
  t.equal(q.remove('c'), true);
  t.equal(q.remove('x'), false, 'an item not there');
  t.equal(q.length, 3);
  t.same(drain(q), ['a', 'b', 'd']);
});

t.test('matches an Array through growth and wrap-around (seeded random operations)', async (t) => {
  let seed = 12345;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const q = new Deque();
  const model = [];
  let next = 0;
  let mismatch = null;
  for (let step = 0; step < 20000 && mismatch === null; step++) {
    const op = rand(10);
    if (op < 4) {
      q.push(next);
      model.push(next++);
    } else if (op < 6) {
      q.unshift(next);
      model.unshift(next++);
    } else if (op < 9) {
      const a = q.shift();
      const b = model.shift();
      if (a !== b) mismatch = `step ${step}: shift gave ${a}, expected ${b}`;
    } else if (model.length > 0) {
      const x = model[rand(model.length)];
      q.remove(x);
      model.splice(model.indexOf(x), 1);
    }
    if (mismatch === null && (q.length !== model.length || q.peek() !== model[0])) mismatch = `step ${step}: length or front differ`;
  }
  t.equal(mismatch, null, 'every operation agreed');
  t.same(drain(q), model, 'and so does what is left');
  for (let i = 0; i < 5000; i++) q.push(i); // past the shrink threshold, then emptied
  t.equal(drain(q).length, 5000);
  q.push('again');
  t.same(drain(q), ['again'], 'usable after shrinking');
});
