// Peer: plain node:http, one process.  Usage: node bench/peers/node-http.mjs APP PORT
import http from 'node:http';
import { BACKLOG, KEEP_ALIVE_MS, args, loadApp } from './shared.mjs';

const { appPath, port } = args('node bench/peers/node-http.mjs APP PORT');
const server = http.createServer({ keepAliveTimeout: KEEP_ALIVE_MS }, await loadApp(appPath));
server.listen({ host: '127.0.0.1', port, backlog: BACKLOG });

process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
