// The streaming transfers as a fastify plugin: GET /stream?mib=N replies with a Readable that
// yields N MiB in 64 KiB pieces (fastify pipes it with backpressure); POST /stream counts the
// body as it streams in (a content-type parser that reads the raw stream, so fastify neither
// buffers it nor applies its 1 MiB bodyLimit).
import { Readable } from 'node:stream';

const PIECE = Buffer.alloc(65536, 0x61);

function* pieces(n) {
  for (let i = 0; i < n; i++) yield PIECE;
}

export default async function stream(app) {
  app.addContentTypeParser('application/octet-stream', (request, payload, done) => {
    let n = 0;
    payload.on('data', (c) => { n += c.length; });
    payload.on('end', () => done(null, n));
    payload.on('error', done);
  });
  app.get('/stream', (request, reply) => {
    reply.type('application/octet-stream').send(Readable.from(pieces(Number(request.query.mib) * 16), { objectMode: false }));
  });
  app.post('/stream', (request, reply) => {
    reply.type('text/plain').send(String(request.body));
  });
}
