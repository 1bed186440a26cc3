// native-shims/headers.ts: fetchSync's request headers as plain pairs, and SyncHeaders, the read
// side of a Headers over the pairs the I/O helper read (compared with a real Headers here).
import t from 'tap';
import path from 'node:path';
import { root } from '../../helpers.mjs';

const { headerPairs, hasHeader, SyncHeaders } = await import(path.join(root, 'dist/native-shims/headers.js'));

t.test('headerPairs takes what fetch() takes', async (t) => {
  t.same(headerPairs(undefined), []);
  t.same(headerPairs(null), []);
  t.same(headerPairs({ 'X-A': '1', b: 2 }), [['X-A', '1'], ['b', '2']], 'a record (values as strings)');
  t.same(headerPairs([['x-a', '1'], ['X-A', '2']]), [['x-a', '1'], ['X-A', '2']], 'pairs, repeated names kept');
  t.same(headerPairs(new Headers({ 'X-A': '1', 'X-B': '2' })), [['x-a', '1'], ['x-b', '2']], 'a Headers');
  t.same(headerPairs(new SyncHeaders([['x-a', '1']])), [['x-a', '1']], 'a SyncHeaders');
  t.throws(() => headerPairs([['only-a-name']]), { name: 'TypeError', message: /\[name, value\] pair/ });
  t.equal(hasHeader([['Content-Type', 'x']], 'content-type'), true);
  t.equal(hasHeader([['x', 'y']], 'content-type'), false);
});

t.test('SyncHeaders reads like the Headers it was made from', async (t) => {
  const real = new Headers([['Set-Cookie', 'a=1'], ['x-b', '1'], ['X-B', '2'], ['set-cookie', 'c=3'], ['Content-Type', 'text/plain']]);
  const h = new SyncHeaders([...real]);
  for (const name of ['x-b', 'X-B', 'set-cookie', 'content-type', 'missing']) {
    t.equal(h.get(name), real.get(name), `get(${name})`);
    t.equal(h.has(name), real.has(name), `has(${name})`);
  }
  t.same(h.getSetCookie(), real.getSetCookie());
  t.same([...h], [...real], 'iteration');
  t.same([...h.entries()], [...real.entries()]);
  t.same([...h.keys()], [...real.keys()]);
  t.same([...h.values()], [...real.values()]);
  const seen = [];
  const self = {};
  h.forEach(function (value, name, headers) { seen.push([name, value, headers === h, this === self]); }, self);
  t.same(seen, [...real].map(([n, v]) => [n, v, true, true]), 'forEach(value, name, headers) with thisArg');
  t.same([...new Headers(h)], [...real], 'new Headers(syncHeaders) rebuilds it');
  t.equal(String(h), '[object SyncHeaders]');
  t.notOk(h instanceof Headers, 'not a Headers (building one loads undici into the thread)');
});
