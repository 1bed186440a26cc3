// Peer: fastify, one process, the scenario's routes registered as a plugin from
// bench/apps/fastify/.  Usage: node bench/peers/fastify.mjs PLUGIN PORT
import Fastify from 'fastify';
import { BACKLOG, KEEP_ALIVE_MS, args, loadApp } from './shared.mjs';

const { appPath, port } = args('node bench/peers/fastify.mjs PLUGIN PORT');
const app = Fastify({ logger: false, keepAliveTimeout: KEEP_ALIVE_MS });
await app.register(await loadApp(appPath));
await app.listen({ host: '127.0.0.1', port, backlog: BACKLOG });

process.once('SIGTERM', () => {
  app.close().then(() => process.exit(0));
});
