// Scenario `cpu` for fastify + piscina: the handler hands the ~1 ms loop to the piscina pool
// (opts.pool, tasks in piscina-tasks.mjs) and awaits it: the usual Node answer to CPU work.
export default async function cpuPiscina(app, { pool }) {
  app.get('/cpu', async (request, reply) => {
    reply.type('text/plain');
    return pool.run(null, { name: 'cpu' });
  });
}
