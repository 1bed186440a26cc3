// Unit tests for lib/acceptor/framer.ts: framing, keep-alive rules, limits, every rejection with
// its status, and split-invariance (whole, byte by byte, seeded random splits give one result).
import t from 'tap';
import { Framer, CHUNK_LINE_MAX } from '../../../dist/lib/acceptor/framer.js';

const LIMITS = { requestLine: 8190, fields: 100, fieldSize: 8190, body: 1 << 20 };
const b = (s) => Buffer.from(s, 'latin1');

/** Feed `chunks` (strings or Buffers) to a new Framer; return what it reported. */
function frame(chunks, limits = LIMITS) {
  const out = { reqs: [], errors: [], continues: 0, events: [] };
  const framer = new Framer(limits, {
    onRequest(req) { out.reqs.push(req); out.events.push('request'); },
    onError(status, reason) { out.errors.push({ status, reason }); out.events.push(`error ${status}`); },
    onContinue() { out.continues++; out.events.push('continue'); },
  });
  for (const c of Array.isArray(chunks) ? chunks : [chunks]) framer.push(typeof c === 'string' ? b(c) : c);
  out.framer = framer;
  return out;
}

/** Comparable summary of a request (raw bytes joined). */
function summary(req) {
  const raw = Buffer.concat(req.parts);
  return {
    raw: raw.toString('latin1'), size: req.size, headEnd: req.headEnd, method: req.method, target: req.target,
    http10: req.http10, keepAlive: req.keepAlive, expectContinue: req.expectContinue, upgrade: req.upgrade,
    bodyLength: req.bodyLength, chunked: req.chunked,
  };
}

function outcome(out) {
  return { reqs: out.reqs.map(summary), errors: out.errors.map((e) => e.status), events: out.events };
}

/** Parts invariants: sizes add up and the head lies wholly in parts[0]. */
function checkParts(t, req) {
  t.equal(req.parts.reduce((n, p) => n + p.length, 0), req.size, 'size is the sum of parts');
  t.ok(req.parts[0].length >= req.headEnd, 'parts[0] holds the whole head');
  const head = req.parts[0].subarray(0, req.headEnd).toString('latin1');
  t.ok(head.endsWith('\r\n\r\n'), 'the head ends with the blank line');
}

// Deterministic PRNG (mulberry32) for random split points.
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function randomSplit(buf, rnd, maxPieces) {
  const cuts = new Set();
  const n = 1 + Math.floor(rnd() * maxPieces);
  for (let i = 0; i < n; i++) cuts.add(Math.floor(rnd() * buf.length));
  const pts = [...cuts].sort((a, b2) => a - b2);
  const out = [];
  let prev = 0;
  for (const p of pts) { out.push(buf.subarray(prev, p)); prev = p; }
  out.push(buf.subarray(prev));
  return out;
}

function byteByByte(buf) {
  const out = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
  return out;
}

/** The outcome of one whole push must equal byte-by-byte and `rounds` random splittings. */
function splitInvariant(t, input, rounds = 50, limits = LIMITS, seed = 1) {
  const buf = typeof input === 'string' ? b(input) : input;
  const whole = outcome(frame([buf], limits));
  const eventsNoContinue = (o) => ({ ...o, events: o.events.filter((e) => e !== 'continue') });
  // onContinue depends on where the data stops, so compare everything but it
  t.same(eventsNoContinue(outcome(frame(byteByByte(buf), limits))), eventsNoContinue(whole), 'byte by byte');
  const rnd = prng(seed);
  for (let r = 0; r < rounds; r++) {
    const pieces = randomSplit(buf, rnd, 1 + (r % 12));
    const got = eventsNoContinue(outcome(frame(pieces, limits)));
    if (JSON.stringify(got) !== JSON.stringify(eventsNoContinue(whole))) {
      t.same(got, eventsNoContinue(whole), `random split #${r} (${pieces.map((p) => p.length).join(',')})`);
      return whole;
    }
  }
  t.pass(`${rounds} random splits`);
  return whole;
}

const GET = 'GET /hello?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n';

t.test('simple GET', (t) => {
  const out = frame(GET);
  t.same(out.errors, []);
  t.equal(out.reqs.length, 1);
  const r = out.reqs[0];
  t.match(summary(r), {
    raw: GET, size: GET.length, headEnd: GET.length, method: 'GET', target: '/hello?x=1',
    http10: false, keepAlive: true, expectContinue: false, upgrade: false, bodyLength: 0, chunked: false,
  });
  checkParts(t, r);
  t.equal(out.framer.buffered, 0);
  t.equal(out.framer.inHead, false);
  t.equal(out.framer.failed, false);
  t.end();
});

t.test('Host values of valid syntax', (t) => {
  for (const h of ['h', 'example.com:8080', 'h:', '10.0.0.1', '[::1]:80', '[v1.x]', "a-._~!$&'()*+,;=b", '%41', '']) {
    const out = frame(`GET / HTTP/1.1\r\nHost: ${h}\r\n\r\n`);
    t.equal(out.reqs.length, 1, JSON.stringify(h));
  }
  t.equal(frame('GET / HTTP/1.1\r\nHost: \t h:1 \t\r\n\r\n').reqs.length, 1, 'OWS around the value');
  t.end();
});

t.test('common methods and targets', (t) => {
  for (const m of ['GET', 'PUT', 'POST', 'HEAD', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'M-SEARCH', '-BLARGH']) {
    const out = frame(`${m} /x HTTP/1.1\r\nHost: h\r\n\r\n`);
    t.equal(out.reqs[0]?.method, m, m);
  }
  t.equal(frame('OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n').reqs[0].target, '*', 'asterisk-form for OPTIONS');
  t.equal(frame('GET http://h:80/a?b HTTP/1.1\r\nHost: h\r\n\r\n').reqs[0].target, 'http://h:80/a?b', 'absolute-form');
  t.equal(frame('GET / HTTP/1.1\r\nHost: h\r\n\r\n').reqs[0].target, '/');
  t.equal(frame('GET /a"b{}|^`~% HTTP/1.1\r\nHost: h\r\n\r\n').reqs[0].target, '/a"b{}|^`~%', 'any visible ASCII');
  t.end();
});

