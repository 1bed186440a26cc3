// The Request a Fetch-style handler gets and the Response it returns are lightweight (built into
// undici's only when the app needs it: lib/worker/fetch-request.ts, fetch-response.ts); what the
// app sees and what goes out must be what the platform's own give, through real sockets.
import t from 'tap';
import { channel, connect, fixture, fetchText, parseResponses, portOf, rawExchange, startServer } from '../helpers.mjs';

const h = await startServer(t, { app: fixture('fetch-lazy.mjs'), threads: 1 });
const port = portOf(h);

/** One GET with a given Host header and request target, on a raw connection. */
async function shape(host, target) {
  const { text } = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nX-Two: a\r\nx-two: b\r\nConnection: close\r\n\r\n`);
  const [r] = parseResponses(text);
  return JSON.parse(r.body);
}

t.test('request: instanceof Request, method, url, headers, signal without a body', async (t) => {
  const s = await shape('127.0.0.1:8080', '/shape?q=1');
  t.same(s, {
    isRequest: true,
    ctor: true,
    tag: '[object Request]',
    method: 'GET',
    url: 'http://127.0.0.1:8080/shape?q=1',
    sameHeaders: true,
    headers: { connection: 'close', host: '127.0.0.1:8080', 'x-two': 'a, b' },
    bodyNull: true,
    bodyUsed: false,
    aborted: false,
    cache: 'default',
    redirect: 'follow',
  });
});

t.test('request.url is what the URL parser makes of scheme, Host and target', async (t) => {
  const cases = [
    ['localhost', '/shape'],
    ['LocalHost:8080', '/shape'],
    ['example.com:80', '/shape'],
    ['example.com:08080', '/shape'],
    ['127.1:3000', '/shape'],
    ['a.example', '/x/../shape?y=/./'],
    ['a.example', '/shape/%2e%2e/shape'],
    ['a.example', "/shape?q='quoted'&r=%zz"],
    ['a.example', '/shape?p=|{x}^`'],
    ['a.example', '/.well-known/../shape'],
    ['[::1]:8080', '/shape'],
  ];
  for (const [host, target] of cases) {
    const s = await shape(host, target);
    t.equal(s.url, new URL(`http://${host}${target}`).href, `Host ${host}, ${target}`);
  }
});

const post = (path, body, headers = {}) => fetchText(h, path, { method: 'POST', body, headers });

t.test('request body read every way; a second read fails; bodyUsed follows', async (t) => {
  const expect = {
    text: 'hello',
    json: '{"a":[1,2]}',
    arrayBuffer: 'true hello',
    bytes: 'true hello',
    blob: 'text/x-test hello',
    stream: 'hello',
  };
  for (const [as, first] of Object.entries(expect)) {
    const body = as === 'json' ? '{"a": [1, 2]}' : 'hello';
    const r = await post(`/read?as=${as}`, body, { 'content-type': 'text/x-test' });
    if (as === 'bytes' && r.status === 500) continue; // Request.prototype.bytes: Node 22 and later
    t.same(r.json, { before: false, first, again: 'TypeError', after: true }, as);
  }
  const form = await post('/read?as=formData', new URLSearchParams({ a: '1', b: '2' }));
  t.same(form.json, { before: false, first: '[["a","1"],["b","2"]]', again: 'TypeError', after: true });
});

t.test('a body read once is used for the stream, clone() and every other read', async (t) => {
  const after = async (as, then, body) => (await post(`/after?as=${as}&then=${then}`, body, { 'content-type': 'text/plain' })).json;
  t.same(await after('text', 'clone', 'x'), { first: 'x', then: 'TypeError', used: true });
  t.same(await after('text', 'body', 'x'), { first: 'x', then: 'true', used: true }, 'the stream is locked');
  t.same(await after('arrayBuffer', 'blob', 'x'), { first: 'true x', then: 'TypeError', used: true });
  t.same(await after('json', 'text', '{bad'), { first: 'SyntaxError', then: 'TypeError', used: true }, 'a failed parse uses the body too');
  t.same(await after('blob', 'text', 'x'), { first: 'text/plain x', then: 'TypeError', used: true }, 'read by the platform first');
  t.same(await after('text', 'text', ''), { first: '', then: '', used: false }, 'no body: read again, never used');
  t.same(await after('text', 'clone', Buffer.from([0xef, 0xbb, 0xbf, 0x68, 0xff])), { first: 'h\ufffd', then: 'TypeError', used: true }, 'UTF-8: BOM dropped, bad bytes replaced');
});

