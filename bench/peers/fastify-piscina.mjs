// Peer: fastify with a piscina pool for the blocking work (CPU loop, synchronous wait, sqlite
// read): the usual Node answer to blocking code. The plugin (bench/apps/fastify/*-piscina.mjs)
// gets the pool as opts.pool; the tasks are bench/apps/fastify/piscina-tasks.mjs. The pool
// keeps piscina's defaults (maxThreads 1.5 x cores) unless BENCH_PISCINA_THREADS is set.
// Usage: node bench/peers/fastify-piscina.mjs PLUGIN PORT
import Fastify from 'fastify';
import { Piscina } from 'piscina';
import { BACKLOG, KEEP_ALIVE_MS, args, loadApp } from './shared.mjs';

const { appPath, port } = args('node bench/peers/fastify-piscina.mjs PLUGIN PORT');
const threads = Number(process.env.BENCH_PISCINA_THREADS) || undefined;
const pool = new Piscina({
  filename: new URL('../apps/fastify/piscina-tasks.mjs', import.meta.url).href,
  ...(threads ? { minThreads: threads, maxThreads: threads } : {}),
});
console.log(`fastify-piscina: piscina minThreads ${pool.options.minThreads}, maxThreads ${pool.options.maxThreads}`);
const app = Fastify({ logger: false, keepAliveTimeout: KEEP_ALIVE_MS });
await app.register(await loadApp(appPath), { pool });
await app.listen({ host: '127.0.0.1', port, backlog: BACKLOG });

process.once('SIGTERM', () => {
  app.close().then(() => pool.destroy()).then(() => process.exit(0));
});
