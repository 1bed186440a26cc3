// The notes app: a JSON API and an HTML page over SQLite, written as plain synchronous
// `(req, res)` handlers. It is what `npx greenserve` serves when no app is given, and the model
// of a real greenserve app:
//
//   NOTES_DB=/tmp/notes.db greenserve --threads 4 examples/notes/app.mjs
//
//   GET    /api/notes?q=&limit=&offset=   list, newest first; q searches title and text
//   POST   /api/notes        {title, body?}    create: 201 with Location
//   GET    /api/notes/:id                      read: 200, or 404
//   PUT    /api/notes/:id    {title, body}     replace: 200, or 404
//   PATCH  /api/notes/:id    {title?, body?}   change some fields: 200, or 404
//   DELETE /api/notes/:id                      delete: 204, or 404
//   GET    /api/info                           the driver, database file and answering thread
//   GET    /                                   the page (public/), which uses the API
//
// Bad input gets a 400 whose `error` names the field (`title: is required`); errors are JSON.
//
// Per-worker setup: greenserve imports this module once in each worker thread, so the code at
// the top level (open the database, prepare statements, compile schemas, read the page) runs once
// per thread, before the thread takes requests. Each thread has its own SQLite connection, which
// `teardown()` (below) closes when the worker stops gracefully (shutdown, reload, recycle): the
// last connection to close checkpoints the WAL into the database file.
import { readFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { defaultDatabasePath, loadDriver, openNotes } from './db.mjs';
import { createRouter, HttpError, sendJson } from './router.mjs';
import { CreateNote, ListQuery, NoteId, PatchNote, ReplaceNote } from './schemas.mjs';

const MAX_BODY = 128 * 1024;

export const databaseFile = process.env.NOTES_DB || defaultDatabasePath();
const driver = await loadDriver();
const notes = openNotes(driver, databaseFile);

function found(note, id) {
  if (note === null) throw new HttpError(404, `note ${id} not found`);
  return note;
}

const api = [
  {
    method: 'GET', path: '/api/notes', query: ListQuery,
    handler(req, res) {
      const { q, limit, offset } = req.query;
      const { notes: page, total } = notes.list({ q, limit, offset });
      sendJson(res, 200, { notes: page, total, limit, offset, ...(q === undefined ? {} : { q }) });
    },
  },
  {
    method: 'POST', path: '/api/notes', body: CreateNote,
    handler(req, res) {
      const note = notes.create(req.body);
      sendJson(res, 201, note, { location: `/api/notes/${note.id}` });
    },
  },
  {
    method: 'GET', path: '/api/notes/:id', params: NoteId,
    handler(req, res) {
      sendJson(res, 200, found(notes.get(req.params.id), req.params.id));
    },
  },
  {
    method: 'PUT', path: '/api/notes/:id', params: NoteId, body: ReplaceNote,
    handler(req, res) {
      sendJson(res, 200, found(notes.update(req.params.id, req.body), req.params.id));
    },
  },
  {
    method: 'PATCH', path: '/api/notes/:id', params: NoteId, body: PatchNote,
    handler(req, res) {
      sendJson(res, 200, found(notes.update(req.params.id, req.body), req.params.id));
    },
  },
  {
    method: 'DELETE', path: '/api/notes/:id', params: NoteId,
    handler(req, res) {
      if (!notes.delete(req.params.id)) throw new HttpError(404, `note ${req.params.id} not found`);
      sendJson(res, 204, undefined);
    },
  },
  {
    method: 'GET', path: '/api/info',
    handler(req, res) {
      sendJson(res, 200, { driver: driver.name, version: driver.version, database: databaseFile, journal: notes.journal, thread: threadId });
    },
  },
];

// The page: three static files, read once per worker. The script and the style are files of
// their own so that the page can forbid inline script (Content-Security-Policy).
const page = (name, type, headers = {}) => {
  const body = readFileSync(new URL(`./public/${name}`, import.meta.url));
  return (req, res) => {
    res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'no-cache', ...headers });
    res.end(body);
  };
};
const csp = { 'content-security-policy': "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'" };
const files = [
  { method: 'GET', path: '/', handler: page('index.html', 'text/html; charset=utf-8', csp) },
  { method: 'GET', path: '/notes.js', handler: page('notes.js', 'text/javascript; charset=utf-8') },
  { method: 'GET', path: '/notes.css', handler: page('notes.css', 'text/css; charset=utf-8') },
];

export default createRouter([...api, ...files], { maxBody: MAX_BODY });

/** greenserve's per-worker teardown hook (docs/signals.md): close this thread's connection. */
export function teardown() {
  notes.close();
}
