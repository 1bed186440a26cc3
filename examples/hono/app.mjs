// An ordinary Hono app exported as default, exactly as for Bun, Deno or Cloudflare Workers:
// greenserve sees an object with `fetch(request)` and runs it through its Fetch adapter.
//
//   greenserve --threads 4 examples/hono/app.mjs
import { Hono } from 'hono';

const app = new Hono();

app.get('/', (c) => c.text('Hello Hono!'));

// Route parameters and the query string.
app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), name: `user ${c.req.param('id')}` }));

app.get('/users/:userId/posts/:postId', (c) =>
  c.json({ userId: c.req.param('userId'), postId: c.req.param('postId'), q: c.req.query('q') ?? null }),
);

// A JSON body; a body that is not valid JSON makes c.req.json() throw, which onError turns into 400.
app.post('/users', async (c) => {
  const body = await c.req.json();
  if (typeof body?.name !== 'string' || body.name === '') return c.json({ error: 'name is required' }, 422);
  c.header('location', `/users/${encodeURIComponent(body.name)}`);
  return c.json({ created: body }, 201);
});

// Request and response headers.
app.get('/headers', (c) => {
  c.header('x-served-by', 'hono');
  c.header('cache-control', 'no-store');
  return c.text(`you sent x-hello: ${c.req.header('x-hello') ?? '(none)'}`);
});

app.get('/boom', () => {
  throw new Error('handler failure');
});

app.notFound((c) => c.json({ error: 'not found', path: c.req.path }, 404));

app.onError((err, c) => {
  if (err instanceof SyntaxError) return c.json({ error: 'invalid JSON' }, 400);
  return c.json({ error: 'internal error' }, 500);
});

export default app;
