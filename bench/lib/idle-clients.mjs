// Child program (forked by clients.mjs): opens N keep-alive connections to 127.0.0.1:PORT, sends
// one GET PATH on each and reads the whole answer, then leaves them all open and idle.
// At most BATCH connections are being opened at a time.
// IPC: sends { type: 'ready', opened, failed, ms } once every connection is open and answered
// (or has failed); on 'check' sends { type: 'status', open, closedByServer }; on 'stop' exits.
// Usage: node bench/lib/idle-clients.mjs PORT N PATH [BATCH]
import net from 'node:net';

const [port, count, path, batch = '200'] = process.argv.slice(2);
const N = Number(count);
const REQUEST = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`;
const open = new Set();
let failed = 0;
let closedByServer = 0;
let stopping = false;

/** Connects, sends one request, resolves once the full answer is in (or rejects). */
function openOne() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: Number(port) });
    let got = Buffer.alloc(0);
    let done = false;
    s.setTimeout(30_000, () => s.destroy(new Error('timeout')));
    s.once('connect', () => s.write(REQUEST));
    s.on('data', (d) => {
      if (done) return;
      got = Buffer.concat([got, d]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length:\s*(\d+)/i.exec(got.subarray(0, end).toString('latin1'))?.[1] ?? 0);
      if (got.length < end + 4 + length) return;
      done = true;
      s.setTimeout(0);
      open.add(s);
      resolve();
    });
    s.once('error', (err) => { if (!done) reject(err); });
    s.once('close', () => {
      if (done && open.delete(s) && !stopping) closedByServer++;
      if (!done) reject(new Error('closed before the answer'));
    });
  });
}

const t0 = performance.now();
let next = 0;
async function lane() {
  while (next < N) {
    next++;
    try { await openOne(); } catch { failed++; }
  }
}
await Promise.all(Array.from({ length: Math.min(Number(batch), N) }, lane));
process.send({ type: 'ready', opened: open.size, failed, ms: performance.now() - t0 });

process.on('message', (m) => {
  if (m === 'check') process.send({ type: 'status', open: open.size, closedByServer });
  if (m === 'stop') {
    stopping = true;
    for (const s of open) s.destroy();
    process.exit(0);
  }
});
