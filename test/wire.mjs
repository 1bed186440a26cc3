// Raw HTTP/1.1 clients over plain TCP to 127.0.0.1, for the tests that need to see or shape the
// bytes themselves. `RawConn`: one connection, bytes written whole or in seeded random pieces, and
// a strict incremental reader that hands back one response at a time (interim 1xx responses
// included, so the caller can skip them), notices when the server closes, and reports anything
// that is not a well-formed HTTP/1.1 response. On top of it: `rawGet()` (one GET, one response),
// `rawClient()` (a connection that records everything it reads until the server closes) and
// `countingGet()` (a GET whose body is counted, not kept, for responses of many MiB). Every wait
// has a timeout.
import net from 'node:net';

/**
 * @typedef {{ status: number, headers: Record<string, string>, body: Buffer }} RawResponse
 * @typedef {{ response: RawResponse, malformed?: undefined, closed?: undefined, timeout?: undefined }
 *   | { malformed: string, response?: undefined, closed?: undefined, timeout?: undefined }
 *   | { closed: true, response?: undefined, malformed?: undefined, timeout?: undefined }
 *   | { timeout: true, partial: number, response?: undefined, malformed?: undefined, closed?: undefined }} NextResult
 *   What `RawConn.next()` and `rawGet()` resolve: a response, a malformed one, the server's close
 *   with nothing pending, or nothing complete in time (`partial`: the bytes read so far).
 */

/**
 * Cut points for `len` bytes into 2..~40 random pieces (small for small requests).
 * @param {number} len
 * @param {() => number} rnd a seeded generator of numbers in [0, 1)
 * @returns {number[]}
 */
export function randomCuts(len, rnd) {
  if (len < 2) return [];
  const want = Math.min(len - 1, 1 + Math.floor(rnd() * 40));
  const cuts = new Set();
  for (let k = 0; k < want; k++) cuts.add(1 + Math.floor(rnd() * (len - 1)));
  return [...cuts].sort((a, b) => a - b);
}

/**
 * `buf` cut at `cuts` (ascending offsets).
 * @param {Buffer} buf
 * @param {number[]} cuts
 * @returns {Buffer[]}
 */
export function piecesOf(buf, cuts) {
  const out = [];
  let prev = 0;
  for (const c of cuts) { out.push(buf.subarray(prev, c)); prev = c; }
  out.push(buf.subarray(prev));
  return out;
}

const STATUS_LINE = /^HTTP\/1\.1 (\d{3}) [\t -~\x80-\xff]*$/;

/**
 * Parse one response at the start of `buf`. Returns { need: true } when more bytes are needed,
 * { malformed: reason } when it is not HTTP/1.1, else { response, used }. `head`: the request was
 * HEAD (no body follows). `eof`: the server closed, so a body delimited by close is complete.
 * @param {Buffer} buf
 * @param {{ head?: boolean, eof?: boolean }} [options]
 * @returns {{ need: true, malformed?: undefined, response?: undefined }
 *   | { malformed: string, need?: undefined, response?: undefined }
 *   | { response: RawResponse, used: number, need?: undefined, malformed?: undefined }}
 */
