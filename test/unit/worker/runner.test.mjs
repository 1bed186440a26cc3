// @ts-check
// The worker's request runner through its public surface only: T_REQUEST frames go in through
// frame(), and what comes out is read back from a real response ring (RingWriter / RingReader):
// one response frame per request, in its request's connection and request ids, with the flags the
// acceptor acts on. The app is a plain node:http listener. No worker thread, no acceptor.
import t from 'tap';
import { MessageChannel } from 'node:worker_threads';
import path from 'node:path';
import { root } from '../../helpers.mjs';

/** @type {typeof import('../../../dist/lib/worker/runner.js')} */
const { Runner } = await import(path.join(root, 'dist/lib/worker/runner.js'));
/** @type {typeof import('../../../dist/lib/ring/ring.js')} */
const { createRingBuffer, RingReader, RingWriter } = await import(path.join(root, 'dist/lib/ring/ring.js'));
/** @type {typeof import('../../../dist/lib/ring/control.js')} */
const { ControlBlock, createControlBuffer, WorkerControl } = await import(path.join(root, 'dist/lib/ring/control.js'));
/** @type {typeof import('../../../dist/lib/ring/layout.js')} */
const L = await import(path.join(root, 'dist/lib/ring/layout.js'));

/** @typedef {{ type: number, flags: number, connId: number, reqId: number, payload: Buffer }} Frame */
/** @typedef {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => unknown} Listener */

/**
 * A runner for `listener` writing to a response ring of its own; `frames()` reads what it
 * published since the last call, `lines` what it logged.
 * @param {import('tap').Test} t
 * @param {Listener} listener
 */
function setup(t, listener) {
  const sab = createRingBuffer(1 << 16);
  const ch = new MessageChannel();
  t.teardown(() => { ch.port1.close(); ch.port2.close(); });
  const controlSab = createControlBuffer(1);
  const block = new ControlBlock(controlSab);
  /** @type {Array<{ level: string, obj: unknown, msg: string }>} */
  const lines = [];
  /** @type {any} */
  const log = {};
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) log[level] = (/** @type {unknown} */ obj, /** @type {string} */ msg) => lines.push({ level, obj, msg });
  log.child = () => log;
  const runner = new Runner({
    listener,
    upgrade: null,
    writer: new RingWriter(sab, ch.port1),
    acceptorBell: block.acceptorBell(),
    control: new WorkerControl(controlSab, 0),
    log,
    maxHeaderSize: 16384,
    keepAliveMs: 5000,
    serverHeader: false,
    requestIdHeader: 'x-request-id',
  });
  const reader = new RingReader(sab, ch.port2);
  return {
    runner,
    lines,
    /** @returns {Frame[]} */
    frames() {
      /** @type {Frame[]} */
      const got = [];
      reader.read((type, flags, connId, reqId, payload) => { got.push({ type, flags, connId, reqId, payload: Buffer.from(payload) }); });
      return got;
    },
  };
}

/**
 * A T_REQUEST payload as the acceptor builds it (the sub-header of the ring layout, then the
 * request's bytes): the client's port and address, the request id (none: empty).
 * @param {string} http the request, latin1
 * @param {{ port?: number, address?: string, requestId?: string }} [peer]
 */
function requestPayload(http, { port = 40000, address = '10.1.2.3', requestId = '' } = {}) {
  const sub = Buffer.alloc(3 + address.length + 1 + requestId.length);
  sub.writeUInt16LE(port, 0);
  sub[2] = address.length;
  sub.write(address, 3, 'latin1');
  sub[3 + address.length] = requestId.length;
  sub.write(requestId, 4 + address.length, 'latin1');
  return Buffer.concat([sub, Buffer.from(http, 'latin1')]);
}

/** @param {Buffer} payload */
const text = (payload) => payload.toString('latin1');
/** @param {number} ms */
const turn = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/**
 * Read frames until one for `reqId` has FL_END, or `ms` pass.
 * @param {{ frames(): Frame[] }} s
 * @param {number} reqId
 * @returns {Promise<Frame[]>} every frame read meanwhile
 */
async function untilEnd(s, reqId, ms = 2000) {
  /** @type {Frame[]} */
  const all = [];
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    all.push(...s.frames());
    if (all.some((f) => f.reqId === reqId && (f.flags & L.FL_END) !== 0)) return all;
    await turn(5);
  }
  return all;
}

