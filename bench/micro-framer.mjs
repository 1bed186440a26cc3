// Micro-benchmark of the acceptor's request framer (lib/acceptor/framer.ts): ns per request.
// Run after a build: `node bench/micro-framer.mjs`. Compares, does not assert.
import { Framer } from '../dist/lib/acceptor/framer.js';

const limits = { requestLine: 8190, fields: 100, fieldSize: 8190, body: 1 << 20 };
const get = Buffer.from(
  'GET /hello/world?x=1 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: bench/1.0\r\n' +
  'Accept: */*\r\n\r\n', 'latin1');
const browser = Buffer.from(
  'GET /assets/app.js?v=12345 HTTP/1.1\r\nHost: example.com\r\n' +
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n' +
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n' +
  'Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\n' +
  'Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n\r\n', 'latin1');
const post = Buffer.from(
  'POST /api/items HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
  'Content-Length: 27\r\n\r\n{"name":"widget","qty":123}', 'latin1');
const chunked = Buffer.from(
  'POST /up HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n' +
  '10\r\n0123456789abcdef\r\n5;x=y\r\nhello\r\n0\r\n\r\n', 'latin1');

// One handler for every case, as in the acceptor (one call target at the callback sites).
let got = 0;
const handler = { onRequest() { got++; }, onError(s, r) { throw new Error(`${s} ${r}`); } };

function once(input, rounds, split) {
  const f = new Framer(limits, handler);
  const a = split ? input.subarray(0, split) : input;
  const b = split ? input.subarray(split) : null;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) {
    f.push(a);
    if (b !== null) f.push(b);
  }
  return Number(process.hrtime.bigint() - t0);
}

function bench(name, buf, n, pipeline = 1, split = 0) {
  const input = pipeline === 1 ? buf : Buffer.concat(Array(pipeline).fill(buf));
  const rounds = n / pipeline;
  once(input, rounds / 10, split); // warm-up
  const runs = [];
  for (let r = 0; r < 7; r++) {
    got = 0;
    runs.push(once(input, rounds, split) / n);
    if (got !== n) throw new Error(`framed ${got} of ${n}`);
  }
  runs.sort((a, b) => a - b);
  const med = runs[3];
  console.log(`${name.padEnd(34)} ${String(buf.length).padStart(4)} B  median ${med.toFixed(0).padStart(5)} ns/request  (min ${runs[0].toFixed(0)})`);
}

console.log(`node ${process.version}, ${process.arch}; median of 7 runs`);
const n = Number(process.argv[2] ?? 1e6);
bench('GET, one per push', get, n);
bench('GET, 16 pipelined per push', get, n, 16);
bench('GET, head split over two pushes', get, n, 1, 40);
bench('browser GET, one per push', browser, n);
bench('POST Content-Length, one per push', post, n);
bench('POST chunked, one per push', chunked, n);
