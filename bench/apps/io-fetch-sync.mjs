// bench/shims.mjs, handler `fetchSync`: a synchronous handler that waits on a local upstream
// answering after 10 ms (BENCH_UPSTREAM_URL, started by the harness) through `fetchSync` from
// greenserve's native shims, which parks this worker thread until the I/O helper has the answer.
import { fetchSync } from 'greenserve/shims';

const UPSTREAM = process.env.BENCH_UPSTREAM_URL;
if (!UPSTREAM) throw new Error('io-fetch-sync.mjs needs BENCH_UPSTREAM_URL (bench/shims.mjs sets it)');

export default function ioFetchSync(req, res) {
  const r = fetchSync(UPSTREAM);
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(r.body.length) });
  res.end(r.body);
}
