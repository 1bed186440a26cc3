// Scenario `sqlite`: GET /sqlite -> one row by random id from a 100k-row table, read
// synchronously with better-sqlite3 (shared/db.mjs), answered as JSON (~100 bytes).
import { openDb, randomId } from './shared/db.mjs';

const getRow = openDb();

export default function sqlite(req, res) {
  const body = JSON.stringify(getRow(randomId()));
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}
