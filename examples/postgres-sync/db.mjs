// The async side of examples/postgres-sync: a `pg` pool, loaded once in greenserve's I/O helper
// thread (createSyncFn imports this module there) and shared by every worker. DATABASE_URL names
// the server, e.g. postgres://postgres@127.0.0.1:5432/postgres.
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
// An idle client that loses its connection emits 'error' on the pool: log it, do not crash the helper.
pool.on('error', (err) => console.error('postgres pool:', err.message));

// Created once, by the one helper thread, before any query runs.
const ready = pool.query(`create table if not exists greenserve_example_users (
  id serial primary key,
  name text not null,
  created timestamptz not null default now()
)`);

/** Runs one query; returns the plain rows (cloneable across threads). */
export async function query(text, params = []) {
  await ready;
  const r = await pool.query(text, params);
  return { rows: r.rows, rowCount: r.rowCount };
}
