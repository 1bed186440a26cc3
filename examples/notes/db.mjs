// The notes store: SQLite through better-sqlite3 (v12), or Node's built-in `node:sqlite` where the
// addon cannot be loaded (not installed, or built for another Node major). Both are synchronous:
// a query blocks its thread, which under greenserve is one worker, never the server. See
// docs/decisions/0010-demo-app-database.md.
//
// Every worker thread opens its own connection to the same file (one connection per thread: a
// connection must not be shared between threads). WAL mode lets readers in other workers go on
// while one writes; busy_timeout makes a writer wait for the write lock instead of failing, so
// concurrent writes from several threads are queued, never lost. Each write is one statement
// (its own transaction, taking the write lock before it reads), so no read-then-write transaction
// can fail with SQLITE_BUSY_SNAPSHOT.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/** How long a writer waits for another connection's write lock before giving up (ms). */
const BUSY_TIMEOUT_MS = 5000;

/**
 * The database file used when none is given: `greenserve-demo-<user>/notes.db` in the OS temp
 * directory (always writable; one directory per user, so users of one machine do not collide).
 */
export function defaultDatabasePath() {
  const user = typeof process.getuid === 'function' ? String(process.getuid()) : safeUserName();
  return path.join(os.tmpdir(), `greenserve-demo-${user}`, 'notes.db');
}

function safeUserName() {
  try {
    return os.userInfo().username.replace(/[^A-Za-z0-9_.-]/g, '_');
  } catch {
    return 'user'; // no passwd entry (some containers)
  }
}

/**
 * The SQLite driver to use: `{ name, version, open(file) }`, where open returns a connection
 * with the API both drivers share (exec, prepare → run/get/all with positional parameters,
 * close). Throws an Error saying what to install when neither driver loads.
 */
export async function loadDriver() {
  const problems = [];
  try {
    return await betterSqlite3();
  } catch (err) {
    problems.push(`better-sqlite3: ${firstLine(err)}`);
  }
  try {
    return await nodeSqlite();
  } catch (err) {
    problems.push(`node:sqlite: ${firstLine(err)}`);
  }
  throw new Error(
    `the notes app needs SQLite: install better-sqlite3 (npm install better-sqlite3@12) or use ` +
      `Node.js 22.13 or newer, which has node:sqlite built in (${problems.join('; ')})`,
  );
}

function firstLine(err) {
  return String(err?.message ?? err).split('\n')[0];
}

async function betterSqlite3() {
  const { default: Database } = await import('better-sqlite3');
  // The native addon loads on the first open: try one, so that an addon built for another Node
  // major fails here (and node:sqlite is used) rather than at the first request.
  new Database(':memory:').close();
  const require = createRequire(import.meta.url);
  const { version } = require('better-sqlite3/package.json');
  return { name: 'better-sqlite3', version, open: (file) => new Database(file) };
}

async function nodeSqlite() {
  const { DatabaseSync } = await import('node:sqlite');
  const probe = new DatabaseSync(':memory:');
  const { v } = probe.prepare('select sqlite_version() as v').get();
  probe.close();
  return { name: 'node:sqlite', version: `SQLite ${v}`, open: (file) => new DatabaseSync(file) };
}

/** True for "the database is locked" after busy_timeout ran out, from either driver. */
export function isBusy(err) {
  return err?.code === 'SQLITE_BUSY' || err?.errcode === 5 || /database is locked/.test(String(err?.message));
}

const NOTE = 'id, title, body, created_at as createdAt, updated_at as updatedAt';

/**
 * Open (creating when missing) the notes database at `file` with `driver` and prepare its
 * statements. Run once per worker thread, when the app module is imported.
 */
export function openNotes(driver, file) {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const db = driver.open(file);
  // busy_timeout first: several workers open a new file at once, and the WAL switch and the
  // schema need a lock another worker may be holding.
  db.exec(`pragma busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // Every step is idempotent, and retried: see retryBusy.
  return retryBusy(() => {
    db.exec('pragma journal_mode = wal');
    db.exec('pragma synchronous = normal'); // with WAL: a committed write survives an app crash
    db.exec(`create table if not exists notes (
      id integer primary key autoincrement, -- autoincrement: a deleted note's id is never reused
      title text not null,
      body text not null default '',
      created_at text not null,
      updated_at text not null
    )`);
    return new NotesStore(db);
  });
}

/**
 * Run `setup` again while SQLite answers "database is locked" without waiting, for up to
 * BUSY_TIMEOUT_MS. busy_timeout does not cover every case: when connections opening a new file
 * at once each hold a read lock and need the exclusive one (the switch to WAL), SQLite fails one
 * at once rather than let them wait for each other. Measured: with 6 threads opening a new file
 * at the same moment, 6 to 10 rounds in 60 failed so without the retry, on either driver.
 */
function retryBusy(setup) {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (let pause = 5; ; pause = Math.min(2 * pause, 100)) {
    try {
      return setup();
    } catch (err) {
      if (!isBusy(err) || Date.now() >= deadline) throw err;
      // This thread has nothing else to do until its database is open: block it.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
    }
  }
}

export class NotesStore {
  constructor(db) {
    this.db = db;
    this.insert = db.prepare(`insert into notes (title, body, created_at, updated_at) values (?, ?, ?, ?) returning ${NOTE}`);
    this.byId = db.prepare(`select ${NOTE} from notes where id = ?`);
    this.page = db.prepare(`select ${NOTE} from notes order by id desc limit ? offset ?`);
    this.count = db.prepare('select count(*) as n from notes');
    const match = `title like ? escape '\\' or body like ? escape '\\'`;
    this.searchPage = db.prepare(`select ${NOTE} from notes where ${match} order by id desc limit ? offset ?`);
    this.searchCount = db.prepare(`select count(*) as n from notes where ${match}`);
    // One statement each: the whole read-modify-write runs under the write lock.
    this.patch = db.prepare(
      `update notes set title = coalesce(?, title), body = coalesce(?, body), updated_at = ? where id = ? returning ${NOTE}`,
    );
    this.remove = db.prepare('delete from notes where id = ?');
    this.journal = db.prepare('pragma journal_mode').get().journal_mode;
  }

  /** Newest first; `q` (optional) keeps the notes whose title or body contains it (case-insensitive for ASCII). */
  list({ q, limit, offset }) {
    if (q === undefined || q === '') return this.snapshot(() => ({ notes: this.page.all(limit, offset), total: this.count.get().n }));
    const like = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    return this.snapshot(() => ({ notes: this.searchPage.all(like, like, limit, offset), total: this.searchCount.get(like, like).n }));
  }

  get(id) {
    return this.byId.get(id) ?? null;
  }

  create({ title, body = '' }) {
    const now = new Date().toISOString();
    return this.insert.get(title, body, now, now);
  }

  /** Changes the fields given (null for a field leaves it); the updated note, or null when there is none with that id. */
  update(id, { title = null, body = null }) {
    return this.patch.get(title, body, new Date().toISOString(), id) ?? null;
  }

  /** Whether a note was deleted. */
  delete(id) {
    return this.remove.run(id).changes > 0;
  }

  /** The page and the count from one snapshot (one read transaction), so they agree. */
  snapshot(read) {
    this.db.exec('begin');
    try {
      return read();
    } finally {
      this.db.exec('commit');
    }
  }

  close() {
    this.db.close();
  }
}
