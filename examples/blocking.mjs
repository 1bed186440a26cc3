// A synchronous node request listener that blocks its thread on purpose, to show what greenserve
// is for:
//   GET /block?ms=50   sleeps with Atomics.wait on a local Int32Array for `ms` milliseconds
//                      (the same kind of blocking wait as a synchronous driver call), answers
//                      "blocked 50ms"
//   GET /cpu?ms=50     busy-loops for `ms` milliseconds, answers "busy 50ms"
//   anything else      answers "hello"
//
//   greenserve --threads 4 examples/blocking.mjs
//
// Only the worker thread running that request blocks: the acceptor keeps accepting and the other
// worker threads keep answering, so `/` stays fast while some threads sit in /block or /cpu.
// (Under plain `http.createServer` the same handler would stall every client of the process.)
const MAX_MS = 10_000;

function msOf(url) {
  const n = Number(new URL(url, 'http://localhost').searchParams.get('ms') ?? 50);
  return Number.isFinite(n) ? Math.min(Math.max(n, 0), MAX_MS) : 50;
}

export default function blocking(req, res) {
  const path = req.url.split('?')[0];
  let body = 'hello';
  if (path === '/block') {
    const ms = msOf(req.url);
    // Nobody ever notifies this local array: the wait always runs its full timeout.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    body = `blocked ${ms}ms`;
  } else if (path === '/cpu') {
    const ms = msOf(req.url);
    const end = performance.now() + ms;
    while (performance.now() < end) {
      // spin
    }
    body = `busy ${ms}ms`;
  }
  res.setHeader('content-type', 'text/plain');
  res.end(body);
}
