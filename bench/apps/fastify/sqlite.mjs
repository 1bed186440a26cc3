// Scenario `sqlite` as a fastify plugin: a synchronous better-sqlite3 read in the route; fastify
// serialises the row.
import { openDb, randomId } from '../shared/db.mjs';

export default async function sqlite(app) {
  const getRow = openDb();
  app.get('/sqlite', () => getRow(randomId()));
}
