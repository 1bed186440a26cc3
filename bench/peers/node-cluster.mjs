// Peer: node:cluster with N worker processes (default: one per core), each a plain node:http
// server on the same port (the primary distributes connections, round-robin, Node's default on
// Linux).  Usage: node bench/peers/node-cluster.mjs APP PORT [N]
import cluster from 'node:cluster';
import http from 'node:http';
import os from 'node:os';
import { BACKLOG, KEEP_ALIVE_MS, args, loadApp } from './shared.mjs';

const { appPath, port, rest: [count] } = args('node bench/peers/node-cluster.mjs APP PORT [N]');

if (cluster.isPrimary) {
  const n = Number(count) || os.availableParallelism();
  for (let i = 0; i < n; i++) cluster.fork();
  let stopping = false;
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) console.error(`node-cluster: worker ${worker.process.pid} died (${signal ?? code})`);
    if (Object.keys(cluster.workers).length === 0 && stopping) process.exit(0);
  });
  process.once('SIGTERM', () => {
    stopping = true;
    const workers = Object.values(cluster.workers);
    if (workers.length === 0) process.exit(0);
    for (const worker of workers) worker.process.kill('SIGTERM');
  });
} else {
  const server = http.createServer({ keepAliveTimeout: KEEP_ALIVE_MS }, await loadApp(appPath));
  server.listen({ host: '127.0.0.1', port, backlog: BACKLOG });
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
