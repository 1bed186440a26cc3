// SQLite with better-sqlite3 (v12; synchronous by design, so it needs no shim): one connection
// per worker thread, opened when the worker loads this module, in WAL mode so readers in other
// workers do not block on a writer. Every worker opens the same file.
//
//   SQLITE_PATH=/tmp/notes.db greenserve --threads 4 examples/sqlite/app.mjs
//
//   GET  /notes          the notes, newest first (JSON), and which worker answered
//   POST /notes          body = the note's text; answers it (201)
import os from 'node:os';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import Database from 'better-sqlite3';

const file = process.env.SQLITE_PATH ?? path.join(os.tmpdir(), 'greenserve-example-notes.db');
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('busy_timeout = 5000'); // another worker holding the write lock: wait, do not fail
db.pragma('synchronous = NORMAL'); // safe with WAL; no fsync per transaction
db.exec('create table if not exists notes (id integer primary key, text text not null, worker integer not null)');

// Prepared once per worker.
const insert = db.prepare('insert into notes (text, worker) values (?, ?) returning id, text, worker');
const list = db.prepare('select id, text, worker from notes order by id desc limit 100');

function json(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export default function app(req, res) {
  if (req.url !== '/notes') return json(res, 404, { error: 'not found' });
  if (req.method === 'POST') {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => json(res, 201, insert.get(Buffer.concat(chunks).toString('utf8'), threadId)));
    return;
  }
  json(res, 200, { worker: threadId, journal: db.pragma('journal_mode', { simple: true }), notes: list.all() });
}
