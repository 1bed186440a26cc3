// Large response frames are copied into pieces of the acceptor's frame pool, and the largest are
// transferred by their worker and given back to it; both are used again once a socket wrote them
// (lib/acceptor/frame-pool.ts, lib/ring/layout.ts TRANSFER_MIN). Clients that read in bursts,
// several at once, so that the acceptor's writes both finish at once and wait on full sockets,
// must still get every byte where it belongs: each 4 bytes of a fixture response name their offset.
import t from 'tap';
import http from 'node:http';
import path from 'node:path';
import { fixture, portOf, root, startServer } from '../helpers.mjs';
import { pattern } from '../fixtures/patterned.mjs';

const { framePool } = await import(path.join(root, 'dist/lib/acceptor/frame-pool.js'));

/** GET `path`, pausing 15 ms after every `burst` bytes; resolves the whole body. */
function slowGet(port, urlPath, burst) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: 20000 }, (res) => {
      const parts = [];
      let sinceRest = 0;
      res.on('data', (c) => {
        parts.push(c);
        sinceRest += c.length;
        if (sinceRest >= burst) {
          sinceRest = 0;
          res.pause();
          setTimeout(() => res.resume(), 15);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on('error', reject);
  });
}

t.test('streamed and one-piece big responses arrive intact while pieces are reused', { timeout: 60000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('patterned.mjs'), threads: 2 });
  const port = portOf(srv);
  const created = framePool.created;
  const givenBack = framePool.givenBack;
  const jobs = [
    { path: '/stream?pieces=64&size=65536&seed=1', bytes: 64 * 65536, seed: 1 },
    { path: '/stream?pieces=40&size=100000&seed=2', bytes: 40 * 100000, seed: 2 },
    { path: '/big?size=3000000&seed=3', bytes: 3000000, seed: 3 },
    { path: '/big?size=4194304&seed=4', bytes: 4194304, seed: 4 },
    // One frame of 40 kB: copied out of the ring into a piece (under TRANSFER_MIN).
    ...Array.from({ length: 12 }, (_, i) => ({ path: `/big?size=40000&seed=${10 + i}`, bytes: 40000, seed: 10 + i })),
  ];
  for (let round = 0; round < 3; round++) {
    const got = await Promise.all(jobs.map((j, i) => slowGet(port, j.path, ((i % 4) + 1) * 300000)));
    for (let i = 0; i < jobs.length; i++) {
      const { bytes, seed, path: p } = jobs[i];
      t.equal(got[i].status, 200);
      t.equal(got[i].body.length, bytes, `${p}: length`);
      const want = pattern(0, bytes, seed);
      const at = got[i].body.findIndex((b, k) => b !== want[k]);
      t.equal(at, -1, `${p}: every byte where it belongs (round ${round})`);
    }
  }
  // 36 frames of 40 kB: fewer pieces than frames means pieces were used again.
  const made = framePool.created - created;
  t.ok(made > 0 && made < 36, `${made} pieces served 36 frames of 40 kB`);
  // About 46 MB went through transferred frames of up to 256 KiB (some 175 of them), and
  // the buffer of every one the client got was given back.
  t.ok(framePool.givenBack - givenBack >= 160, `${framePool.givenBack - givenBack} transfer buffers given back`);
});

t.test('streamed uploads: whole socket reads move to the worker, and every byte arrives where it belongs', { timeout: 60000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('patterned.mjs'), threads: 2 });
  const port = portOf(srv);
  const moved = framePool.movedOut;
  const bytes = 8 * 1048576;
  const posts = [1, 2, 3].map((seed) => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: `/check?seed=${seed}`, method: 'POST', agent: false, timeout: 20000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve(text));
    });
    req.on('timeout', () => req.destroy(new Error('upload timed out')));
    req.on('error', reject);
    // Pieces of odd sizes, so that reads and pieces do not line up.
    let at = 0;
    const more = () => {
      while (at < bytes) {
        const n = Math.min(bytes - at, 100000);
        const piece = pattern(at, n + (4 - (n % 4)) % 4, seed).subarray(0, n);
        at += n;
        if (!req.write(piece)) return void req.once('drain', more);
      }
      req.end();
    };
    more();
  }));
  const answers = await Promise.all(posts);
  for (const a of answers) t.equal(a, `${bytes} -1`, 'the handler got every byte in order');
  t.ok(framePool.movedOut - moved > 0, `${framePool.movedOut - moved} socket reads moved to workers whole`);
});