t.test('pipelined requests in one chunk are subarrays of it, in order', (t) => {
  const post = 'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello';
  const chunked = 'PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
  const all = b(GET + post + chunked + GET);
  const out = frame([all]);
  t.same(out.errors, []);
  t.same(out.reqs.map((r) => r.target), ['/hello?x=1', '/p', '/c', '/hello?x=1']);
  let offset = 0;
  for (const r of out.reqs) {
    t.equal(r.parts.length, 1, 'one part');
    t.equal(r.parts[0].buffer, all.buffer, 'no copy');
    t.equal(r.parts[0].byteOffset, all.byteOffset + offset, 'at its offset');
    checkParts(t, r);
    offset += r.size;
  }
  t.equal(offset, all.length, 'every byte framed exactly once');
  t.same(out.reqs.map((r) => r.bodyLength), [0, 5, 3, 0]);
  t.end();
});

t.test('Content-Length body', (t) => {
  const s = 'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world';
  const out = frame(s);
  t.match(summary(out.reqs[0]), { raw: s, bodyLength: 11, chunked: false, headEnd: s.length - 11 });
  t.equal(frame('POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n').reqs[0].bodyLength, 0, 'CL 0');
  t.equal(frame('POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n1234567').reqs[0].bodyLength, 7, 'leading zeros');
  t.equal(frame('POST /p HTTP/1.1\r\nHost: h\r\ncontent-LENGTH:\t 2 \t\r\n\r\nab').reqs[0].bodyLength, 2, 'case, OWS');
  // body split across chunks: head + first body bytes share a part; later parts are subarrays
  const c1 = b('POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc');
  const c2 = b('defg');
  const c3 = b('hijGET / HTTP/1.1\r\nHost: h\r\n\r\n');
  const o2 = frame([c1, c2, c3]);
  t.equal(o2.reqs.length, 2);
  t.equal(o2.reqs[0].parts.length, 3);
  t.equal(o2.reqs[0].parts[0].buffer, c1.buffer);
  t.equal(o2.reqs[0].parts[1].buffer, c2.buffer);
  t.equal(o2.reqs[0].parts[2].buffer, c3.buffer);
  t.equal(Buffer.concat(o2.reqs[0].parts).toString('latin1').slice(-10), 'abcdefghij');
  t.equal(o2.reqs[1].parts[0].buffer, c3.buffer);
  t.end();
});

t.test('buffered and inHead track incomplete requests', (t) => {
  const f = frame([]).framer;
  const outs = [];
  const g = new Framer(LIMITS, { onRequest: (r) => outs.push(r), onError: () => t.fail('no error') });
  g.push(b('GET / HTTP/1.1\r\nHo'));
  t.equal(g.inHead, true);
  t.equal(g.buffered, 18);
  g.push(b('st: h\r\nContent-Length: 4\r\n\r\nab'));
  t.equal(g.inHead, false);
  t.equal(g.buffered, 46 + 2, 'head + 2 body bytes');
  g.push(b('cd'));
  t.equal(g.buffered, 0);
  t.equal(outs.length, 1);
  t.equal(outs[0].parts.length, 3, 'copied head, then two body subarrays');
  t.equal(outs[0].headEnd, 46);
  t.equal(outs[0].parts[0].length, 46);
  checkParts(t, outs[0]);
  t.equal(f.buffered, 0);
  t.end();
});

t.test('chunked body with extensions and trailers', (t) => {
  const s = 'POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '5;name=value;flag;q="quoted \\"x\\" ;=\\\\"\r\nhello\r\n' +
    '00006\r\n world\r\n' +
    'A\r\n0123456789\r\n' +
    '0;last\r\nX-Trailer: yes\r\nX-Other:\tv \r\n\r\n';
  const out = frame(s + GET);
  t.same(out.errors, []);
  t.equal(out.reqs.length, 2);
  t.match(summary(out.reqs[0]), { raw: s, bodyLength: 21, chunked: true, method: 'POST' });
  t.equal(out.reqs[1].target, '/hello?x=1');
  t.equal(frame('POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  ChUnKeD \r\n\r\n0\r\n\r\n').reqs[0].chunked, true, 'case, OWS');
  t.equal(frame('POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfF\r\n' + 'x'.repeat(255) + '\r\n0\r\n\r\n').reqs[0].bodyLength, 255, 'hex digits');
  t.end();
});

t.test('keep-alive rules (RFC 9112 §9.3)', (t) => {
  const ka = (v, conn) => {
    const out = frame(`GET / HTTP/${v}\r\nHost: h\r\n${conn.map((c) => `Connection: ${c}\r\n`).join('')}\r\n`);
    return out.reqs[0].keepAlive;
  };
  t.equal(ka('1.1', []), true, '1.1 default');
  t.equal(ka('1.1', ['close']), false, '1.1 close');
  t.equal(ka('1.1', ['Keep-Alive, CLOSE']), false, '1.1 list with close');
  t.equal(ka('1.1', ['x-foo', 'close']), false, 'fields combine');
  t.equal(ka('1.1', ['closed']), true, 'not a token match');
  t.equal(ka('1.0', []), false, '1.0 default');
  t.equal(ka('1.0', ['keep-alive']), true, '1.0 keep-alive');
  t.equal(ka('1.0', ['Keep-Alive']), true, '1.0 Keep-Alive');
  t.equal(ka('1.0', ['te , keep-alive ,']), true, '1.0 list');
  t.equal(ka('1.0', ['keep-alive', 'close']), false, '1.0 keep-alive and close');

  // after a non-persistent request nothing more is framed
  const out = frame('GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n');
  t.equal(out.reqs.length, 1);
  t.equal(out.framer.closed, true);
  out.framer.push(b('GET /c HTTP/1.1\r\nHost: h\r\n\r\n'));
  t.equal(out.reqs.length, 1, 'ignored once closed');
  t.same(out.errors, []);
  const o10 = frame('GET /a HTTP/1.0\r\n\r\nGARBAGE');
  t.equal(o10.reqs.length, 1);
  t.same(o10.errors, [], 'bytes after a 1.0 request are not parsed');
  t.end();
});

