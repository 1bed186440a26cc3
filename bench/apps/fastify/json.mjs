// Scenario `json` as a fastify plugin: the route returns the object and fastify serialises it
// (no response schema, so JSON.stringify, like the other servers' apps).
import { doc } from '../shared/doc.mjs';

export default async function json(app) {
  app.get('/json', () => doc);
}
