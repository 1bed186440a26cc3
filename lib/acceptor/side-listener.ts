// design: the operator-facing listeners (--metrics-bind, --status-bind) are plain node:http
// servers on their own address, never on the request path: they answer the operator, not
// clients, and a slow scrape or dashboard cannot delay a request. One way to open them.
import http from 'node:http';
import { parseBind } from '../config/settings.js';

/**
 * Listen on `address` (a --bind form) with `handler`; resolves with the server and the URL of
 * `path` on it (`unix:PATH` + path for a unix socket). Rejects with the listen error
 * (EADDRINUSE, EACCES) so the caller can stop the start with a clear message.
 */
export async function listenSide(address: string, path: string, handler: http.RequestListener): Promise<{ server: http.Server; url: string }> {
  const addr = parseBind(address);
  const server = http.createServer(handler);
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (addr.kind === 'unix') server.listen(addr.path, resolve);
    else server.listen(addr.port, addr.host, resolve);
  });
  if (addr.kind === 'unix') return { server, url: `unix:${addr.path}${path === '/' ? '' : path}` };
  const a = server.address() as { address: string; port: number; family: string };
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return { server, url: `http://${host}:${a.port}${path}` };
}
