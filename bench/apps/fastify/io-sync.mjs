// Scenario `io-sync` as a fastify plugin: a synchronous 10 ms wait (Atomics.wait) in the route,
// which blocks fastify's one event loop meanwhile.
import { IO_BODY, IO_MS, blockFor } from '../shared/io.mjs';

export default async function ioSync(app) {
  app.get('/io-sync', (request, reply) => {
    blockFor(IO_MS);
    reply.type('text/plain').send(IO_BODY);
  });
}
