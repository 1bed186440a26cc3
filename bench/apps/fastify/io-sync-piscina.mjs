// Scenario `io-sync` for fastify + piscina: the synchronous 10 ms wait runs on a piscina thread
// (it blocks that thread, not the event loop).
import { IO_BODY, IO_MS } from '../shared/io.mjs';

export default async function ioSyncPiscina(app, { pool }) {
  app.get('/io-sync', async (request, reply) => {
    await pool.run(IO_MS, { name: 'block' });
    reply.type('text/plain');
    return IO_BODY;
  });
}
