// Scenario `sqlite` for fastify + piscina: the better-sqlite3 read runs on a piscina thread
// (each thread opens the database once); the row comes back by structured clone.
import { randomId } from '../shared/db.mjs';

export default async function sqlitePiscina(app, { pool }) {
  app.get('/sqlite', () => pool.run(randomId(), { name: 'sqlite' }));
}
