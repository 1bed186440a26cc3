// Scenario `cpu` as a fastify plugin: the ~1 ms loop runs in the route handler, on the event loop.
import { cpuBody } from '../shared/work.mjs';

export default async function cpu(app) {
  app.get('/cpu', (request, reply) => {
    reply.type('text/plain').send(cpuBody());
  });
}
