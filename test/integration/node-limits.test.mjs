// Default request limits accept what node:http accepts (docs/server-behavior.md, "Request
// limits"; decision 0015): a 5 MB multer upload, 101 and 1,000 header fields, a 16 KiB URL or
// cookie. What bounds memory is --limit-request-head, the whole head (64 KiB): past it 431, both
// when the head comes in one piece and when it trickles in.
import t from 'tap';
import { createHash } from 'node:crypto';
import { fixture, portOf, rawExchange, startServer } from '../helpers.mjs';

const MB = 1_000_000;

t.test('defaults: a 5 MB multer upload through Express is served', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('express-multer.mjs') });
  const bytes = Buffer.alloc(5 * MB, 'abcdefgh');
  const form = new FormData();
  form.set('note', 'five megabytes');
  form.set('file', new Blob([bytes]), 'big.bin');
  const res = await fetch(new URL('/upload', h.url), { method: 'POST', body: form });
  t.equal(res.status, 200, 'not 413');
  t.same(await res.json(), { name: 'big.bin', size: 5 * MB, sha256: createHash('sha256').update(bytes).digest('hex'), note: 'five megabytes' });
});

t.test('defaults: heads node:http accepts are served', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('express-multer.mjs'), threads: 1 });
  const port = portOf(h);
  const get = async (head) => {
    const { text } = await rawExchange(port, `${head}Connection: close\r\n\r\n`);
    const status = Number(text.split(' ')[1]);
    return { status, body: status === 200 ? JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) : null };
  };
  const fields = (n) => Array.from({ length: n }, (_, i) => `X-Field-${i}: ${i}\r\n`).join('');
  // 101 fields of the app's own, plus Host and Connection.
  const many = await get(`GET /headers HTTP/1.1\r\nHost: x\r\n${fields(101)}`);
  t.same([many.status, many.body?.fields], [200, 103], '103 header fields');
  const node = await get(`GET /headers HTTP/1.1\r\nHost: x\r\n${fields(998)}`);
  t.same([node.status, node.body?.fields], [200, 1000], '1,000 header fields (node:http\'s default maxHeadersCount)');
  const tooMany = await get(`GET /headers HTTP/1.1\r\nHost: x\r\n${fields(999)}`);
  t.equal(tooMany.status, 431, '1,001: 431 (--limit-request-fields), as Node 24\'s node:http answers');
  const url = `/headers?${'q'.repeat(16000)}`;
  const long = await get(`GET ${url} HTTP/1.1\r\nHost: x\r\n`);
  t.same([long.status, long.body?.urlLength], [200, url.length], 'a 16,009-byte URL');
  const cookie = `a=${'c'.repeat(16000)}`;
  const big = await get(`GET /headers HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\n`);
  t.same([big.status, big.body?.cookieLength], [200, cookie.length], 'a 16 KB cookie');
});

t.test('--limit-request-head bounds the whole head: 431 past it, in one piece or trickled', { timeout: 30000 }, async (t) => {
  const h = await startServer(t, { app: fixture('express-multer.mjs'), threads: 1, limitRequestHead: '8kb' });
  const port = portOf(h);
  // A head of exactly `size` bytes: one X-Fill field makes up the rest.
  const head = (size) => {
    const start = 'GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Fill: ';
    return `${start}${'v'.repeat(size - Buffer.byteLength(start) - 4)}\r\n\r\n`;
  };
  const fits = head(8192);
  t.equal(Buffer.byteLength(fits), 8192);
  const ok = await rawExchange(port, fits);
  t.match(ok.text, /^HTTP\/1\.1 200 /, 'a head within the limit is served (the worker\'s parser agrees)');
  const over = head(8193);
  for (const [how, opts] of [['in one piece', {}], ['trickled', { split: 700 }]]) {
    const r = await rawExchange(port, over, opts);
    t.match(r.text, /^HTTP\/1\.1 431 /, `${Buffer.byteLength(over)} bytes ${how}: 431`);
    t.ok(r.closed, `${how}: the connection closes`);
  }
  const unfinished = await rawExchange(port, head(9000).slice(0, -4));
  t.match(unfinished.text, /^HTTP\/1\.1 431 /, 'an unfinished head past the limit, in one piece: 431 at once');
});

t.test('the body limit is still a setting', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app: fixture('express-multer.mjs'), threads: 1, limitRequestBody: '1mb' });
  const { text } = await rawExchange(portOf(h), 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n');
  t.match(text, /^HTTP\/1\.1 413 /);
});
