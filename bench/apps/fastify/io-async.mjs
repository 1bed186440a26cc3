// Scenario `io-async` as a fastify plugin: an async route that awaits a 10 ms timer.
import { setTimeout as delay } from 'node:timers/promises';
import { IO_BODY, IO_MS } from '../shared/io.mjs';

export default async function ioAsync(app) {
  app.get('/io-async', async (request, reply) => {
    await delay(IO_MS);
    reply.type('text/plain');
    return IO_BODY;
  });
}