t.test('empty lines before a request line are dropped', (t) => {
  const out = frame(['\r\n\r\n' + GET + '\r\n', '\r', '\n' + GET]);
  t.same(out.errors, []);
  t.equal(out.reqs.length, 2);
  t.same(out.reqs.map((r) => Buffer.concat(r.parts).toString('latin1')), [GET, GET], 'not part of any request');
  t.equal(out.framer.buffered, 0);
  t.same(frame('\n' + GET).errors.map((e) => e.status), [400], 'bare LF is not an empty line');
  t.same(frame('\r ' + GET).errors.map((e) => e.status), [400], 'bare CR');
  t.end();
});

t.test('upgrade pauses framing; held bytes go back to HTTP or to the new protocol', (t) => {
  const up = 'GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\r\n';
  const out = frame(up + '\x81\x85frame');
  t.equal(out.reqs.length, 1);
  t.equal(out.reqs[0].upgrade, true);
  t.equal(out.framer.paused, true);
  out.framer.push(b('more'));
  t.equal(out.framer.buffered, 11);
  t.same(out.framer.takeRest().map((x) => x.toString('latin1')), ['\x81\x85frame', 'more']);
  t.equal(out.framer.closed, true);
  t.same(out.errors, []);

  const declined = frame(up + GET);
  t.equal(declined.reqs.length, 1);
  declined.framer.resume();
  t.equal(declined.reqs.length, 2, 'resume() frames the held bytes');
  t.equal(declined.framer.paused, false);

  t.equal(frame('GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n').reqs[0].upgrade, false, 'Upgrade without Connection: upgrade');
  t.equal(frame('GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n').reqs[0].upgrade, false, 'Connection: upgrade without Upgrade');
  const o10 = frame('GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade, keep-alive\r\n\r\n' + 'GET / HTTP/1.0\r\n\r\n');
  t.same(o10.reqs.map((r) => r.upgrade), [false, false], 'Upgrade is ignored in HTTP/1.0 (RFC 9110 §7.8)');
  t.end();
});

