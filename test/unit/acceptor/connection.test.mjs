// @ts-check
// Connection (the acceptor's side of one client connection) through its public surface: client
// bytes go in as the socket's 'data', 'end' and 'close' events; framed requests come out to a
// stand-in host (submit, streamControl, expire, closed), responses go in through deliver() and
// come out as the socket's writes. The socket is a stand-in too, so that what is written, paused
// or ended is seen exactly. No threads, no network.
import t from 'tap';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { root } from '../../helpers.mjs';
import { standInWorker } from '../stand-ins.mjs';

/** @type {typeof import('../../../dist/lib/acceptor/connection.js')} */
const { Connection } = await import(path.join(root, 'dist/lib/acceptor/connection.js'));
/** @type {typeof import('../../../dist/lib/ring/layout.js')} */
const L = await import(path.join(root, 'dist/lib/ring/layout.js'));

/** @typedef {import('../../../dist/lib/acceptor/connection.js').Exchange} Exchange */
/** @typedef {import('../../../dist/lib/acceptor/framer.js').FramedRequest} FramedRequest */

/** A socket that records what the connection writes and whether it reads. */
class FakeSocket extends EventEmitter {
  remoteAddress = '10.0.0.1';
  remotePort = 1234;
  writableLength = 0;
  /** write() returns false (the kernel's buffer is full) while set. */
  blocked = false;
  paused = false;
  destroyed = false;
  ended = false;
  /** @type {Buffer[]} */
  written = [];
  cork() {}
  uncork() {}
  /** @param {Buffer} b */
  write(b) {
    this.written.push(Buffer.from(b));
    return !this.blocked;
  }
  end() { this.ended = true; }
  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
  pause() { this.paused = true; return this; }
  resume() { this.paused = false; return this; }
  isPaused() { return this.paused; }
  /** Everything written, latin1. */
  text() { return Buffer.concat(this.written).toString('latin1'); }
}

/**
 * A connection on a stand-in socket and host. `submitted`: the exchanges handed to the host, with
 * their framed requests; `controls`: [exchange id, frame type, value] of streamControl.
 * @param {import('tap').Test} t
 * @param {Partial<import('../../../dist/lib/acceptor/connection.js').ConnectionOptions>} [options]
 */
function setup(t, options = {}) {
  const socket = new FakeSocket();
  /** @type {Array<{ ex: Exchange, req: FramedRequest }>} */
  const submitted = [];
  /** @type {Array<[number, number, number]>} */
  const controls = [];
  /** @type {Exchange[]} */
  const expired = [];
  let closed = 0;
  const host = {
    clock: 1000,
    /** @param {Exchange} ex @param {FramedRequest} req */
    submit(ex, req) { submitted.push({ ex, req }); },
    /** @param {import('../../../dist/lib/acceptor/connection.js').Connection} conn */
    corked(conn) { conn.isCorked = false; },
    closed() { closed++; },
    trustsProxy() { return false; },
    /** @param {Exchange} ex @param {number} type @param {number} value */
    streamControl(ex, type, value) { controls.push([ex.id, type, value]); },
    toWorker() {},
    /** @param {Exchange} ex */
    expire(ex) { expired.push(ex); return true; },
  };
  const opts = {
    limits: { requestLine: 8192, fields: 100, fieldSize: 8192, body: 1 << 20 },
    maxRequests: 0,
    headerTimeoutMs: 5000,
    minBodyRate: 0,
    frameFlags: 0,
    streamIdleMs: 0,
    responseTimeoutMs: 0,
    sendTimeoutMs: 0,
    ...options,
  };
  const conn = new Connection(1, /** @type {any} */ (socket), opts, host);
  t.teardown(() => socket.destroy());
  return {
    conn, socket, host, submitted, controls, expired,
    closed: () => closed,
    /** @param {string} s */
    send: (s) => socket.emit('data', Buffer.from(s, 'latin1')),
  };
}

/** @param {string} path @param {string} [extra] */
const GET = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
/** @param {string} body @param {string} [extra] */
const OK = (body, extra = '') => Buffer.from(`HTTP/1.1 200 OK\r\n${extra}Content-Length: ${body.length}\r\n\r\n${body}`, 'latin1');
const tick = () => new Promise((r) => setImmediate(r));

/** @param {string} text */
const bodies = (text) => [...text.matchAll(/\r\n\r\n([^H]*)/g)].map((m) => m[1]);

