// Peer: plain node:http, one process.  Usage: node bench/peers/node-http.mjs APP PORT
import http from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [appPath, port] = process.argv.slice(2);
if (!appPath || !port) {
  console.error('usage: node bench/peers/node-http.mjs APP PORT');
  process.exit(2);
}

const { default: handler } = await import(pathToFileURL(resolve(appPath)).href);
const server = http.createServer(handler);
server.listen({ host: '127.0.0.1', port: Number(port), backlog: 2048 });

process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