t.test('Expect: 100-continue', (t) => {
  const head = 'POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n';
  let out = frame(head);
  t.equal(out.continues, 1, 'head only: continue');
  out.framer.push(b('he'));
  t.equal(out.continues, 1, 'only once');
  out.framer.push(b('llo'));
  t.equal(out.reqs.length, 1);
  t.equal(out.reqs[0].expectContinue, true);

  out = frame(head + 'hello');
  t.equal(out.continues, 0, 'body already in: no continue');
  t.equal(out.reqs[0].expectContinue, true);

  out = frame([head.slice(0, 20), head.slice(20) + 'h']);
  t.equal(out.continues, 1, 'head across chunks, body partial');

  out = frame('POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel');
  t.equal(out.continues, 1, 'chunked');

  out = frame('POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n');
  t.equal(out.continues, 0, 'no body');
  t.equal(out.reqs[0].expectContinue, true);

  out = frame('POST /p HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
  t.equal(out.continues, 0, 'ignored in HTTP/1.0');

  out = frame(`POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: ${LIMITS.body + 1}\r\n\r\n`);
  t.equal(out.continues, 0, 'too large: no continue');
  t.same(out.errors.map((e) => e.status), [413]);

  out = frame('POST /p HTTP/1.1\r\nHost: h\r\nExpect: 101-continue\r\nContent-Length: 5\r\n\r\n');
  t.equal(out.continues, 0, 'other expectations are not 100-continue');
  t.end();
});

// [name, input, status]; every one also checked byte by byte and at random splits
const REJECT = [
  // request line
  ['double space', 'GET  / HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['space before request line', ' GET / HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['tab separator', 'GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['trailing space', 'GET / HTTP/1.1 \r\nHost: h\r\n\r\n', 400],
  ['method not a token', 'G@T / HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['method with colon', 'GET: / HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['NUL in method', 'GE\0T / HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['obs-text in method', 'GET\xdf / HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['missing target', 'GET HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['DEL in target', 'GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['obs-text in target', 'GET /\xe0 HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['CTL in target', 'GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['relative target', 'GET foo/bar HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['authority-form outside CONNECT', 'GET h:443 HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['asterisk outside OPTIONS', 'GET * HTTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['CONNECT', 'CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n', 405],
  ['lower-case version', 'GET / http/1.1\r\nHost: h\r\n\r\n', 400],
  ['other protocol', 'GET / FTP/1.1\r\nHost: h\r\n\r\n', 400],
  ['version without minor', 'GET / HTTP/1\r\nHost: h\r\n\r\n', 400],
  ['version HTTP/111', 'GET / HTTP/111\r\nHost: h\r\n\r\n', 400],
  ['version HTTP/1.10', 'GET / HTTP/1.10\r\nHost: h\r\n\r\n', 400],
  ['version HTTP/0.99', 'GET / HTTP/0.99\r\n\r\n', 400],
  ['version HTTP/2.0', 'GET / HTTP/2.0\r\nHost: h\r\n\r\n', 505],
  ['version HTTP/1.2', 'GET / HTTP/1.2\r\nHost: h\r\n\r\n', 505],
  ['version HTTP/0.9', 'GET / HTTP/0.9\r\n\r\n', 505],
  ['bare LF after request line', 'GET / HTTP/1.1\nHost: h\r\n\r\n', 400],
  ['bare CR after request line', 'GET / HTTP/1.1\rHost: h\r\n\r\n', 400],
  ['LF only request', 'GET / HTTP/1.1\nHost: h\n\n', 400],
  // field lines
  ['space before colon', 'GET / HTTP/1.1\r\nHost : h\r\n\r\n', 400],
  ['tab before colon', 'GET / HTTP/1.1\r\nHost\t: h\r\n\r\n', 400],
  ['no colon', 'GET / HTTP/1.1\r\nHost h\r\n\r\n', 400],
  ['empty field name', 'GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n', 400],
  ['NUL in field name', 'GET / HTTP/1.1\r\nHost: h\r\nX\0: y\r\n\r\n', 400],
  ['obs-text in field name', 'GET / HTTP/1.1\r\nHost: h\r\nX\xdf: y\r\n\r\n', 400],
  ['obs-fold', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n', 400],
  ['obs-fold with tab', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n', 400],
  ['space before first field', 'GET / HTTP/1.1\r\n Host: h\r\n\r\n', 400],
  ['NUL in value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n', 400],
  ['BEL in value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\x07b\r\n\r\n', 400],
  ['VT in value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\x0bb\r\n\r\n', 400],
  ['DEL in value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n', 400],
  ['bare CR in value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n', 400],
  ['bare LF ends a field', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n', 400],
  ['bare CR ends the head', 'GET / HTTP/1.1\r\nHost: h\r\n\rX', 400],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', 400],
  ['duplicate Host', 'GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n', 400],
  ['duplicate Host in 1.0', 'GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n', 400],
  // Host syntax (RFC 9112 §3.2, RFC 3986 §3.2.2-3)
  ['Host with a space and a path', 'GET / HTTP/1.1\r\nHost: bad host/x\r\n\r\n', 400],
  ['Host with userinfo', 'GET / HTTP/1.1\r\nHost: u@h\r\n\r\n', 400],
  ['Host port not digits', 'GET / HTTP/1.1\r\nHost: h:8o\r\n\r\n', 400],
  ['Host with two ports', 'GET / HTTP/1.1\r\nHost: h:1:2\r\n\r\n', 400],
  ['Host IPv6 without brackets', 'GET / HTTP/1.1\r\nHost: ::1\r\n\r\n', 400],
  ['Host IP-literal unclosed', 'GET / HTTP/1.1\r\nHost: [::1\r\n\r\n', 400],
  ['Host IP-literal empty', 'GET / HTTP/1.1\r\nHost: []\r\n\r\n', 400],
  ['Host IP-literal not an address', 'GET / HTTP/1.1\r\nHost: [example.com]\r\n\r\n', 400],
  ['Host IPvFuture without a dot', 'GET / HTTP/1.1\r\nHost: [v1]\r\n\r\n', 400],
  ['Host bad pct-encoding', 'GET / HTTP/1.1\r\nHost: a%g1\r\n\r\n', 400],
  ['Host cut pct-encoding', 'GET / HTTP/1.1\r\nHost: a%4\r\n\r\n', 400],
  ['Host obs-text', 'GET / HTTP/1.1\r\nHost: h\xe9\r\n\r\n', 400],
  ['Host invalid in 1.0', 'GET / HTTP/1.0\r\nHost: a b\r\n\r\n', 400],
  // Content-Length
  ['CL negative', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n', 400],
  ['CL plus sign', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\nx', 400],
  ['CL -0', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -0\r\n\r\n', 400],
  ['CL space inside', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n', 400],
  ['CL hex', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n', 400],
  ['CL underscore', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0_1\r\n\r\n', 400],
  ['CL list', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello', 400],
  ['CL empty', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n', 400],
  ['CL duplicate, same value', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx', 400],
  ['CL duplicate, other value', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 2\r\n\r\nxyz', 400],
  ['CL over the body limit', `POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${LIMITS.body + 1}\r\n\r\n`, 413],
  ['CL over 2^53', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9007199254740993\r\n\r\n', 413],
  ['CL of 400 digits', `POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ${'9'.repeat(400)}\r\n\r\n`, 413],
  // Transfer-Encoding
  ['CL and TE', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['TE and CL', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', 400],
  ['TE in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['TE gzip alone', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n', 400],
  ['TE identity', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n', 400],
  ['TE gzip, chunked', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 501],
  ['TE identity,chunked', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity,chunked\r\n\r\n0\r\n\r\n', 501],
  ['TE chunked, chunked', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n', 400],
  ['TE chunked , identity', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked , identity\r\n\r\n0\r\n\r\n', 400],
  ['TE empty', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n0\r\n\r\n', 400],
  ['TE empty element', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , chunked\r\n\r\n0\r\n\r\n', 400],
  ['TE chunked + VT', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n', 400],
  ['TE xchunked', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n', 400],
  ['TE chunkedchunked', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunkedchunked\r\n\r\n0\r\n\r\n', 400],
  ['TE "chunked"', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n', 400],
  ['TE with parameter', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n', 400],
  ['two TE fields', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['two TE chunked fields', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  // chunked body
  ...((h) => [
    ['chunk size not hex', h + 'g\r\nx\r\n0\r\n\r\n', 400],
    ['chunk size minus', h + '-5\r\nhello\r\n0\r\n\r\n', 400],
    ['chunk size plus', h + '+5\r\nhello\r\n0\r\n\r\n', 400],
    ['chunk size 0x', h + '0x5\r\nhello\r\n0\r\n\r\n', 400],
    ['chunk size underscore', h + '5\r\nhello\r\n6_0\r\n world\r\n0\r\n\r\n', 400],
    ['space before chunk size', h + ' 5\r\nhello\r\n0\r\n\r\n', 400],
    ['space after chunk size', h + '5 \r\nhello\r\n0\r\n\r\n', 400],
    ['space after last chunk size', h + '0 \r\n\r\n', 400],
    ['space before extension', h + '5 ;a=b\r\nhello\r\n0\r\n\r\n', 400],
    ['space after semicolon', h + '5; a=b\r\nhello\r\n0\r\n\r\n', 400],
    ['empty chunk size', h + '\r\nhello\r\n0\r\n\r\n', 400],
    ['extension without size', h + ';a=b\r\nhello\r\n0\r\n\r\n', 400],
    ['17 hex digits', h + '00000000000000005\r\nhello\r\n0\r\n\r\n', 400],
    ['chunk size over the body limit', h + (LIMITS.body + 1).toString(16) + '\r\n', 413],
    ['chunk sizes add up over the limit', h + (LIMITS.body).toString(16) + '\r\n' + 'x'.repeat(LIMITS.body) + '\r\n1\r\n', 413],
    ['chunk size 2^64-1', h + 'ffffffffffffffff\r\n', 413],
    ['bare LF after chunk size', h + '5\nhello\r\n0\r\n\r\n', 400],
    ['bare LF after chunk size and ;', h + '5\n;\r\nhello\r\n0\r\n\r\n', 400],
    ['bare CR in extension', h + '5;ext=val\rue\r\nhello\r\n0\r\n\r\n', 400],
    ['empty extension name', h + '5;\r\nhello\r\n0\r\n\r\n', 400],
    ['extension name not a token', h + '5;a@b\r\nhello\r\n0\r\n\r\n', 400],
    ['empty extension value', h + '5;a=\r\nhello\r\n0\r\n\r\n', 400],
    ['unbalanced quote in extension', h + '5;a="b\r\nhello\r\n0\r\n\r\n', 400],
    ['CTL in quoted extension', h + '5;a="b\x01"\r\nhello\r\n0\r\n\r\n', 400],
    ['extension line too long', h + '5;a=' + 'x'.repeat(CHUNK_LINE_MAX) + '\r\nhello\r\n0\r\n\r\n', 400],
    ['chunk data too long', h + '5\r\nhello!\r\n0\r\n\r\n', 400],
    ['chunk data then LF only', h + '5\r\nhello\n0\r\n\r\n', 400],
    ['chunk data then CR only', h + '5\r\nhello\r0\r\n\r\n', 400],
    ['no last-chunk', h + '5\r\nhello\r\n\r\n', 400],
    ['trailer obs-fold', h + '0\r\nX: a\r\n b\r\n\r\n', 400],
    ['trailer NUL', h + '0\r\nX: a\0\r\n\r\n', 400],
    ['trailer bare LF', h + '0\r\nX: a\n\r\n', 400],
    ['trailer without colon', h + '0\r\nX\r\n\r\n', 400],
    ['trailer Content-Length', h + '0\r\nContent-Length: 5\r\n\r\n', 400],
    ['trailer Transfer-Encoding', h + '0\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['trailer Host', h + '0\r\nHost: evil\r\n\r\n', 400],
    ['final CRLF is CR x', h + '0\r\n\rx', 400],
    ['final CRLF is LF', h + '0\r\n\n', 400],
  ])('POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n'),
];

t.test('rejections, each with its status, at any split', (t) => {
  for (const [name, input, status] of REJECT) {
    t.test(name, (t) => {
      const out = frame(input);
      t.same(out.errors.map((e) => e.status), [status], `${status}`);
      t.equal(out.reqs.length, 0, 'no request framed');
      t.equal(out.framer.failed, true);
      t.type(out.errors[0]?.reason, 'string');
      out.framer.push(b(GET));
      t.equal(out.errors.length + out.reqs.length, 1, 'input after the error is ignored');
      splitInvariant(t, input, input.length > 10000 ? 3 : 20);
      t.end();
    });
  }
  t.end();
});

t.test('limits: the whole head (head), whole, split and unfinished', (t) => {
  const lim = { requestLine: 100, fields: 50, fieldSize: 1000, head: 200, body: 100 };
  const head = (n) => { const s = 'GET / HTTP/1.1\r\nHost: h\r\n'; return `${s}X: ${'v'.repeat(n - s.length - 7)}\r\n\r\n`; }; // n bytes
  t.equal(head(200).length, 200);
  t.equal(frame(head(200), lim).reqs.length, 1, 'a head at the limit, whole');
  t.equal(frame(head(200).split(/(?<=\n)/), lim).reqs.length, 1, 'a head at the limit, line by line');
  t.same(frame(head(201), lim).errors.map((e) => e.status), [431], 'one over, whole');
  t.same(frame(head(201).split(/(?<=\n)/), lim).errors.map((e) => e.status), [431], 'one over, line by line');
  t.same(frame([...head(201)], lim).errors.map((e) => e.status), [431], 'one over, byte by byte');
  t.same(frame(head(260).slice(0, 230), lim).errors.map((e) => e.status), [431], 'unfinished and past the limit in one chunk');
  t.same(frame(['GET / HTTP/1.1\r\n', head(260).slice(16, 230)], lim).errors.map((e) => e.status), [431], 'unfinished, past it in the second chunk');
  const pipelined = frame(head(200) + head(200), lim);
  t.same([pipelined.reqs.length, pipelined.errors.length], [2, 0], 'the limit is per request');
  t.end();
});

t.test('limits: 414, 431, 413', (t) => {
  const lim = { requestLine: 40, fields: 3, fieldSize: 30, body: 100 };
  const rl = (n) => `GET /${'a'.repeat(n - 14)} HTTP/1.1\r\nHost: h\r\n\r\n`; // request line of n bytes
  t.equal(frame(rl(40), lim).reqs.length, 1, 'request line at the limit');
  t.same(frame(rl(41), lim).errors.map((e) => e.status), [414], 'one over');
  t.same(frame(`GET /${'a'.repeat(100)}`, lim).errors.map((e) => e.status), [414], 'incomplete, already too long');
  t.same(frame(['GET /' + 'a'.repeat(20), 'a'.repeat(20)], lim).errors.map((e) => e.status), [414], 'too long across chunks');
  t.same(frame(`GET / HTTP/1.1\r\nX: ${'a'.repeat(27)}`, lim).errors.map((e) => e.status), [], 'incomplete, 30 bytes so far');
  const fl = (n) => `GET / HTTP/1.1\r\nHost: h\r\nX: ${'v'.repeat(n - 3)}\r\n\r\n`; // field line of n bytes
  t.equal(frame(fl(30), lim).reqs.length, 1, 'field line at the limit');
  t.same(frame(fl(31), lim).errors.map((e) => e.status), [431], 'one over');
  t.same(frame(`GET / HTTP/1.1\r\nX: ${'v'.repeat(100)}`, lim).errors.map((e) => e.status), [431], 'incomplete, already too long');
  const fields = (n) => `GET / HTTP/1.1\r\nHost: h\r\n${'X: y\r\n'.repeat(n - 1)}\r\n`;
  t.equal(frame(fields(3), lim).reqs.length, 1, 'fields at the limit');
  t.same(frame(fields(4), lim).errors.map((e) => e.status), [431], 'one field over');
  const tr = 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n';
  t.equal(frame(tr + 'A: b\r\n\r\n', lim).reqs.length, 1, 'trailer within the field count');
  t.same(frame(tr + 'A: b\r\nC: d\r\n\r\n', lim).errors.map((e) => e.status), [431], 'trailers count towards fields');
  t.same(frame(tr + `A: ${'b'.repeat(40)}\r\n\r\n`, lim).errors.map((e) => e.status), [431], 'trailer line too long');
  t.same(frame([tr + 'A: ', 'b'.repeat(40)], lim).errors.map((e) => e.status), [431], 'trailer line too long across chunks');
  t.equal(frame('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n', lim).errors.length, 0, 'CL at the limit');
  t.same(frame('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n', lim).errors.map((e) => e.status), [413], 'CL one over, before any body');
  const ch = 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n';
  t.equal(frame(ch + '32\r\n' + 'x'.repeat(50) + '\r\n32\r\n' + 'x'.repeat(50) + '\r\n0\r\n\r\n', lim).reqs[0].bodyLength, 100, 'chunked at the limit');
  t.same(frame(ch + '32\r\n' + 'x'.repeat(50) + '\r\n33\r\n', lim).errors.map((e) => e.status), [413], 'chunked over, on the size line');
  // framing overhead cap: many 1-byte chunks with long extensions
  const big = { requestLine: 100, fields: 10, fieldSize: 100, body: 1 << 20 };
  const one = '1;e=' + 'x'.repeat(4000) + '\r\nz\r\n';
  const out = frame([ch, ...Array(300).fill(one)], big);
  t.same(out.errors.map((e) => e.status), [413], 'chunked framing bytes are capped');
  t.end();
});

t.test('a head spanning chunks is copied once into parts[0]', (t) => {
  const c1 = b('POST /p HTTP/1.1\r\nHost: h\r\nContent-');
  const c2 = b('Length: 3\r\n\r\nabc');
  const out = frame([c1, c2]);
  t.equal(out.reqs.length, 1);
  const r = out.reqs[0];
  t.equal(r.parts.length, 2);
  t.equal(r.parts[0].length, r.headEnd, 'parts[0] is exactly the head');
  t.equal(r.parts[1].buffer, c2.buffer, 'body is a subarray');
  t.equal(Buffer.concat(r.parts).toString('latin1'), Buffer.concat([c1, c2]).toString('latin1'));
  // A copy, not a view: overwriting the input chunks leaves the framed head intact. (Comparing
  // .buffer would be flaky: small Buffers share node's allocation pool.)
  const head = r.parts[0].toString('latin1');
  c1.fill(0);
  c2.fill(0, 0, 13);
  t.equal(r.parts[0].toString('latin1'), head, 'head copied');
  t.equal(head, 'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n');
  t.end();
});

t.test('after onError nothing more is reported', (t) => {
  const out = frame(['GET / HTTP/1.1\r\nHost: h\r\nX: a\0\r\n\r\n', GET, GET]);
  t.equal(out.errors.length, 1);
  t.equal(out.reqs.length, 0);
  t.equal(out.framer.failed, true);
  t.equal(out.framer.buffered, 0);
  t.end();
});

t.test('split invariance: whole, byte by byte, seeded random splits', (t) => {
  const streams = {
    'pipelined mix': GET +
      'POST /cl HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\nhello world!' +
      '\r\n' + // an empty line between requests
      'PUT /ch HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n' +
      '5;a="x;y\\"";b=c\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT1: a\r\nT2: b\r\n\r\n' +
      'GET /http10 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' +
      'DELETE /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n' +
      'GET /never HTTP/1.1\r\nHost: h\r\n\r\n',
    'obs-text and tabs': 'GET /o HTTP/1.1\r\nHost: h\r\nX-Value: caf\xc3\xa9\r\nY:\tv\t\r\n\r\n',
    'big head': `GET /${'p'.repeat(3000)} HTTP/1.1\r\nHost: h\r\n${'X-Long: ' + 'v'.repeat(5000) + '\r\n'}${'A: b\r\n'.repeat(50)}\r\n`,
    'error after two requests': GET + GET + 'GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
    'error inside chunked trailers': GET + 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nA: b\r\nHost: x\r\n\r\n',
    'upgrade then data': 'GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00garbage\r\n',
  };
  let seed = 7;
  for (const [name, s] of Object.entries(streams)) {
    t.test(name, (t) => {
      const whole = splitInvariant(t, s, 100, LIMITS, seed++);
      t.ok(whole.reqs.length + whole.errors.length > 0, 'something framed');
      t.end();
    });
  }
  const whole = outcome(frame(streams['pipelined mix']));
  t.same(whole.reqs.map((r) => r.target), ['/hello?x=1', '/cl', '/ch', '/http10', '/x'], 'the mix frames as expected');
  t.same(whole.reqs.map((r) => r.bodyLength), [0, 12, 31, 0, 0]);
  t.same(whole.reqs.map((r) => r.keepAlive), [true, true, true, true, false]);
  t.end();
});

t.test('split invariance under seeded mutations (fuzz)', (t) => {
  const bases = [
    GET + 'POST /cl HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello' + GET,
    'PUT /ch HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;a="x;y\\"";b=c\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT1: a\r\n\r\n' + GET,
    'GET /o HTTP/1.0\r\nConnection: keep-alive\r\nX:\tv\xe9\t\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n',
  ];
  const alphabet = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x3b, 0x22, 0x5c, 0x30, 0x61, 0x00, 0x80, 0x2c, 0x3d, 0x0b, 0x7f, 0x46];
  const lim = { requestLine: 64, fields: 6, fieldSize: 40, body: 64 };
  const rnd = prng(20240601);
  let compared = 0;
  for (let iter = 0; iter < 600; iter++) {
    const base = b(bases[iter % bases.length]);
    const bytes = [...base];
    const edits = 1 + Math.floor(rnd() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rnd() * bytes.length);
      const c = alphabet[Math.floor(rnd() * alphabet.length)];
      const op = rnd();
      if (op < 0.4) bytes[at] = c;
      else if (op < 0.7) bytes.splice(at, 0, c);
      else bytes.splice(at, 1);
    }
    const input = Buffer.from(bytes);
    const norm = (o) => JSON.stringify({ ...o, events: o.events.filter((x) => x !== 'continue') });
    const whole = norm(outcome(frame([input], lim)));
    const splits = [byteByByte(input), randomSplit(input, rnd, 4), randomSplit(input, rnd, 20)];
    for (const pieces of splits) {
      const got = norm(outcome(frame(pieces, lim)));
      compared++;
      if (got !== whole) {
        t.same(JSON.parse(got), JSON.parse(whole), `mutation #${iter}: ${JSON.stringify(input.toString('latin1'))} split ${pieces.map((p) => p.length).join(',')}`);
        t.end();
        return;
      }
    }
  }
  t.pass(`${compared} split comparisons agree`);
  t.end();
});

// Differential check against Node's own llhttp, which the workers use to re-parse what the
// acceptor framed: every request the framer accepts must parse there as exactly one complete
// message with the same method, target and body length, or be rejected there (a disagreement the
// worker answers with 400). `_http_common` is internal: skipped where it is missing or changed.
t.test('framed requests parse identically in llhttp (seeded mutations)', async (t) => {
  let HTTPParser;
  let methods;
  try {
    const { createRequire } = await import('node:module');
    ({ HTTPParser, methods } = createRequire(import.meta.url)('_http_common'));
    if (typeof HTTPParser !== 'function' || !Array.isArray(methods)) throw new Error('shape');
  } catch {
    t.skip('node internal _http_common.HTTPParser not available');
    return;
  }
  const llhttp = (buf) => {
    const p = new HTTPParser();
    p.initialize(HTTPParser.REQUEST, {}, 0, 0);
    const msgs = [];
    let cur = null;
    p[HTTPParser.kOnHeadersComplete | 0] = (maj, min, headers, method, url) => {
      cur = { method: methods[method], url, body: 0, done: false };
      msgs.push(cur);
      return 0;
    };
    p[HTTPParser.kOnBody | 0] = (chunk) => { cur.body += chunk.length; };
    p[HTTPParser.kOnMessageComplete | 0] = () => { cur.done = true; };
    const r = p.execute(buf);
    return { msgs, err: r instanceof Error ? r.code ?? 'error' : null };
  };
  const bases = [
    'GET /a HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nab',
    GET + 'POST /cl HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello' + GET,
    'PUT /ch HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a="x;y\\"";b=c\r\nhello\r\n1A\r\n' +
      'abcdefghijklmnopqrstuvwxyz\r\n0\r\nT1: a\r\n\r\n' + GET,
    'OPTIONS * HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc' + GET,
  ];
  const alphabet = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x3b, 0x22, 0x5c, 0x30, 0x31, 0x61, 0x00, 0x80, 0x2c, 0x3d, 0x0b, 0x7f, 0x46, 0x2d, 0x2b];
  const rnd = prng(99);
  let framed = 0;
  let rejectedThere = 0;
  for (let iter = 0; iter < 4000; iter++) {
    const bytes = [...b(bases[iter % bases.length])];
    const edits = 1 + Math.floor(rnd() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rnd() * bytes.length);
      const c = alphabet[Math.floor(rnd() * alphabet.length)];
      const op = rnd();
      if (op < 0.4) bytes[at] = c;
      else if (op < 0.7) bytes.splice(at, 0, c);
      else bytes.splice(at, 1);
    }
    for (const req of frame([Buffer.from(bytes)]).reqs) {
      const raw = Buffer.concat(req.parts);
      const L = llhttp(raw);
      framed++;
      if (L.err) { rejectedThere++; continue; }
      const m = L.msgs[0];
      const same = L.msgs.length === 1 && m.done && m.method === req.method && m.url === req.target && m.body === req.bodyLength;
      if (!same) {
        t.fail(`llhttp frames differently: ${JSON.stringify(raw.toString('latin1'))} -> ${JSON.stringify(L.msgs)}`);
        return;
      }
    }
  }
  t.pass(`${framed} framed requests agree with llhttp ${process.versions.llhttp} (${rejectedThere} rejected there only)`);
});

t.test('absolute-form targets must carry a valid authority (RFC 3986 §3.2)', (t) => {
  const req = (target) => `GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`;
  for (const ok of ['http://example.com/p?q=1', 'http://example.com:8080/', 'http://[::1]:8080/x', 'https://user:pw@host.test/', 'http://host', 'http://a.b-c_d~e!$&\'()*+,;=f/']) {
    const out = frame([req(ok)]);
    t.same([out.errors, out.reqs.length], [[], 1], `framed: ${ok}`);
  }
  for (const bad of ['s://]ufd/:', 'http://host:8x/', 'http://[::1/', 'http://ho"st/', 'http://[::g]/', 'http://a@b@c{/']) {
    const out = frame([req(bad)]);
    t.same(out.errors.map((e) => e.status), [400], `rejected: ${bad}`);
  }
  t.end();
});

t.test('clean: only between requests with nothing held; attach hands a clean framer on', (t) => {
  const GET = 'GET / HTTP/1.1\r\nHost: h\r\n\r\n';
  t.equal(frame([]).framer.clean, true, 'new');
  t.equal(frame([GET]).framer.clean, true, 'after a whole request');
  t.equal(frame([GET + 'GET /x HT']).framer.clean, false, 'part of the next head in');
  t.equal(frame(['GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab']).framer.clean, false, 'part of a body in');
  t.equal(frame(['GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n']).framer.clean, false, 'closed');
  t.equal(frame(['GET / HTTP/1.1\r\n\r\n']).framer.clean, false, 'failed');
  t.equal(frame(['GET / HTTP/1.1\r\nHost: h\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n']).framer.clean, false, 'paused at an upgrade');
  // A pause requested in onRequest holds what follows: not clean, even with nothing after it.
  const paused = new Framer(LIMITS, { onRequest() { paused.pause(); }, onError() {} });
  paused.push(b(GET));
  t.equal(paused.clean, false, 'paused by the handler');

  // The same framer, attached to a second handler, reports to that one only.
  const first = frame([GET]);
  const seen = [];
  first.framer.attach({ onRequest(req) { seen.push(req.target); }, onError() {} });
  first.framer.push(b('GET /second HTTP/1.1\r\nHost: h\r\n\r\n'));
  t.same([first.reqs.length, seen], [1, ['/second']], 'the second request went to the new handler');
  t.end();
});

t.test('capture: the first value of each named field, trimmed, in the order asked; split-invariant', (t) => {
  const limits = { ...LIMITS, capture: ['x-request-id', 'referer', 'user-agent'] };
  const input = 'GET / HTTP/1.1\r\nHost: x\r\nUSER-AGENT:  curl/8.5 \t\r\nX-Request-Id: abc\r\nUser-Agent: second\r\nAccept: */*\r\n\r\n' +
    'GET /2 HTTP/1.1\r\nHost: x\r\nReferer: http://r.example/\r\n\r\n' +
    'GET /3 HTTP/1.1\r\nHost: x\r\n\r\n';
  const whole = frame(input, limits).reqs.map((r) => r.captured);
  t.same(whole, [['abc', null, 'curl/8.5'], [null, 'http://r.example/', null], null], 'first of each, OWS trimmed; null for absent; null for none');
  for (const chunks of [byteByByte(b(input)), ...[1, 2, 3, 4, 5].map((seed) => randomSplit(b(input), prng(seed), 12))]) {
    t.same(frame(chunks, limits).reqs.map((r) => r.captured), whole);
  }
  t.same(frame(input).reqs.map((r) => r.captured), [null, null, null], 'nothing asked: nothing captured');
  t.same(frame(input, { ...LIMITS, capture: [] }).reqs.map((r) => r.captured), [null, null, null], 'an empty list: the same');
  t.end();
});

t.test('capture: not from trailers; a framing field name is never captured; framing is unchanged', (t) => {
  const limits = { ...LIMITS, capture: ['user-agent', 'content-length'] };
  const chunked = 'POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nUser-Agent: in-trailer\r\n\r\n';
  const r = frame(chunked, limits);
  t.same(r.errors, []);
  t.same(r.reqs.map((q) => q.captured), [null], 'a captured name in the trailers: not captured, not refused');
  const cl = frame('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nUser-Agent: ua\r\n\r\nhi', limits);
  t.same(cl.reqs.map((q) => [q.bodyLength, q.captured]), [[2, ['ua', null]]], 'Content-Length frames the body and is not captured');
  const plain = frame(chunked + 'GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: ua\r\n\r\n');
  t.same(outcome(frame(chunked + 'GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: ua\r\n\r\n', limits)), outcome(plain), 'the same requests with capture on and off');
  t.end();
});

t.test('a streamed body piece is never read again after onBody: the handler may detach its buffer', async (t) => {
  /** A chunk that is the whole of its own ArrayBuffer, as node's socket reads are. */
  const own = (s) => { const x = Buffer.from(new ArrayBuffer(s.length)); x.write(s, 'latin1'); return x; };
  const body = 'x'.repeat(40) + '\r\n' + 'y'.repeat(30);
  const chunkedBody = `28\r\n${'a'.repeat(40)}\r\n1e\r\n${'b'.repeat(30)}\r\n0\r\n\r\n`;
  for (const [name, head, raw] of [
    ['content-length', `POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\n\r\n`, body],
    ['chunked', 'POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n', chunkedBody],
  ]) {
    const got = { reqs: [], body: [], ends: 0, errors: [], detached: 0 };
    const framer = new Framer({ ...LIMITS, bodyBuffer: 16 }, {
      onRequest(req) {
        got.reqs.push(req.target);
        // The body bytes the request itself carries (it streams: the rest comes in onBody).
        if (req.streamed) got.body.push(Buffer.concat(req.parts).subarray(req.headEnd).toString('latin1'));
      },
      onError(status) { got.errors.push(status); },
      onBody(data) {
        got.body.push(data.toString('latin1'));
        if (data.byteOffset === 0 && data.length === data.buffer.byteLength) {
          structuredClone(data.buffer, { transfer: [data.buffer] });
          got.detached++;
        }
      },
      onBodyEnd() { got.ends++; },
    });
    // Head (with a little body), then body pieces of their own, then the last piece with the next request.
    const all = head + raw + 'GET /next HTTP/1.1\r\nHost: h\r\n\r\n';
    const cuts = [head.length + 5, head.length + 20, head.length + 37, head.length + 44, head.length + raw.length - 3];
    let at = 0;
    for (const c of [...cuts, all.length]) {
      framer.push(own(all.slice(at, c)));
      at = c;
    }
    t.same(got.errors, [], `${name}: no error`);
    t.same(got.reqs, ['/u', '/next'], `${name}: both requests framed`);
    t.equal(got.body.join(''), raw, `${name}: the body bytes as sent`);
    t.equal(got.ends, 1);
    t.ok(got.detached >= 3, `${name}: ${got.detached} pieces were detached after onBody`);
  }
});
