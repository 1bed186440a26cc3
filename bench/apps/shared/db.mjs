// The `sqlite` scenario's database: a 100k-row table read one row at a time by random id with
// better-sqlite3 (synchronous). bench/run.mjs creates the file once per run in a temporary
// directory (createDb) and passes its path to every server as BENCH_SQLITE_DB; each process,
// worker thread or piscina thread opens it read-only once (openDb) and reuses one prepared
// statement.
import { createRequire } from 'node:module';

export const ROWS = 100_000;

const require = createRequire(import.meta.url);

/** better-sqlite3's Database class, or throws with a hint when it is not installed. */
function Database() {
  try {
    return require('better-sqlite3');
  } catch (err) {
    throw new Error(`better-sqlite3 is not installed (npm install): ${err.message}`);
  }
}

/** Creates the table at `path` (a new file) with ROWS rows; returns the seconds it took. */
export function createDb(path, rows = ROWS) {
  const t0 = performance.now();
  const Db = Database();
  const db = new Db(path);
  db.pragma('journal_mode = OFF');
  db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, score INTEGER NOT NULL, city TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO users (id, name, email, score, city) VALUES (?, ?, ?, ?, ?)');
  const cities = ['Lisbon', 'Oslo', 'Lima', 'Osaka', 'Quito', 'Perth', 'Accra', 'Turin'];
  db.transaction(() => {
    for (let id = 1; id <= rows; id++) {
      const name = `user-${String(id).padStart(6, '0')}`;
      insert.run(id, name, `${name}@example.com`, (id * 7919) % 1000, cities[id % cities.length]);
    }
  })();
  db.close();
  return (performance.now() - t0) / 1000;
}

/** Opens BENCH_SQLITE_DB read-only; returns getRow(id) -> the row object. */
export function openDb(path = process.env.BENCH_SQLITE_DB) {
  if (!path) throw new Error('BENCH_SQLITE_DB is not set (bench/run.mjs sets it)');
  const Db = Database();
  const stmt = new Db(path, { readonly: true, fileMustExist: true })
    .prepare('SELECT id, name, email, score, city FROM users WHERE id = ?');
  return (id) => stmt.get(id);
}

/** A random id in 1..ROWS. */
export function randomId() {
  return 1 + Math.floor(Math.random() * ROWS);
}
