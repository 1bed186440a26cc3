// Scenario `io-async`: GET /io-async -> an async handler that awaits a 10 ms timer (a stand-in
// for a database or HTTP call made the Node way), then answers `waited 10 ms\n`.
import { setTimeout as delay } from 'node:timers/promises';
import { IO_BODY, IO_MS } from './shared/io.mjs';

export default async function ioAsync(req, res) {
  await delay(IO_MS);
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(IO_BODY.length) });
  res.end(IO_BODY);
}
