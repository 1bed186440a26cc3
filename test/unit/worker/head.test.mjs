// lib/worker/head.ts against node's own parser. For every request the acceptor's Framer frames
// (from the conformance corpora, a list of hand-written heads, and a seeded mutation of both), the
// worker's direct reading must either decline (null: node's parser reads it) or give exactly what
// node's http server gives the app: method, url, httpVersion, rawHeaders, body and keep-alive.
// node must never reject a request the direct reading accepted.
import t from 'tap';
import http from 'node:http';
import { Duplex } from 'node:stream';
import { Framer } from '../../../dist/lib/acceptor/framer.js';
import { readHead } from '../../../dist/lib/worker/head.js';
import { corpusPresent, loadGunicorn, loadLlhttp, prng } from '../../conformance-corpus.mjs';

const MAX_HEAD = 16384;
// HEAD_SEED and HEAD_MUTATIONS (per framed request) reproduce or widen a run.
const MUTATIONS = Number(process.env.HEAD_MUTATIONS ?? 30);
const LIMITS = { requestLine: 8190, fields: 200, fieldSize: 8190, body: 1 << 20 };

/** The requests the acceptor frames from `buf`: each one's exact bytes. */
function framed(buf) {
  const out = [];
  const framer = new Framer(LIMITS, {
    onRequest: (r) => { if (!r.streamed) out.push(Buffer.concat(r.parts)); },
    onError: () => {},
    onBodyChunk: () => {},
    onBodyEnd: () => {},
  });
  try { framer.push(buf); } catch { /* an error ends framing; what was framed stands */ }
  return out;
}

/** What node's http server hands the app for `bytes` (one request), or { error }. */
function viaNode(bytes) {
  const server = http.createServer({ maxHeaderSize: MAX_HEAD });
  let got = null;
  let req = null;
  server.on('request', (r, res) => {
    req = r;
    got = { method: r.method, url: r.url, httpVersion: r.httpVersion, rawHeaders: r.rawHeaders, keepAlive: res.shouldKeepAlive, body: '' };
  });
  server.on('checkContinue', () => { got = { error: 'expect' }; });
  server.on('clientError', (err) => { got = { error: err.code }; });
  const sock = new Duplex({ read() {}, write(_c, _e, cb) { cb(); } });
  server.emit('connection', sock);
  sock.read(0); // flowing: the push below is parsed synchronously, as in the worker
  sock.push(bytes);
  if (req !== null) {
    const parts = [];
    for (let c = req.read(); c !== null; c = req.read()) parts.push(c);
    got.body = Buffer.concat(parts).toString('latin1');
  }
  sock.destroy();
  return got;
}

function direct(bytes) {
  const h = readHead(bytes, 0, bytes.length, MAX_HEAD);
  if (h === null) return null;
  return {
    method: h.method,
    url: h.url,
    httpVersion: h.minor === 1 ? '1.1' : '1.0',
    rawHeaders: h.raw,
    keepAlive: h.keepAlive,
    body: bytes.toString('latin1', h.bodyStart),
  };
}

const HAND = [
  'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET /x?y=1&z=%20 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n',
  'GET / HTTP/1.0\r\n\r\n',
  'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  'GET / HTTP/1.0\r\nConnection: Keep-Alive, foo\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nConnection: foo ,  CLOSE \r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Spaces:   v  v \t \r\nX-Tab:\tt\r\n\r\n',
  'GET / HTTP/1.1\r\nhost: a\r\nCookie: a=1\r\nCookie: b=2\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nX-Latin: caf\xe9\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n',
  'PUT /p HTTP/1.0\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc',
  'HEAD / HTTP/1.1\r\nHost: a\r\n\r\n',
  'DELETE /r/1 HTTP/1.1\r\nHost: a\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n',
  'PATCH /p HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
  'PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\n',
  // declined: node's parser reads these
  'GET http://a/abs HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx',
  'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n',
  'GET / HTTP/1.1\r\n\r\n',
];
const DECLINED = 5;