export function parseOne(buf, { head = false, eof = false } = {}) {
  if (buf.length === 0) return { need: true };
  const prefix = Buffer.from('HTTP/1.1 ');
  const n = Math.min(buf.length, prefix.length);
  if (buf.compare(prefix, 0, n, 0, n) !== 0) return { malformed: `does not start with "HTTP/1.1 ": ${JSON.stringify(buf.subarray(0, 40).toString('latin1'))}` };
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return buf.length > 65536 ? { malformed: 'response head over 64 KiB' } : { need: true };
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = STATUS_LINE.exec(lines[0]);
  if (!m) return { malformed: `bad status line ${JSON.stringify(lines[0])}` };
  const status = Number(m[1]);
  /** @type {Record<string, string>} */
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0 || /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(line.slice(0, i))) return { malformed: `bad header line ${JSON.stringify(line)}` };
    const name = line.slice(0, i).toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  let pos = end + 4;
  /** @type {Buffer} */
  let body = Buffer.alloc(0);
  if (status < 200 || status === 204 || status === 304 || head) {
    // no body
  } else if (headers['transfer-encoding'] !== undefined) {
    if (!/^chunked$/i.test(headers['transfer-encoding'])) return { malformed: `transfer-encoding ${headers['transfer-encoding']}` };
    const parts = [];
    for (;;) {
      const le = buf.indexOf('\r\n', pos);
      if (le < 0) return { need: true };
      const size = parseInt(buf.subarray(pos, le).toString('latin1'), 16);
      if (!(size >= 0)) return { malformed: 'bad chunk size' };
      if (size === 0) {
        if (buf.length < le + 4) return { need: true };
        if (buf[le + 2] === 0x0d && buf[le + 3] === 0x0a) {
          pos = le + 4; // no trailers
        } else {
          const te = buf.indexOf('\r\n\r\n', le + 2);
          if (te < 0) return { need: true };
          pos = te + 4;
        }
        break;
      }
      if (buf.length < le + 2 + size + 2) return { need: true };
      parts.push(buf.subarray(le + 2, le + 2 + size));
      pos = le + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    if (!/^\d+$/.test(headers['content-length'])) return { malformed: `content-length ${headers['content-length']}` };
    const len = Number(headers['content-length']);
    if (buf.length < pos + len) return { need: true };
    body = buf.subarray(pos, pos + len);
    pos += len;
  } else {
    if (!eof) return { need: true };
    body = buf.subarray(pos);
    pos = buf.length;
  }
  return { response: { status, headers, body }, used: pos };
}

export class RawConn {
  /**
   * Connect to `port` on 127.0.0.1.
   * @param {number} port
   * @param {string} [host]
   * @returns {Promise<RawConn>}
   */
  static open(port, host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host, noDelay: true }, () => {
        s.off('error', reject);
        resolve(new RawConn(s));
      });
      s.once('error', reject);
    });
  }

  /** @param {net.Socket} socket */
  constructor(socket) {
    this.socket = socket;
    /** @type {Buffer} */
    this.buf = Buffer.alloc(0);
    this.closed = false; // the server ended or reset the connection
    this.reset = false;
    /** @type {(() => void) | null} */
    this.wake = null;
    socket.on('data', (c) => { this.buf = this.buf.length ? Buffer.concat([this.buf, c]) : c; this.poke(); });
    socket.on('end', () => { this.closed = true; this.poke(); });
    socket.on('close', () => { this.closed = true; this.poke(); });
    socket.on('error', (/** @type {NodeJS.ErrnoException} */ err) => { if (err.code === 'ECONNRESET') this.reset = true; this.closed = true; this.poke(); });
  }

  poke() {
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }

  /**
   * Write all of `buf`, in pieces at `cuts` with an event-loop turn between pieces; false when
   * the connection closed first.
   * @param {Buffer} buf
   * @param {number[]} [cuts]
   * @returns {Promise<boolean>}
   */
  async send(buf, cuts = []) {
    const pieces = cuts.length === 0 ? [buf] : piecesOf(buf, cuts);
    for (let i = 0; i < pieces.length; i++) {
      if (this.closed || this.socket.destroyed) return false;
      this.socket.write(pieces[i]);
      if (i < pieces.length - 1) await new Promise((r) => setImmediate(r));
    }
    return true;
  }

  /** Half-close: the client has nothing more to send. */
  end() {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy() {
    this.socket.destroy();
  }

  /**
   * The next response: { response } | { malformed } | { closed: true } (server closed, nothing
   * pending) | { timeout: true, partial } (nothing complete within ms).
   * @param {number} ms
   * @param {{ head?: boolean }} [options] `head`: the request was HEAD
   * @returns {Promise<NextResult>}
   */
  async next(ms, { head = false } = {}) {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = parseOne(this.buf, { head, eof: this.closed });
      if (r.malformed) return { malformed: r.malformed };
      if (r.response) {
        this.buf = this.buf.subarray(r.used);
        return { response: r.response };
      }
      if (this.closed) {
        return this.buf.length === 0 ? { closed: true } : { malformed: `connection closed inside a response: ${JSON.stringify(this.buf.subarray(0, 60).toString('latin1'))}` };
      }
      const left = deadline - Date.now();
      if (left <= 0) return { timeout: true, partial: this.buf.length };
      await /** @type {Promise<void>} */ (new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => { clearTimeout(timer); resolve(); };
      }));
    }
  }

  /**
   * Wait until the server closes (true) or ms pass (false).
   * @param {number} ms
   * @returns {Promise<boolean>}
   */
  async waitClose(ms) {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await /** @type {Promise<void>} */ (new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => { clearTimeout(timer); resolve(); };
      }));
    }
    return true;
  }
}

