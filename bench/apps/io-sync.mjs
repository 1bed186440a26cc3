// Scenario `io-sync`, greenserve's version: GET /io-sync -> a synchronous handler that waits
// 10 ms through `sleep` from greenserve's native shims (`greenserve/shims`), which parks this
// worker thread while the acceptor keeps serving other requests on the other threads.
// node:http and node:cluster load io-sync-block.mjs instead (the shims only work inside a
// greenserve worker). bench/run.mjs skips the scenario when `greenserve/shims` cannot be
// imported, rather than substituting another wait.
import { sleep } from 'greenserve/shims';
import { IO_BODY, IO_MS } from './shared/io.mjs';

export default function ioSync(req, res) {
  sleep(IO_MS);
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(IO_BODY.length) });
  res.end(IO_BODY);
}
