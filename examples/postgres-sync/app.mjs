// A synchronous handler that queries PostgreSQL, gevent style: `query()` looks blocking, and it
// is: it parks this worker thread while greenserve's I/O helper thread runs the async `pg` query
// (./db.mjs, loaded once there). Other workers keep serving meanwhile.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres greenserve --threads 4 examples/postgres-sync/app.mjs
//
//   GET  /users              the users, newest first (JSON)
//   POST /users?name=NAME    adds one, answers it (201)
//   GET  /sleep?s=0.1        SELECT pg_sleep(s): a slow query
//   GET  /version            the server's version
import { createSyncFn } from 'greenserve/shims';

const query = createSyncFn(new URL('./db.mjs', import.meta.url), 'query', { timeout: 10_000 });

function json(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export default function app(req, res) {
  const url = new URL(req.url, 'http://localhost');
  try {
    if (url.pathname === '/users' && req.method === 'POST') {
      const name = url.searchParams.get('name') ?? '';
      if (name === '') return json(res, 400, { error: 'name is required' });
      const { rows } = query('insert into greenserve_example_users (name) values ($1) returning id, name', [name]);
      return json(res, 201, rows[0]);
    }
    if (url.pathname === '/users') {
      return json(res, 200, query('select id, name from greenserve_example_users order by id desc limit 100').rows);
    }
    if (url.pathname === '/sleep') {
      const s = Math.min(Number(url.searchParams.get('s') ?? 0.1) || 0, 5);
      query('select pg_sleep($1)', [s]);
      return json(res, 200, { slept: s });
    }
    if (url.pathname === '/version') return json(res, 200, query('select version()').rows[0]);
    json(res, 404, { error: 'not found' });
  } catch (err) {
    // A database error keeps its name, message and code (e.g. 42P01 undefined_table).
    json(res, 500, { error: err.message, code: err.code ?? null });
  }
}
