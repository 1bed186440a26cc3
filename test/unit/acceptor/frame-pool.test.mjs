// The acceptor's frame pool (lib/acceptor/frame-pool.ts): a piece is used again only after the
// write that carried it called back without an error; small and oversized frames are not pooled;
// at most MAX_FREE_PIECES wait unused.
import t from 'tap';
import path from 'node:path';
import { root } from '../../helpers.mjs';

const { FramePool, FRAME_POOL_MIN, PIECE_BYTES, MAX_FREE_PIECES } = await import(path.join(root, 'dist/lib/acceptor/frame-pool.js'));

t.test('frames at or under FRAME_POOL_MIN, or over a piece, are plain Buffers', async (t) => {
  const pool = new FramePool();
  for (const len of [0, 100, FRAME_POOL_MIN, PIECE_BYTES + 1]) {
    const b = pool.take(len);
    t.equal(b.length, len);
    t.equal(pool.doneFor(b), null, `${len} bytes: no piece`);
  }
  t.equal(pool.created, 0);
});

t.test('a piece comes back only through its write callback, and not after an error', async (t) => {
  const pool = new FramePool();
  const a = pool.take(FRAME_POOL_MIN + 1);
  t.equal(a.length, FRAME_POOL_MIN + 1);
  const done = pool.doneFor(a);
  t.type(done, 'function');
  // Not given back yet: the next take gets other memory.
  const b = pool.take(PIECE_BYTES);
  t.not(b.buffer, a.buffer, 'a piece still being written is not handed out again');
  t.equal(pool.created, 2);
  done(null);
  t.equal(pool.idle, 1);
  const c = pool.take(FRAME_POOL_MIN + 1000);
  t.equal(c.buffer, a.buffer, 'the written piece is used again');
  t.equal(pool.created, 2);
  pool.doneFor(b)(new Error('EPIPE'));
  t.equal(pool.idle, 0, 'a piece whose write failed is left to the garbage collector');
  t.equal(pool.doneFor(Buffer.alloc(PIECE_BYTES)), null, 'memory the pool did not hand out has no callback');
});

t.test('at most MAX_FREE_PIECES wait unused', async (t) => {
  const pool = new FramePool();
  const taken = [];
  for (let i = 0; i < MAX_FREE_PIECES + 3; i++) taken.push(pool.take(PIECE_BYTES));
  for (const b of taken) pool.doneFor(b)();
  t.equal(pool.idle, MAX_FREE_PIECES);
});
