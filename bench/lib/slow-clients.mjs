// Child program (forked by clients.mjs): N clients that trickle request-header bytes and never
// finish the head, slowloris-style, against 127.0.0.1:PORT. Each one connects, sends a request
// line, Host and the start of one more field, then one byte every INTERVAL ms. When the server
// closes a connection (a header timeout, say) the client records any status line it got and
// reconnects 100 ms later, so about N stay open for the whole sample.
// IPC: sends { type: 'ready', connected } once every client has connected (or after 5 s);
// on 'stop' sends { type: 'stats', ... } and exits.
// Usage: node bench/lib/slow-clients.mjs PORT N INTERVAL_MS PATH
import net from 'node:net';

const [port, count, intervalMs, path] = process.argv.slice(2);
const N = Number(count);
const HEAD = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Trickle: `;
const stats = { clients: N, intervalMs: Number(intervalMs), connects: 0, closedByServer: 0, errors: 0, bytesSent: 0, responses: {} };
const sockets = new Set();
let running = true;
let firstConnects = 0;
let readySent = false;

function ready() {
  if (readySent) return;
  readySent = true;
  process.send({ type: 'ready', connected: firstConnects });
}

function client(first) {
  const s = net.connect({ host: '127.0.0.1', port: Number(port) });
  let timer = null;
  let got = '';
  sockets.add(s);
  s.once('connect', () => {
    stats.connects++;
    if (first && ++firstConnects === N) ready();
    s.write(HEAD);
    stats.bytesSent += HEAD.length;
    timer = setInterval(() => { s.write('a'); stats.bytesSent++; }, stats.intervalMs);
  });
  s.on('data', (d) => { if (got.length < 4096) got += d.toString('latin1'); });
  s.on('error', () => { stats.errors++; });
  s.once('close', () => {
    clearInterval(timer);
    sockets.delete(s);
    if (!running) return;
    stats.closedByServer++;
    for (const [, status] of got.matchAll(/HTTP\/1\.\d (\d{3})/g)) stats.responses[status] = (stats.responses[status] ?? 0) + 1;
    setTimeout(() => { if (running) client(false); }, 100);
  });
}

for (let i = 0; i < N; i++) client(true);
setTimeout(ready, 5_000);
process.on('message', (m) => {
  if (m !== 'stop') return;
  running = false;
  stats.openAtStop = sockets.size;
  for (const s of sockets) s.destroy();
  process.send({ type: 'stats', ...stats }, () => process.exit(0));
});