/** Seeded mutations of framed requests: what a fuzzer would try on header lines. */
function mutate(buf, rnd) {
  const s = buf.toString('latin1');
  const at = Math.floor(rnd() * s.length);
  const ops = [
    () => s.slice(0, at) + ' ' + s.slice(at),
    () => s.slice(0, at) + '\t' + s.slice(at),
    () => s.slice(0, at) + s.slice(at + 1),
    () => s.slice(0, at) + String.fromCharCode(Math.floor(rnd() * 256)) + s.slice(at + 1),
    () => s.replace('\r\n', '\r\nConnection: ' + ['close', 'keep-alive', 'x, close', ' , ', 'upgrade'][Math.floor(rnd() * 5)] + '\r\n'),
    () => s.replace('\r\n', '\r\nX-' + at + ': ' + ' '.repeat(Math.floor(rnd() * 3)) + 'v' + ' '.repeat(Math.floor(rnd() * 3)) + '\r\n'),
    () => s.replace('HTTP/1.1', 'HTTP/1.0'),
    () => s.replace(/^[A-Z]+/, ['get', 'GET', 'POST', 'BREW', 'M-SEARCH', 'PURGE'][Math.floor(rnd() * 6)]),
  ];
  return Buffer.from(ops[Math.floor(rnd() * ops.length)](), 'latin1');
}

function compare(t, bytes, label, stats) {
  const d = direct(bytes);
  if (d === null) { stats.declined++; return; }
  stats.accepted++;
  const n = viaNode(bytes);
  if (n === null || n.error !== undefined) {
    t.fail(`${label}: read directly, but node's parser ${n === null ? 'emitted no request' : `refused it (${n.error})`}: ${JSON.stringify(bytes.toString('latin1'))}`);
    return;
  }
  if (JSON.stringify(d) !== JSON.stringify(n)) t.same(d, n, `${label}: same as node's parser`);
  else stats.same++;
}

t.test('hand-written heads', async (t) => {
  const stats = { accepted: 0, declined: 0, same: 0 };
  for (const [i, s] of HAND.entries()) {
    const reqs = framed(Buffer.from(s, 'latin1'));
    if (i < HAND.length - DECLINED) t.equal(reqs.length, 1, `#${i} is framed`);
    for (const r of reqs) compare(t, r, `hand #${i}`, stats);
  }
  // every accepted-kind head is read directly, every declined-kind one is not
  t.equal(stats.accepted, HAND.length - DECLINED, 'the common heads are read directly');
  t.equal(stats.same, stats.accepted, 'all equal to node');
  for (const s of HAND.slice(-DECLINED)) {
    const b = Buffer.from(s, 'latin1');
    t.equal(readHead(b, 0, b.length, MAX_HEAD), null, `declined: ${JSON.stringify(s.split('\r\n').slice(0, 3).join(' | '))}`);
  }
  const big = Buffer.from(`GET / HTTP/1.1\r\nHost: a\r\nX: ${'v'.repeat(MAX_HEAD)}\r\n\r\n`, 'latin1');
  t.equal(readHead(big, 0, big.length, MAX_HEAD), null, 'a head past the limit goes to node (431)');
  const wrongLength = Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabc', 'latin1');
  t.equal(readHead(wrongLength, 0, wrongLength.length, MAX_HEAD), null, 'a body not matching Content-Length goes to node');
});

t.test('conformance corpora and seeded mutations', async (t) => {
  const inputs = HAND.map((s) => Buffer.from(s, 'latin1'));
  if (corpusPresent()) {
    for (const c of loadGunicorn()) inputs.push(c.raw);
    for (const c of loadLlhttp()) if (c.meta.type === 'request' || c.meta.type === undefined) inputs.push(c.raw);
  } else {
    t.comment('conformance corpora absent: only the hand-written heads and their mutations are compared');
  }
  const seed = Number(process.env.HEAD_SEED ?? 7);
  const rnd = prng(seed);
  const stats = { accepted: 0, declined: 0, same: 0 };
  for (const [i, buf] of inputs.entries()) {
    for (const r of framed(buf)) {
      compare(t, r, `input #${i}`, stats);
      for (let k = 0; k < MUTATIONS; k++) for (const m of framed(mutate(r, rnd))) compare(t, m, `input #${i} mutation ${k} (seed ${seed})`, stats);
    }
  }
  t.comment(`read directly ${stats.accepted}, declined ${stats.declined}`);
  t.ok(stats.accepted > 200, 'a good share of framed requests is read directly');
  t.equal(stats.same, stats.accepted, 'every direct reading equals node\'s parser');
});