t.test('pipelined responses go out in request order, whatever order they come back in', async (t) => {
  const c = setup(t);
  c.send(GET('/1') + GET('/2') + GET('/3'));
  t.same(c.submitted.map((s) => s.req.target), ['/1', '/2', '/3'], 'three safe requests, all dispatched at once');
  t.equal(c.conn.owed, 3);
  const [a, b, d] = c.submitted.map((s) => s.ex);
  if (a === undefined || b === undefined || d === undefined) return;
  c.conn.deliver(d, OK('three'), true, false);
  c.conn.deliver(b, OK('two'), true, false);
  t.equal(c.socket.text(), '', 'nothing before the first response');
  c.conn.deliver(a, OK('one'), true, false);
  t.same(bodies(c.socket.text()), ['one', 'two', 'three'], 'then all three, in order');
  t.equal(c.conn.owed, 0);
  t.notOk(c.socket.ended, 'the connection stays open (keep-alive)');
});

t.test('a streamed response held behind an earlier one is written and credited when it reaches the head', async (t) => {
  const c = setup(t);
  c.send(GET('/slow') + GET('/stream'));
  const [a, b] = c.submitted.map((s) => s.ex);
  if (a === undefined || b === undefined) return;
  const piece = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n', 'latin1');
  c.conn.deliver(b, piece, false, false);
  t.equal(c.socket.text(), '', 'held');
  t.same(c.controls, [], 'no credit for bytes not written');
  c.conn.deliver(a, OK('first'), true, false);
  t.ok(c.socket.text().endsWith('3\r\nabc\r\n'), 'written after the first response');
  t.same(c.controls, [[b.id, L.T_CREDIT, piece.length]], 'and granted back to the worker');
  c.socket.blocked = true;
  c.conn.deliver(b, Buffer.from('1\r\nd\r\n'), false, false);
  t.equal(c.controls.length, 1, 'no credit while the socket is write-blocked');
  c.socket.blocked = false;
  c.socket.emit('drain');
  t.same(c.controls[1], [b.id, L.T_CREDIT, 6], 'granted at drain');
});

t.test('an unsafe request waits for the responses before it, and the requests after it wait for it', async (t) => {
  const c = setup(t);
  c.send(GET('/a') + 'POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi' + GET('/c'));
  t.same(c.submitted.map((s) => s.req.target), ['/a'], 'only the GET before the POST runs');
  const a = c.submitted[0]?.ex;
  if (a === undefined) return;
  c.conn.deliver(a, OK('a'), true, false);
  t.same(c.submitted.map((s) => s.req.target), ['/a', '/b'], 'the POST once /a is done');
  const b = c.submitted[1]?.ex;
  if (b === undefined) return;
  c.conn.deliver(b, OK('b'), true, false);
  t.same(c.submitted.map((s) => s.req.target), ['/a', '/b', '/c'], '/c once the POST is done');
});

t.test('past 32 owed responses the connection stops reading; it reads again as they are answered', async (t) => {
  const c = setup(t);
  c.send(Array.from({ length: 40 }, (_, i) => GET(`/${i}`)).join(''));
  t.equal(c.submitted.length, 32, 'at most 32 framed');
  t.ok(c.socket.isPaused(), 'reading paused');
  const first = c.submitted[0]?.ex;
  if (first === undefined) return;
  c.conn.deliver(first, OK('0'), true, false);
  t.notOk(c.socket.isPaused(), 'reading again');
  await tick(); // held requests are framed on a later turn
  t.equal(c.submitted.length, 33, 'the next held request is framed');
});

t.test('--max-requests-per-connection: the last one closes, what follows is not run', async (t) => {
  const c = setup(t, { maxRequests: 2 });
  c.send(GET('/1') + GET('/2') + GET('/3'));
  t.same(c.submitted.map((s) => [s.req.target, s.ex.last]), [['/1', false], ['/2', true]], 'the second is the last');
  const [a, b] = c.submitted.map((s) => s.ex);
  if (a === undefined || b === undefined) return;
  c.conn.deliver(a, OK('1'), true, false);
  c.conn.deliver(b, OK('2', 'Connection: close\r\n'), true, true);
  t.same(bodies(c.socket.text()), ['1', '2']);
  t.ok(c.socket.ended, 'then the connection ends');
  t.equal(c.submitted.length, 2, '/3 never runs');
});

