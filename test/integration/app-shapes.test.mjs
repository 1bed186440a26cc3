// Every app shape greenserve accepts (ESM and CommonJS, default and named exports, node listeners
// and Fetch handlers, sync and async), the errors for modules it cannot run, and the request and
// response details that must reach the app and the client unchanged in both shapes.
import t from 'tap';
import { fixture, startServer } from '../helpers.mjs';

import { serveError, text } from '../app-helpers.mjs';

// ── shapes that load ─────────────────────────────────────────────────────────────────────────

t.test('ESM default export: node (req, res) listener', { timeout: 10000 }, async (t) => {
  const h = await startServer(t, { app: fixture('echo-node.mjs'), threads: 1 });
  t.match(h.app, /^default export: node request listener/);
  const r = await text(h, '/');
  t.same([r.status, r.body], [200, 'node listener']);
});

t.test('CommonJS module.exports = (req, res) => ...', { timeout: 10000 }, async (t) => {
  const h = await startServer(t, { app: fixture('node-listener.cjs'), threads: 1 });
  t.match(h.app, /node request listener/);
  const r = await text(h, '/anything');
  t.equal(r.status, 200);
  t.equal(r.body, 'commonjs listener');
});

t.test('path:exportName picks a named export (ESM and CommonJS)', { timeout: 15000 }, async (t) => {
  const cases = [
    ['named-exports.mjs:handler', /export "handler": node request listener/, 'named node listener'],
    ['named-exports.mjs:api', /export "api": fetch handler/, 'named fetch object'],
    ['named-exports.cjs:handler', /export "handler": node request listener/, 'named commonjs listener'],
    ['named-exports.cjs:api', /export "api": fetch handler/, 'named commonjs fetch object'],
  ];
  for (const [app, detail, body] of cases) {
    const h = await startServer(t, { app: fixture(app), threads: 1 });
    t.match(h.app, detail, `${app}: detected`);
    const r = await text(h, '/');
    t.same([r.status, r.body], [200, body], `${app}: answers`);
  }
});

t.test('default export object with fetch()', { timeout: 10000 }, async (t) => {
  const h = await startServer(t, { app: fixture('fetch-object.mjs'), threads: 1 });
  t.match(h.app, /^default export: fetch handler/);
  const r = await text(h, '/some/path?q=1', { method: 'DELETE' });
  t.same([r.status, r.body], [200, 'fetch object DELETE /some/path']);
});

t.test('export default (request) => new Response(...): sync and async fetch functions', { timeout: 10000 }, async (t) => {
  const sync = await startServer(t, { app: fixture('fetch-sync.mjs'), threads: 1 });
  t.match(sync.app, /fetch handler \(function with 1 parameter/);
  const a = await text(sync, '/a');
  t.same([a.status, a.body, a.headers.get('x-shape')], [200, 'sync fetch /a', 'sync']);

  const async = await startServer(t, { app: fixture('fetch-async.mjs'), threads: 1 });
  t.match(async.app, /fetch handler/);
  const b = await text(async, '/b');
  t.same([b.status, b.body, b.headers.get('x-shape')], [200, 'async fetch /b', 'async']);
});

t.test("interface: 'node' forces a zero-arity function to be a node listener", { timeout: 10000 }, async (t) => {
  const forced = await startServer(t, { app: fixture('zero-arity.mjs'), threads: 1, interface: 'node' });
  t.match(forced.app, /node request listener \(function with 0 parameter/);
  const r = await text(forced, '/', { method: 'PUT', body: 'x' });
  t.same([r.status, r.body], [200, 'zero-arity node listener PUT']);

  // Left to auto-detection the same function is taken for fetch(request), and fails per request.
  const auto = await startServer(t, { app: fixture('zero-arity.mjs'), threads: 1 });
  t.match(auto.app, /fetch handler/);
  t.equal((await text(auto, '/')).status, 500);
});

// ── modules greenserve cannot run ────────────────────────────────────────────────────────────

t.test('an export that is not a handler: GS_ERR_APP_SHAPE naming what was found', { timeout: 10000 }, async (t) => {
  const err = await serveError(t, { app: fixture('exports-config.mjs') });
  t.equal(err.code, 'GS_ERR_APP_SHAPE');
  t.match(err.message, /default export is object with keys \[port, greeting\]/);
  t.match(err.message, /expected a \(req, res\) function, a fetch\(request\) function, or an object with fetch\(\)/);

  const named = await serveError(t, { app: fixture('named-exports.mjs:notAHandler') });
  t.equal(named.code, 'GS_ERR_APP_SHAPE');
  t.match(named.message, /export "notAHandler" is number/);

  const forced = await serveError(t, { app: fixture('fetch-object.mjs'), interface: 'node' });
  t.equal(forced.code, 'GS_ERR_APP_SHAPE', "interface: 'node' on a fetch object");
  t.match(forced.message, /object with keys \[fetch\]; expected a node handler/);
});

t.test('a module that throws at import: GS_ERR_APP_LOAD', { timeout: 10000 }, async (t) => {
  const err = await serveError(t, { app: fixture('throws-at-import.mjs') });
  t.equal(err.code, 'GS_ERR_APP_LOAD');
  t.match(err.message, /throws-at-import\.mjs/);
  t.match(err.message, /fixture failed at import time/);
});

t.test('a missing file: GS_ERR_APP_LOAD', { timeout: 10000 }, async (t) => {
  const err = await serveError(t, { app: fixture('no-such-app.mjs') });
  t.equal(err.code, 'GS_ERR_APP_LOAD');
  t.match(err.message, /no-such-app\.mjs/);
});

t.test('a missing named export: GS_ERR_APP_SHAPE', { timeout: 10000 }, async (t) => {
  for (const app of ['named-exports.mjs:nope', 'named-exports.cjs:nope']) {
    const err = await serveError(t, { app: fixture(app) });
    t.equal(err.code, 'GS_ERR_APP_SHAPE', app);
    t.match(err.message, /no export named "nope"/, app);
  }
});

// ── request and response details, in both shapes ─────────────────────────────────────────────
