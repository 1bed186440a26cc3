// --server-header (default on): responses carry `Server: greenserve` unless the app sets or
// removes its own; --no-server-header turns it off.
import t from 'tap';
import { parseArgv, resolveConfig } from '../../dist/lib/config/resolve.js';
import { fixture, portOf, rawExchange, startServer } from '../helpers.mjs';

/** The Server header lines of the response to GET `path` (raw, so duplicates would show). */
async function serverLines(t, h, path) {
  const { text } = await rawExchange(portOf(h), `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  t.match(text, /^HTTP\/1\.1 200 /);
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  return head.split('\r\n').filter((l) => /^server:/i.test(l));
}

t.test('on by default: Server: greenserve, unless the app sets or removes its own', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app: fixture('reports-peer.mjs') });
  t.same(await serverLines(t, h, '/'), ['Server: greenserve']);
  t.same(await serverLines(t, h, '/server-header'), ['server: app/1.0'], 'res.setHeader replaces it');
  t.same(await serverLines(t, h, '/server-raw'), ['Server: raw/2'], 'writeHead with a raw header array replaces it');
  t.same(await serverLines(t, h, '/no-server'), [], 'res.removeHeader removes it');
});

t.test('fetch-style apps get it too', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app: fixture('echo-fetch.mjs') });
  t.same(await serverLines(t, h, '/'), ['Server: greenserve']);
  const res = await fetch(new URL('/', h.url));
  t.equal(res.headers.get('server'), 'greenserve');
  await res.arrayBuffer();
});

t.test('serverHeader: false / --no-server-header turns it off', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app: fixture('reports-peer.mjs'), serverHeader: false });
  t.same(await serverLines(t, h, '/'), []);
  t.same(await serverLines(t, h, '/server-header'), ['server: app/1.0'], "the app's own still goes out");

  const resolve = (...argv) => resolveConfig({ cli: parseArgv(argv).options, env: {} }).serverHeader;
  t.equal(resolve('app.js'), true);
  t.equal(resolve('app.js', '--no-server-header'), false);
  t.equal(resolve('app.js', '--server-header'), true);
  t.equal(resolveConfig({ cli: parseArgv(['app.js']).options, env: { GREENSERVE_SERVER_HEADER: 'off' } }).serverHeader, false);
});
