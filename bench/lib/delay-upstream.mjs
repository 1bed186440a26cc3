// A node:http server on 127.0.0.1 that answers every request after a fixed delay with the io
// scenarios' body: the upstream of bench/shims.mjs's fetchSync handler. Run as its own process
// (the harness's event loop runs autocannon). Prints its port on stdout once listening.
// usage: node bench/lib/delay-upstream.mjs DELAY_MS
import http from 'node:http';
import { IO_BODY } from '../apps/shared/io.mjs';

const delayMs = Number(process.argv[2] ?? 10);
const server = http.createServer((req, res) => {
  req.resume();
  setTimeout(() => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(IO_BODY.length) });
    res.end(IO_BODY);
  }, delayMs);
});
server.keepAliveTimeout = 75_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
