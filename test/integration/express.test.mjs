// examples/express/app.mjs, an unmodified Express 5 app, served by greenserve and driven with fetch.
import t from 'tap';
import { example, startServer } from '../helpers.mjs';

const handle = await startServer(t, { app: example('express/app.mjs'), threads: 2 });
const url = (p) => new URL(p, handle.url);

async function getJson(p, init) {
  const res = await fetch(url(p), init);
  return { status: res.status, headers: res.headers, body: await res.json() };
}

function postJson(p, body, headers = {}) {
  return getJson(p, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

t.test('the app is detected as a node request listener', { timeout: 5000 }, async (t) => {
  t.match(handle.app, /node request listener/);
});

t.test('routing and res.json', { timeout: 5000 }, async (t) => {
  const root = await getJson('/');
  t.equal(root.status, 200);
  t.match(root.headers.get('content-type'), /^application\/json/);
  t.equal(root.headers.get('x-powered-by'), 'Express', 'the response comes from Express itself');
  t.equal(root.body.hello, 'express');
});

t.test('route parameters and the query string', { timeout: 5000 }, async (t) => {
  const user = await getJson('/users/42');
  t.equal(user.status, 200);
  t.same(user.body, { id: '42', name: 'user 42' });

  const post = await getJson('/users/7/posts/abc-9?q=hello%20world');
  t.same(post.body, { userId: '7', postId: 'abc-9', q: 'hello world' });

  const encoded = await getJson(`/users/${encodeURIComponent('a b/c')}`);
  t.equal(encoded.body.id, 'a b/c', 'an encoded parameter is decoded by Express');
});

t.test('a JSON body parsed by express.json() round-trips', { timeout: 5000 }, async (t) => {
  const sent = { name: 'ada', tags: ['x', 'y'], nested: { n: 1, ok: true, none: null }, text: 'héllo ✓ 日本' };
  const res = await postJson('/users', sent);
  t.equal(res.status, 201);
  t.equal(res.headers.get('location'), '/users/ada');
  t.same(res.body, { created: sent });
});

t.test('a larger JSON body (several chunks) round-trips', { timeout: 5000 }, async (t) => {
  const sent = { name: 'big', items: Array.from({ length: 2000 }, (_, i) => ({ i, s: `item-${i}` })) };
  const res = await postJson('/users', sent);
  t.equal(res.status, 201);
  t.same(res.body.created, sent);
});

t.test('validation errors go through the error middleware', { timeout: 5000 }, async (t) => {
  const missing = await postJson('/users', {});
  t.equal(missing.status, 422);
  t.same(missing.body, { error: 'name is required' });

  const malformed = await postJson('/users', '{"name": ');
  t.equal(malformed.status, 400, "express.json()'s parse error keeps its status");
  t.type(malformed.body.error, 'string');

  const notJson = await getJson('/users', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'name=ada' });
  t.equal(notJson.status, 422, 'a body express.json() does not parse leaves req.body empty');
});

t.test('404 for an unknown path', { timeout: 5000 }, async (t) => {
  const res = await getJson('/no/such/path?x=1');
  t.equal(res.status, 404);
  t.same(res.body, { error: 'not found', path: '/no/such/path' });
  const wrongMethod = await getJson('/users/1', { method: 'DELETE' });
  t.equal(wrongMethod.status, 404, 'a method no route takes is a 404 too');
});

t.test('a throwing route reaches the error middleware: 500', { timeout: 5000 }, async (t) => {
  const sync = await getJson('/boom');
  t.equal(sync.status, 500);
  t.same(sync.body, { error: 'internal error' });
  const async = await getJson('/boom-async');
  t.equal(async.status, 500, 'Express 5 catches the rejected promise');
  t.same(async.body, { error: 'internal error' });
  const after = await getJson('/users/1');
  t.equal(after.status, 200, 'the app keeps serving after errors');
});

t.test('many concurrent requests each get their own answer', { timeout: 10000 }, async (t) => {
  const jobs = [];
  for (let i = 0; i < 60; i++) {
    if (i % 3 === 0) {
      jobs.push(getJson(`/users/${i}`).then((r) => t.same([r.status, r.body], [200, { id: String(i), name: `user ${i}` }], `GET /users/${i}`)));
    } else if (i % 3 === 1) {
      jobs.push(postJson('/users', { name: `n${i}`, i }).then((r) => t.same([r.status, r.body], [201, { created: { name: `n${i}`, i } }], `POST #${i}`)));
    } else {
      jobs.push(getJson(`/missing/${i}`).then((r) => t.same([r.status, r.body.path], [404, `/missing/${i}`], `404 #${i}`)));
    }
  }
  await Promise.all(jobs);
});
