// Scenario `hello` as a fastify plugin: GET /hello -> `Hello, World!` as text/plain.
const BODY = 'Hello, World!';

export default async function hello(app) {
  app.get('/hello', (request, reply) => {
    reply.type('text/plain').send(BODY);
  });
}
