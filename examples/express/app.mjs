// An ordinary Express 5 app, written exactly as it would be for `app.listen()`: greenserve runs
// it unchanged. The default export is Express's `app(req, res, next)` function, which greenserve
// detects as a node request listener.
//
//   greenserve --threads 4 examples/express/app.mjs
//
// Each worker thread imports this module once, so module state (like `started` below) is per
// thread: keep shared state in a database or cache, as with any multi-process deployment.
import express from 'express';

const app = express();
const started = new Date().toISOString();

app.use(express.json({ limit: '100kb' }));

app.get('/', (req, res) => {
  res.json({ hello: 'express', started });
});

// Route parameters.
app.get('/users/:id', (req, res) => {
  res.json({ id: req.params.id, name: `user ${req.params.id}` });
});

app.get('/users/:userId/posts/:postId', (req, res) => {
  res.json({ userId: req.params.userId, postId: req.params.postId, q: req.query.q ?? null });
});

// A JSON body parsed by express.json(); a body that is not valid JSON reaches the error handler
// with status 400 (set by express.json()).
app.post('/users', (req, res, next) => {
  const { name } = req.body ?? {};
  if (typeof name !== 'string' || name === '') {
    const err = new Error('name is required');
    err.status = 422;
    return next(err);
  }
  res.status(201).location(`/users/${encodeURIComponent(name)}`).json({ created: { ...req.body } });
});

// Errors thrown in a handler, synchronously or from an async one (Express 5 catches rejections).
app.get('/boom', () => {
  throw new Error('sync failure');
});

app.get('/boom-async', async () => {
  await Promise.resolve();
  throw new Error('async failure');
});

// Anything no route matched.
app.use((req, res) => {
  res.status(404).json({ error: 'not found', path: req.path });
});

// The error handler: four parameters.
// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  const status = err.status ?? err.statusCode ?? 500;
  res.status(status).json({ error: status >= 500 ? 'internal error' : err.message });
});

export default app;