t.test('a request frame in, one END response frame out with its ids, before frame() returns', async (t) => {
  const s = setup(t, (req, res) => res.end(`hello ${req.method} ${req.url}`));
  s.runner.frame(L.T_REQUEST, L.FL_KEEP_ALIVE, 7, 42, requestPayload('GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n'));
  const out = s.frames();
  t.equal(out.length, 1, 'one frame, published inside frame()');
  const f = out[0];
  t.same([f?.type, f?.flags, f?.connId, f?.reqId], [L.T_RESPONSE, L.FL_END, 7, 42], 'T_RESPONSE, END, the request\'s connection and request ids');
  t.match(text(f?.payload ?? Buffer.alloc(0)), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nhello GET \/a\?b=1$/, 'the response bytes, verbatim');
  t.equal(s.runner.inflight, 0, 'nothing in flight after it');
});

t.test('the sub-header reaches the app: peer address and port, TLS, the request id', async (t) => {
  /** @type {any} */
  let seen = null;
  const s = setup(t, (req, res) => {
    seen = { address: req.socket.remoteAddress, port: req.socket.remotePort, encrypted: /** @type {any} */ (req.socket).encrypted === true, id: req.headers['x-request-id'] };
    res.end();
  });
  s.runner.frame(L.T_REQUEST, L.FL_TLS, 1, 1, requestPayload('GET / HTTP/1.1\r\nHost: x\r\n\r\n', { port: 51234, address: '192.0.2.9', requestId: 'abc-123' }));
  t.same(seen, { address: '192.0.2.9', port: 51234, encrypted: true, id: 'abc-123' });
  s.runner.frame(L.T_REQUEST, 0, 1, 2, requestPayload('GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: mine\r\n\r\n', { address: '', port: 0 }));
  t.same([seen?.address, seen?.encrypted, seen?.id], [undefined, false, 'mine'], 'no address (a unix socket), no id: the client\'s own header stays');
});

