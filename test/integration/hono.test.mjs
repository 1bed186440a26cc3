// examples/hono/app.mjs, an unmodified Hono app (default export), served by greenserve through
// its Fetch adapter and driven with fetch.
import t from 'tap';
import { example, startServer } from '../helpers.mjs';

const handle = await startServer(t, { app: example('hono/app.mjs'), threads: 2 });
const url = (p) => new URL(p, handle.url);

async function getJson(p, init) {
  const res = await fetch(url(p), init);
  return { status: res.status, headers: res.headers, body: await res.json() };
}

function postJson(p, body) {
  return getJson(p, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

t.test('the app is detected as a Fetch handler', { timeout: 5000 }, async (t) => {
  t.match(handle.app, /fetch/);
  t.match(handle.app, /default export/);
});

t.test('c.text', { timeout: 5000 }, async (t) => {
  const res = await fetch(url('/'));
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/plain/);
  t.equal(await res.text(), 'Hello Hono!');
});

t.test('route parameters, the query string and c.json', { timeout: 5000 }, async (t) => {
  const user = await getJson('/users/42');
  t.equal(user.status, 200);
  t.match(user.headers.get('content-type'), /^application\/json/);
  t.same(user.body, { id: '42', name: 'user 42' });

  const post = await getJson('/users/7/posts/abc-9?q=hello%20world');
  t.same(post.body, { userId: '7', postId: 'abc-9', q: 'hello world' });

  const noQuery = await getJson('/users/7/posts/1');
  t.equal(noQuery.body.q, null);
});

t.test('a JSON body read with c.req.json() round-trips', { timeout: 5000 }, async (t) => {
  const sent = { name: 'ada', tags: ['x', 'y'], nested: { n: 1, ok: true, none: null }, text: 'héllo ✓ 日本' };
  const res = await postJson('/users', sent);
  t.equal(res.status, 201);
  t.equal(res.headers.get('location'), '/users/ada');
  t.same(res.body, { created: sent });

  const big = { name: 'big', items: Array.from({ length: 2000 }, (_, i) => ({ i, s: `item-${i}` })) };
  const bigRes = await postJson('/users', big);
  t.equal(bigRes.status, 201);
  t.same(bigRes.body.created, big, 'a body of several chunks round-trips');
});

t.test('invalid bodies: 422 from the route, 400 from onError', { timeout: 5000 }, async (t) => {
  const missing = await postJson('/users', {});
  t.equal(missing.status, 422);
  t.same(missing.body, { error: 'name is required' });
  const malformed = await postJson('/users', '{"name": ');
  t.equal(malformed.status, 400);
  t.same(malformed.body, { error: 'invalid JSON' });
});

t.test('request and response headers', { timeout: 5000 }, async (t) => {
  const res = await fetch(url('/headers'), { headers: { 'x-hello': 'there' } });
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-served-by'), 'hono');
  t.equal(res.headers.get('cache-control'), 'no-store');
  t.equal(await res.text(), 'you sent x-hello: there');
  const none = await fetch(url('/headers'));
  t.equal(await none.text(), 'you sent x-hello: (none)');
});

t.test('404 from notFound', { timeout: 5000 }, async (t) => {
  const res = await getJson('/no/such/path?x=1');
  t.equal(res.status, 404);
  t.same(res.body, { error: 'not found', path: '/no/such/path' });
  const wrongMethod = await getJson('/users/1', { method: 'DELETE' });
  t.equal(wrongMethod.status, 404);
});

t.test('a throwing route reaches onError: 500, and the app keeps serving', { timeout: 5000 }, async (t) => {
  const res = await getJson('/boom');
  t.equal(res.status, 500);
  t.same(res.body, { error: 'internal error' });
  const after = await getJson('/users/1');
  t.equal(after.status, 200);
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