/**
 * GET `path` on a connection of its own and read one response (the connection is closed after).
 * @param {number} port
 * @param {string} path
 * @param {{ ms?: number, headers?: string }} [options] `ms`: how long to wait for the response;
 *   `headers`: more header lines, each ending in CRLF
 * @returns {Promise<NextResult>}
 */
export async function rawGet(port, path, { ms = 5000, headers = '' } = {}) {
  const c = await RawConn.open(port);
  try {
    await c.send(Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`, 'latin1'));
    return await c.next(ms);
  } finally {
    c.destroy();
  }
}

/**
 * @typedef {object} RawClient
 * @property {net.Socket} socket
 * @property {() => string} text everything read so far, as latin1 text
 * @property {Promise<{ text: string, closed: boolean }>} closed resolves once the server closes
 *   the connection (`closed: true`), or once `ms` pass or the test destroys the socket (`closed:
 *   false`; the socket is destroyed), with everything read
 */

/**
 * A raw connection that records everything it reads until it closes; `send` is written at once.
 * @param {number} port
 * @param {{ send?: string | Buffer, ms?: number }} [options] `send`: latin1 text or bytes;
 *   `ms`: the longest the connection is kept open
 * @returns {Promise<RawClient>}
 */
export async function rawClient(port, { send, ms = 15000 } = {}) {
  const socket = await openSocket(port);
  let text = '';
  let timedOut = false;
  socket.on('data', (c) => (text += c.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise((resolve) => {
    const timer = setTimeout(() => { timedOut = true; socket.destroy(); }, ms);
    // 'end' means the server closed its side; a close without it is the test's destroy() or a reset.
    let ended = false;
    socket.on('end', () => (ended = true));
    socket.on('close', (hadError) => {
      clearTimeout(timer);
      resolve({ text, closed: !timedOut && (ended || hadError) });
    });
  });
  if (send !== undefined) socket.write(typeof send === 'string' ? Buffer.from(send, 'latin1') : send);
  return { socket, text: () => text, closed };
}

/**
 * @typedef {object} CountingGet
 * @property {net.Socket} socket
 * @property {string} head the response head (latin1, without the blank line)
 * @property {number} body body bytes received so far (chunk framing included)
 * @property {boolean} closed whether the connection has closed
 */

/**
 * GET `path` on a connection of its own; resolves once the response head has arrived, then keeps
 * counting the body bytes in `body` without keeping them. Rejects, and destroys the socket, when
 * no head arrives within `ms`. The caller destroys the socket.
 * @param {number} port
 * @param {string} path
 * @param {{ ms?: number }} [options]
 * @returns {Promise<CountingGet>}
 */
export async function countingGet(port, path, { ms = 15000 } = {}) {
  const socket = await openSocket(port);
  /** @type {CountingGet} */
  const st = { socket, head: '', body: 0, closed: false };
  socket.on('error', () => {});
  socket.on('close', () => (st.closed = true));
  await new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`GET ${path}: no response head within ${ms} ms`));
    }, ms);
    socket.on('data', (c) => {
      if (st.head !== '') {
        st.body += c.length;
        return;
      }
      buf = Buffer.concat([buf, c]);
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      clearTimeout(timer);
      st.head = buf.subarray(0, i).toString('latin1');
      st.body += buf.length - i - 4;
      resolve(undefined);
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
  return st;
}

/**
 * A plain TCP connection to `port` on 127.0.0.1 (Nagle off).
 * @param {number} port
 * @returns {Promise<net.Socket>}
 */
function openSocket(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * Run `fn` over `items` with at most `limit` in flight; results in item order.
 * @template T, R
 * @param {T[]} items
 * @param {number} limit
 * @param {(item: T, index: number) => Promise<R>} fn
 * @returns {Promise<R[]>}
 */
export async function pool(items, limit, fn) {
  /** @type {R[]} */
  const out = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return out;
}
