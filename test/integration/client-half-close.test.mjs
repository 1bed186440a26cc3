// A client that half-closes (FIN: shutdown(SHUT_WR), or close(), which send the same) may be
// gone. What its handlers answer at once still goes out, in order; a request still waiting for its
// answer is cancelled (`close` on req/res, an aborted request.signal), which frees its
// --thread-concurrency place; the connection closes after the responses
// (docs/decisions/0023-client-half-close.md). Without this, async handlers that never answer
// kept their places after their clients left, and once they filled them the server answered
// nothing more.
import t from 'tap';
import { channel, fixture, portOf, startServer } from '../helpers.mjs';
import { RawConn, rawGet } from '../wire.mjs';

/** Send `text`, half-close, and collect the responses until the server closes (or `ms` pass). */
async function sendThenFin(port, text, ms = 5000) {
  const c = await RawConn.open(port);
  try {
    await c.send(Buffer.from(text, 'latin1'));
    c.end();
    const responses = [];
    for (;;) {
      const r = await c.next(ms);
      if (r.response) {
        responses.push({ status: r.response.status, body: r.response.body.toString('latin1') });
        continue;
      }
      return { responses, closed: r.closed === true, timeout: r.timeout === true };
    }
  } finally {
    c.destroy();
  }
}

t.test('clients that half-close while their handlers never answer free their places', { timeout: 30000 }, async (t) => {
  const name = `half-${process.pid}`;
  const ch = channel(t, name);
  // One thread with two places, no --response-timeout: only the FIN can free them.
  const srv = await startServer(t, { app: fixture('half-close.mjs'), threads: 1, maxThreads: 1, threadConcurrency: 2, workerConnections: 2, responseTimeout: 0 });
  const port = portOf(srv);
  // Five such clients, more than the two places.
  const gone = await Promise.all([1, 2, 3, 4, 5].map((id) => sendThenFin(port, `GET /hang?ch=${name}&id=${id} HTTP/1.1\r\nHost: x\r\n\r\n`)));
  for (const [i, g] of gone.entries()) {
    t.same(g.responses, [], `client ${i + 1}: no response`);
    t.ok(g.closed, `client ${i + 1}: the server closed the connection`);
  }
  for (const id of ['1', '2', '3', '4', '5']) {
    const e = await ch.wait((m) => m.closed === id, 5000);
    t.equal(e.ended, false, `handler ${id} saw its request close`);
  }
  const r = await rawGet(port, '/hello');
  t.same([r.response?.status, r.response?.body.toString('latin1')], [200, 'ok'], 'a new client is served: the places are free');
  t.equal(srv.stats().outstanding, 0, 'nothing is owed');
});

t.test('what the handlers answer at once still goes out, in order, then the connection closes', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('half-close.mjs'), threads: 1, maxThreads: 1 });
  const port = portOf(srv);
  const r = await sendThenFin(port, 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /soon HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n');
  t.same(r.responses.map((x) => x.body), ['ok', 'soon', 'ok'], 'a synchronous answer and one after an await are both written');
  t.ok(r.closed, 'then the server closes');
});

t.test('a request still waiting is cancelled: responses before it go out, none after it', { timeout: 20000 }, async (t) => {
  const name = `half-order-${process.pid}`;
  const ch = channel(t, name);
  const srv = await startServer(t, { app: fixture('half-close.mjs'), threads: 1, maxThreads: 1, responseTimeout: 0 });
  const port = portOf(srv);
  const r = await sendThenFin(port, `GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /hang?ch=${name}&id=mid HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n`);
  t.same(r.responses.map((x) => x.body), ['ok'], 'the answer before the cancelled request, and nothing after it');
  t.ok(r.closed, 'the server closes');
  await ch.wait((m) => m.closed === 'mid', 5000);
  t.equal(srv.stats().outstanding, 0, 'nothing is owed');
});

t.test('Fetch-style apps: an answer after the usual awaits goes out; a waiting request.signal aborts', { timeout: 20000 }, async (t) => {
  const name = `half-fetch-${process.pid}`;
  const ch = channel(t, name);
  const srv = await startServer(t, { app: fixture('half-close-fetch.mjs'), threads: 1, maxThreads: 1, threadConcurrency: 1, workerConnections: 1, responseTimeout: 0 });
  const port = portOf(srv);
  const ok = await sendThenFin(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  t.same(ok.responses, [{ status: 200, body: 'fetch ok' }], 'answered');
  t.ok(ok.closed, 'then closed');
  const hung = await sendThenFin(port, `GET /hang?ch=${name}&id=f1 HTTP/1.1\r\nHost: x\r\n\r\n`);
  t.same(hung.responses, [], 'no response for the request that waits');
  t.ok(hung.closed, 'closed');
  await ch.wait((m) => m.aborted === 'f1', 5000);
  const r = await rawGet(port, '/');
  t.same([r.response?.status, r.response?.body.toString('latin1')], [200, 'fetch ok'], 'its one place is free again');
});