t.test('a malformed request is answered 400 after the responses before it, then the connection ends', async (t) => {
  const c = setup(t);
  c.send(GET('/ok') + 'BAD\r\n\r\n');
  t.equal(c.submitted.length, 1);
  t.equal(c.socket.text(), '', 'the 400 waits for /ok');
  const a = c.submitted[0]?.ex;
  if (a === undefined) return;
  c.conn.deliver(a, OK('ok'), true, false);
  t.match(c.socket.text(), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nokHTTP\/1\.1 400 /, '/ok\'s 200, then the 400');
  t.ok(c.socket.ended, 'and the connection ends');
});

t.test('--header-timeout: a head not in within the timeout gets 408; a paused connection is not timed', async (t) => {
  const c = setup(t, { headerTimeoutMs: 2000 });
  c.send('GET / HTTP/1.1\r\nHost: x\r\n');
  c.conn.checkTimeouts(2500);
  t.equal(c.socket.text(), '', 'within the timeout');
  c.conn.checkTimeouts(3100);
  t.match(c.socket.text(), /^HTTP\/1\.1 408 /, 'past it: 408');
  t.ok(c.socket.ended);
});

t.test('--min-body-rate: a body arriving slower than the rate gets 408 once the header timeout has passed', async (t) => {
  const c = setup(t, { headerTimeoutMs: 1000, minBodyRate: 1000 });
  c.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n' + 'x'.repeat(100));
  c.conn.checkTimeouts(1900); // the connection's clock started at 1000
  t.equal(c.socket.text(), '', 'not judged within the header timeout');
  c.conn.checkTimeouts(2500);
  t.match(c.socket.text(), /^HTTP\/1\.1 408 /, 'about 150 bytes in 1.5 s is under 1000 bytes/s: 408');
});

t.test('--response-timeout: the host is asked to expire a request whose response has not begun', async (t) => {
  const c = setup(t, { responseTimeoutMs: 5000 });
  c.send(GET('/a') + GET('/b'));
  const [a, b] = c.submitted.map((s) => s.ex);
  if (a === undefined || b === undefined) return;
  c.conn.deliver(b, Buffer.from('HTTP/1.1 200 OK\r\n', 'latin1'), false, false); // /b's response has begun (held)
  c.conn.checkTimeouts(5900);
  t.same(c.expired, [], 'not before the limit');
  c.conn.checkTimeouts(6100);
  t.same(c.expired.map((ex) => ex.id), [a.id], 'only /a, whose response has not begun');
});

t.test('--send-timeout: a client that takes none of the waiting bytes is closed', async (t) => {
  const c = setup(t, { sendTimeoutMs: 2000 });
  c.send(GET('/'));
  const a = c.submitted[0]?.ex;
  if (a === undefined) return;
  c.socket.writableLength = 100000;
  c.conn.deliver(a, OK('x'.repeat(10)), true, false);
  c.conn.checkTimeouts(1000);
  c.conn.checkTimeouts(2500);
  t.notOk(c.socket.destroyed, 'within the timeout');
  c.conn.checkTimeouts(3100);
  t.ok(c.socket.destroyed, 'closed past it');
});

t.test('the client closes: requests a worker has get T_CANCEL, the host hears of the close', async (t) => {
  const c = setup(t);
  c.send(GET('/a') + GET('/b'));
  const [a, b] = c.submitted.map((s) => s.ex);
  if (a === undefined || b === undefined) return;
  a.worker = standInWorker(0).channel; // the dispatcher gave /a to a worker; /b waits in its queue
  c.socket.destroy();
  t.same(c.controls, [[a.id, L.T_CANCEL, 0]], 'only the dispatched one');
  t.equal(c.closed(), 1);
  t.ok(c.conn.gone);
  c.conn.deliver(a, OK('late'), true, false);
  t.same(c.socket.written, [], 'a late response is dropped');
});

t.test('a client half-close: what is answered goes out in order, then the connection ends', async (t) => {
  const c = setup(t);
  c.send(GET('/a') + GET('/b'));
  const [a, b] = c.submitted.map((s) => s.ex);
  if (a === undefined || b === undefined) return;
  a.worker = standInWorker(0).channel; a.seq = 0;
  c.socket.emit('end');
  t.same(c.controls, [[a.id, L.T_CANCEL, 0]], 'written to a worker: cancelled (it answers at once or not at all)');
  c.conn.deliver(a, OK('a'), true, false);
  c.conn.deliver(b, OK('b'), true, false);
  t.same(bodies(c.socket.text()), ['a', 'b']);
  t.ok(c.socket.ended, 'then ended');
});
