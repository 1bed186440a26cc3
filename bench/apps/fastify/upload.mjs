// Scenario `upload` as a fastify plugin: fastify buffers the octet-stream body (its own way; it
// answers 415 to content types without a parser) and the route answers its length.
export default async function upload(app) {
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (request, body, done) => done(null, body));
  app.post('/upload', (request, reply) => {
    reply.type('text/plain').send(String(request.body.length));
  });
}
