// greenserve/broadcast: what one thread publishes on a channel every other thread that opened it
// receives (not the publisher), in order; other names and closed channels get nothing.
import t from 'tap';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { root } from '../helpers.mjs';

const modUrl = new URL(`file://${path.join(root, 'dist/lib/broadcast.js')}`).href;
const { channel } = await import(modUrl);

/** A worker thread that opens channel `name`, publishes each of `messages`, and exits after a moment. */
function publisher(name, messages) {
  const code = `import(${JSON.stringify(modUrl)}).then(({ channel }) => {
    const c = channel(${JSON.stringify(name)});
    for (const m of ${JSON.stringify(messages)}) c.publish(m);
    setTimeout(() => c.close(), 200);
  });`;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true });
    w.on('error', reject);
    w.on('exit', resolve);
  });
}

t.test('messages from another thread reach every subscriber of that name, in order', { timeout: 10000 }, async (t) => {
  const a = channel('news');
  const b = channel('news');
  const other = channel('sports');
  t.teardown(() => [a, b, other].forEach((c) => c.close()));
  const got = { a: [], b: [], other: [] };
  a.subscribe((m) => got.a.push(m));
  const stopB = b.subscribe((m) => { got.b.push(m); if (got.b.length === 2) stopB(); });
  other.subscribe((m) => got.other.push(m));
  await publisher('news', [{ n: 1 }, { n: 2 }, { n: 3, list: [1, 2] }]);
  await new Promise((r) => setTimeout(r, 100));
  t.same(got.a, [{ n: 1 }, { n: 2 }, { n: 3, list: [1, 2] }], 'in order, cloned');
  t.same(got.b, [{ n: 1 }, { n: 2 }], 'an unsubscribed listener stops');
  t.same(got.other, [], 'another name gets nothing');
});

t.test('the publisher does not get its own messages; a closed channel refuses to publish', { timeout: 10000 }, async (t) => {
  const c = channel('self');
  const got = [];
  c.subscribe((m) => got.push(m));
  c.publish('mine');
  await new Promise((r) => setTimeout(r, 50));
  t.same(got, []);
  c.close();
  t.throws(() => c.publish('late'), /closed/);
  t.throws(() => channel(''), TypeError);
});
