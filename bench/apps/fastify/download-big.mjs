// Scenario `download-big` as a fastify plugin: GET /download-big -> the same 10 MiB buffer, sent
// whole with reply.send(buffer).
import { DOWNLOAD_BIG_BYTES } from '../download-big.mjs';

const BODY = Buffer.alloc(DOWNLOAD_BIG_BYTES, 0x61);

export default async function downloadBig(app) {
  app.get('/download-big', (request, reply) => {
    reply.type('application/octet-stream').send(BODY);
  });
}
