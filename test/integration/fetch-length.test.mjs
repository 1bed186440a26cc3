// A Fetch-style app's response gets Content-Length when its body's size is known (string,
// ArrayBuffer, typed array, Blob, URLSearchParams, Response.json), as node:http gives res.end(data):
// HTTP/1.0 keep-alive clients need it to reuse the connection. A stream body stays chunked.
import t from 'tap';
import { connect, fixture, portOf, startServer } from '../helpers.mjs';
import { bodyOf } from '../app-helpers.mjs';

const h = await startServer(t, { app: fixture('fetch-bodies.mjs'), threads: 1 });
const port = portOf(h);

/** Requests on one connection, one after the other; resolves each response's head and body, and whether the server closed. */
async function onOneConnection(requests, ms = 5000) {
  const s = await connect(port);
  let buf = Buffer.alloc(0);
  let closed = false;
  s.on('data', (c) => { buf = Buffer.concat([buf, c]); });
  s.on('close', () => { closed = true; });
  s.on('error', () => {});
  const out = [];
  for (const req of requests) {
    buf = Buffer.alloc(0);
    s.write(req);
    const end = Date.now() + ms;
    let r = null;
    while (Date.now() < end) {
      r = complete(buf.toString('latin1'), req.startsWith('HEAD'));
      if (r !== null || closed) break;
      await new Promise((res) => setTimeout(res, 5));
    }
    if (r === null) r = { head: buf.toString('latin1'), headers: {}, body: null };
    out.push(r);
    if (closed) break;
  }
  // Give a close that follows the last response a moment to arrive.
  await new Promise((res) => setTimeout(res, 50));
  s.destroy();
  return { responses: out, closed };
}

/** One complete response at the start of `text` (by Content-Length, chunked, or head only), or null. */
function complete(text, head) {
  const at = text.indexOf('\r\n\r\n');
  if (at < 0) return null;
  const lines = text.slice(0, at).split('\r\n');
  const headers = {};
  for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
  const rest = text.slice(at + 4);
  const r = { status: Number(lines[0].split(' ')[1]), headers, body: '' };
  if (head || r.status === 204 || r.status === 304) return r;
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (Buffer.byteLength(rest, 'latin1') < n) return null;
    r.body = Buffer.from(rest.slice(0, n), 'latin1').toString('utf8');
    return r;
  }
  if (headers['transfer-encoding'] === 'chunked') {
    if (!rest.endsWith('0\r\n\r\n')) return null;
    r.body = Buffer.from(bodyOf(text), 'latin1').toString('utf8');
    return r;
  }
  return null;
}

const KNOWN = [
  ['/string', 'hello', null],
  ['/utf8', 'héllo ✓ wörld', null],
  ['/empty', '', null],
  ['/arraybuffer', 'array buffer', null],
  ['/u8', 'typed array', null],
  ['/view', 'a'.repeat(20), null],
  ['/blob', 'one blob three parts', 'text/x-blob'],
  ['/json', JSON.stringify({ ok: true, text: 'héllo ✓ wörld' }), 'application/json'],
  ['/json-type', '[1,2]', 'application/vnd.api+json'],
  ['/params', 'a=1&b=x+y', 'application/x-www-form-urlencoded;charset=UTF-8'],
  ['/custom', 'subclass', null],
];

t.test('a body of known size gets Content-Length, not chunked', { timeout: 20000 }, async (t) => {
  for (const [path, body, type] of KNOWN) {
    const { responses } = await onOneConnection([`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`]);
    const r = responses[0];
    t.equal(r.headers['content-length'], String(Buffer.byteLength(body)), `${path}: Content-Length is the body's size in bytes`);
    t.equal(r.headers['transfer-encoding'], undefined, `${path}: not chunked`);
    t.equal(r.body, body, `${path}: the body`);
    if (type !== null) t.equal(r.headers['content-type'], type, `${path}: Content-Type`);
  }
  const json = (await onOneConnection(['GET /json HTTP/1.1\r\nHost: x\r\n\r\n'])).responses[0];
  t.same([json.status, json.headers['x-json']], [201, '1'], 'Response.json keeps its init (status, headers)');
});

t.test('HTTP/1.0 keep-alive clients keep their connection (ab -k)', { timeout: 20000 }, async (t) => {
  for (const [path, body] of [...KNOWN, ['/null', '']]) {
    const req = `GET ${path} HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n`;
    const { responses, closed } = await onOneConnection([req, req, req]);
    t.equal(responses.length, 3, `${path}: three requests answered on one connection`);
    t.ok(responses.every((r) => r.body === body), `${path}: each body whole`);
    t.match(responses[0].headers.connection ?? '', /keep-alive/i, `${path}: Connection: keep-alive`);
    t.notOk(closed, `${path}: the connection stays open`);
  }
});

t.test('a stream body stays chunked; an own Content-Length is kept; none on a 204', { timeout: 20000 }, async (t) => {
  const chunked = (await onOneConnection(['GET /stream HTTP/1.1\r\nHost: x\r\n\r\n'])).responses[0];
  t.equal(chunked.headers['transfer-encoding'], 'chunked');
  t.equal(chunked.headers['content-length'], undefined);
  t.equal(chunked.body, 'one two three');

  const own = (await onOneConnection(['GET /own-length HTTP/1.1\r\nHost: x\r\n\r\n'])).responses[0];
  t.same([own.headers['content-length'], own.headers['x-own'], own.body], ['3', '1', 'abc']);

  const none = (await onOneConnection(['GET /null HTTP/1.1\r\nHost: x\r\n\r\n'])).responses[0];
  t.same([none.status, none.headers['content-length'], none.body], [200, '0', '']);
  const noContent = (await onOneConnection(['GET /no-content HTTP/1.1\r\nHost: x\r\n\r\n'])).responses[0];
  t.same([noContent.status, noContent.headers['content-length']], [204, undefined], '204: no Content-Length');

  const head = (await onOneConnection(['HEAD /utf8 HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /string HTTP/1.1\r\nHost: x\r\n\r\n'])).responses;
  t.equal(head[0].headers['content-length'], String(Buffer.byteLength('héllo ✓ wörld')), 'HEAD: the length a GET would have');
  t.equal(head[1].body, 'hello', 'HEAD sent no body: the next response follows at once');
});

t.test('Response looks as it does without greenserve', { timeout: 10000 }, async (t) => {
  const r = await fetch(new URL('/identity', h.url));
  t.same(await r.json(), {
    made: true, cloned: true, fromJson: true, custom: true, ctor: true, name: 'Response',
    text: 'x', clonedText: 'x', errorType: 'error', redirect: 'http://x.test/',
  });
});