t.test('request.clone(), new Request(request), new Request(url, init) and fetch(request)', async (t) => {
  t.equal((await post('/clone', 'body')).body, 'body|body|true');
  t.equal((await post('/rewrap', 'moved')).body, 'POST a moved true PUT other true');
  t.equal((await post('/reinit', 'as init', { 'x-in': 'yes' })).body, 'POST true yes as init true');
  const hop = await post('/hop', 'there and back');
  t.equal(hop.body, '200 hop POST there and back', 'fetch() sends the request with the header set before it');
});

t.test('request.signal asked for only after the client went away is aborted', async (t) => {
  const ch = channel(t, 'fetch-lazy-late');
  const s = await connect(port);
  s.on('error', () => {});
  s.write('GET /late?ch=fetch-lazy-late HTTP/1.1\r\nHost: x\r\n\r\n');
  await ch.wait((e) => e.op === 'waiting');
  s.destroy();
  await new Promise((r) => setTimeout(r, 300)); // the acceptor sees the close and tells the worker
  ch.next('late');
  const e = await ch.wait((e) => e.op === 'signal');
  t.equal(e.aborted, true);
  t.equal(e.reason, 'AbortError');
});

t.test('responses: each kind written with its headers, status and length', async (t) => {
  const get = async (k) => {
    const { text } = await rawExchange(port, `GET /resp?k=${k} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    return parseResponses(text)[0];
  };
  let r = await get('bytes');
  t.same([r.status, r.body, r.headers['content-length'], r.headers['content-type']], [200, 'hi', '2', undefined]);
  r = await get('arraybuffer');
  t.same([r.body, r.headers['content-length']], ['hi!', '3']);
  r = await get('params');
  t.same([r.body, r.headers['content-type']], ['a=1&b=x+y', 'application/x-www-form-urlencoded;charset=UTF-8']);
  const { text } = await rawExchange(port, 'GET /resp?k=record HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.match(text, /^HTTP\/1\.1 201 Made\r\n/);
  r = parseResponses(text)[0];
  t.same([r.headers['x-one'], r.headers['set-cookie'], r.headers['content-type'], r.headers['content-length']], ['1', 'a=1', 'text/plain;charset=UTF-8', '1']);
  r = await get('joined');
  t.equal(r.headers['x-a'], '1, 2', 'names that differ in case are one header, as in Headers');
  r = await get('later');
  t.same([r.body, r.headers['x-first'], r.headers['x-later'], r.headers['content-type']], ['later', '1', '2', 'text/x-later'], 'headers changed after the Response was made');
  r = await get('mutated');
  t.equal(r.body, 'ab');
  r = await get('cloned');
  t.equal(r.body, 'twice+twice 1 true');
  r = await get('subclass');
  t.equal(r.body, 'true true own 202 true Made');
  r = await get('empty204');
  t.same([r.status, r.body, r.headers['content-length']], [204, '', undefined]);
  t.equal((await get('badstatus')).status, 500);
  t.equal((await get('badheader')).status, 500);
  r = await get('blob');
  t.same([r.body, r.headers['content-type'], r.headers['content-length']], ['blob!', 'text/x-blob', '5']);
  r = await get('json');
  t.same([r.status, r.body, r.headers['content-type'], r.headers['x-j'], r.headers['content-length']], [203, '{"a":1}', 'application/json', '1', '7']);
  r = await get('statics');
  t.equal(r.body, 'true error true 307 default platform true');
  r = await get('jsonplain');
  t.same([r.status, r.body, r.headers['content-type'], r.headers['content-length']], [200, '[1]', 'application/json', '3']);
});
