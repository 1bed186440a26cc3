// Scenario `io-sync` for plain Node servers (node:http, node:cluster): a synchronous handler
// that waits 10 ms with Atomics.wait, which blocks the whole process (or cluster worker)
// meanwhile: what a synchronous wait costs a Node server without threads.
import { IO_BODY, IO_MS, blockFor } from './shared/io.mjs';

export default function ioSyncBlock(req, res) {
  blockFor(IO_MS);
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(IO_BODY.length) });
  res.end(IO_BODY);
}