t.test('FL_LAST: the response says Connection: close and its frame has FL_CLOSE', async (t) => {
  const s = setup(t, (_req, res) => res.end('bye'));
  s.runner.frame(L.T_REQUEST, L.FL_KEEP_ALIVE | L.FL_LAST, 3, 9, requestPayload('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  const [f] = s.frames();
  t.equal(f?.flags, L.FL_END | L.FL_CLOSE);
  t.match(text(f?.payload ?? Buffer.alloc(0)), /\r\nConnection: close\r\n/i);
});

t.test('async handlers: each response leaves when it ends, tagged with its own request', async (t) => {
  /** @type {Map<string, () => void>} */
  const answer = new Map();
  const s = setup(t, (req, res) => { answer.set(String(req.url), () => res.end(String(req.url))); });
  s.runner.frame(L.T_REQUEST, 0, 1, 11, requestPayload('GET /one HTTP/1.1\r\nHost: x\r\n\r\n'));
  s.runner.frame(L.T_REQUEST, 0, 2, 12, requestPayload('GET /two HTTP/1.1\r\nHost: x\r\n\r\n'));
  t.same(s.frames(), [], 'nothing while both wait');
  t.equal(s.runner.inflight, 2);
  answer.get('/two')?.();
  const two = await untilEnd(s, 12);
  t.same(two.map((f) => [f.connId, f.reqId, f.flags]), [[2, 12, L.FL_END]], 'the second answered first goes out first');
  t.match(text(two[0]?.payload ?? Buffer.alloc(0)), /\/two$/);
  answer.get('/one')?.();
  const one = await untilEnd(s, 11);
  t.same(one.map((f) => [f.connId, f.reqId, f.flags]), [[1, 11, L.FL_END]]);
  t.equal(s.runner.inflight, 0);
});

t.test('a streamed response: pieces in frames without END, then END; T_CREDIT lets it go on', async (t) => {
  /** @type {import('node:http').ServerResponse | null} */
  let res = null;
  const s = setup(t, (_req, r) => {
    res = r;
    r.writeHead(200, { 'content-type': 'text/plain' });
    r.write('first ');
  });
  s.runner.frame(L.T_REQUEST, 0, 5, 21, requestPayload('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n'));
  await turn(10);
  const first = s.frames();
  t.ok(first.length >= 1 && first.every((f) => f.reqId === 21 && (f.flags & L.FL_END) === 0), 'the head and first piece, not ended');
  t.match(text(Buffer.concat(first.map((f) => f.payload))), /^HTTP\/1\.1 200 OK\r\n[^]*transfer-encoding: chunked\r\n\r\n6\r\nfirst \r\n$/i);
  // The acceptor wrote those bytes to its client: it grants them back.
  const credit = Buffer.alloc(4);
  credit.writeUInt32LE(first.reduce((n, f) => n + f.payload.length, 0));
  s.runner.frame(L.T_CREDIT, 0, 5, 21, credit);
  /** @type {any} */ (res)?.end('last');
  const rest = await untilEnd(s, 21);
  const last = rest[rest.length - 1];
  t.ok(last !== undefined && (last.flags & L.FL_END) !== 0 && (last.flags & L.FL_ABORT) === 0, 'then an END frame');
  t.match(text(Buffer.concat(rest.map((f) => f.payload))), /4\r\nlast\r\n0\r\n\r\n$/, 'with the last piece and the chunked end');
});

t.test('T_CANCEL: the client went away, the handler sees close, the response ends with ABORT', async (t) => {
  let closed = false;
  const s = setup(t, (req, res) => {
    res.on('close', () => (closed = true));
    res.writeHead(200);
    res.write('x');
    void req;
  });
  s.runner.frame(L.T_REQUEST, 0, 4, 31, requestPayload('GET /forever HTTP/1.1\r\nHost: x\r\n\r\n'));
  await turn(10);
  s.frames();
  t.equal(s.runner.inflight, 1);
  s.runner.frame(L.T_CANCEL, 0, 4, 31, Buffer.alloc(0));
  const out = await untilEnd(s, 31);
  const last = out[out.length - 1];
  t.ok(last !== undefined && (last.flags & (L.FL_END | L.FL_ABORT)) === (L.FL_END | L.FL_ABORT), 'END | ABORT');
  await turn(10);
  t.ok(closed, 'the response emitted close');
  t.equal(s.runner.inflight, 0);
});

t.test('a stale T_CREDIT or T_CANCEL (no such request) is ignored', async (t) => {
  const s = setup(t, (_req, res) => res.end('ok'));
  const credit = Buffer.alloc(4);
  credit.writeUInt32LE(100);
  s.runner.frame(L.T_CREDIT, 0, 1, 999, credit);
  s.runner.frame(L.T_CANCEL, 0, 1, 999, Buffer.alloc(0));
  t.same(s.frames(), []);
  s.runner.frame(L.T_REQUEST, 0, 1, 1000, requestPayload('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  t.same(s.frames().map((f) => [f.reqId, f.flags]), [[1000, L.FL_END]], 'and the next request is served');
});

t.test('a handler that throws: 500 for its request, an error line, and the runner goes on', async (t) => {
  const s = setup(t, (req, res) => {
    if (req.url === '/boom') throw new Error('boom');
    res.end('fine');
  });
  s.runner.frame(L.T_REQUEST, 0, 1, 41, requestPayload('GET /boom HTTP/1.1\r\nHost: x\r\n\r\n'));
  const out = await untilEnd(s, 41);
  t.match(text(Buffer.concat(out.map((f) => f.payload))), /^HTTP\/1\.1 500 /);
  t.ok(s.lines.some((l) => l.level === 'error' && l.msg === 'handler threw'), 'logged');
  s.runner.frame(L.T_REQUEST, 0, 1, 42, requestPayload('GET /ok HTTP/1.1\r\nHost: x\r\n\r\n'));
  const ok = await untilEnd(s, 42);
  t.match(text(Buffer.concat(ok.map((f) => f.payload))), /^HTTP\/1\.1 200 [^]*fine$/);
});

t.test('a request body in the frame reaches the app whole', async (t) => {
  /** @type {string | null} */
  let body = null;
  const s = setup(t, (req, res) => {
    let b = '';
    req.setEncoding('latin1');
    req.on('data', (c) => (b += c));
    req.on('end', () => { body = b; res.end(String(b.length)); });
  });
  s.runner.frame(L.T_REQUEST, 0, 1, 51, requestPayload('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world'));
  const out = await untilEnd(s, 51);
  t.equal(body, 'hello world');
  t.match(text(Buffer.concat(out.map((f) => f.payload))), /\r\n\r\n11$/);
});
