// Streamed responses: pieces reach the client as they are written
// (node shape, Fetch ReadableStream, sync generator), backpressure from a client that does not
// read reaches the handler while the acceptor's buffer stays bounded, server-sent events outlive
// --keep-alive and --timeout, a client that goes away reaches the handler, and a stalled stream
// is closed by --stream-idle-timeout. Handler and test talk over a BroadcastChannel (handshakes,
// not sleeps); the only waits are where the feature is time itself (keep-alive, idle timeout).
import t from 'tap';
import { delay, fixture, portOf, startServer, until, channel } from '../helpers.mjs';
import { countingGet } from '../wire.mjs';

/** Read from a fetch body reader until `text` holds `want`; returns the text so far. */
async function readUntil(reader, state, want) {
  const dec = new TextDecoder();
  while (!state.text.includes(want)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`stream ended before ${JSON.stringify(want)}; got ${JSON.stringify(state.text)}`);
    state.text += dec.decode(value, { stream: true });
  }
  return state.text;
}

t.test('node shape: each res.write() piece reaches the client before the next is written', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('streams.mjs') });
  const ch = channel(t, 'gs-streams');
  const res = await fetch(`http://127.0.0.1:${portOf(srv)}/pieces?key=p1&n=3`);
  t.equal(res.headers.get('transfer-encoding'), 'chunked');
  const reader = /** @type {ReadableStream<Uint8Array>} */ (res.body).getReader();
  const st = { text: '' };
  for (let i = 0; i < 3; i++) {
    await readUntil(reader, st, `piece ${i}\n`);
    t.notOk(st.text.includes(`piece ${i + 1}`), `piece ${i} arrived alone (the handler waits for the client before the next)`);
    if (i < 2) ch.next('p1');
  }
  t.equal((await reader.read()).done, true, 'the stream ends after the last piece');
  t.equal(st.text, 'piece 0\npiece 1\npiece 2\n');
});

t.test('fetch shape: a ReadableStream body is pulled piece by piece; a sync generator body streams too', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('fetch-streams.mjs') });
  const ch = channel(t, 'gs-fetch-streams');
  const port = portOf(srv);
  const res = await fetch(`http://127.0.0.1:${port}/stream?key=f1&n=3`);
  const reader = /** @type {ReadableStream<Uint8Array>} */ (res.body).getReader();
  const st = { text: '' };
  for (let i = 0; i < 3; i++) {
    await readUntil(reader, st, `piece ${i}\n`);
    t.notOk(st.text.includes(`piece ${i + 1}`), `piece ${i} arrived before the next was produced`);
    ch.next('f1');
  }
  t.equal((await reader.read()).done, true);
  t.equal(st.text, 'piece 0\npiece 1\npiece 2\n');

  const gen = await fetch(`http://127.0.0.1:${port}/generator?key=g1&pieces=300&size=1000`);
  const body = Buffer.from(await gen.arrayBuffer());
  t.equal(body.length, 300 * 1000, 'every generated piece arrived');
  t.equal(body[0], 0x30);
  t.equal(body[299 * 1000], 0x30 + (299 % 10), 'in order');
  await ch.wait((e) => e.key === 'g1' && e.op === 'generator-done');
});

/**
 * A client that does not read: the acceptor's buffer for it stays about the window (512 KiB) plus
 * the socket's buffer and one frame; 4 MiB is far above that and far below the 32 MiB an
 * unbounded acceptor would hold.
 */
function heldIsBounded(t, srv) {
  const held = srv.stats().connectionBufferMax;
  t.ok(held > 0 && held < 4 * 1048576, `acceptor holds ${held} bytes for the stalled client`);
}

/** Once the client reads again, the whole body of `bytes` arrives (with chunk framing). */
async function wholeBodyArrives(t, st, bytes, ms) {
  st.socket.resume();
  await until(() => st.body >= bytes, ms);
  t.ok(st.body >= bytes, `the client got the whole body (${st.body} bytes with chunk framing)`);
  st.socket.destroy();
}

t.test('a client that stops reading: res.write() returns false, the acceptor holds a bounded amount, all arrives after', { timeout: 60000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('streams.mjs'), threads: 1 });
  const ch = channel(t, 'gs-streams');
  const st = await countingGet(portOf(srv), '/flood?key=b1&mib=32');
  st.socket.pause();
  // The handshake: the handler itself says its write returned false.
  await ch.wait((e) => e.key === 'b1' && e.op === 'blocked', 20000);
  await delay(500); // every chance to push more while the client still does not read
  heldIsBounded(t, srv);
  t.notOk(ch.events.some((e) => e.key === 'b1' && e.op === 'done'), 'the handler is held back, not finished');
  const arrived = wholeBodyArrives(t, st, 32 * 1048576, 50000);
  const done = await ch.wait((e) => e.key === 'b1' && e.op === 'done', 30000);
  t.ok(done.falses >= 1);
  await arrived;
});

t.test('a handler that ignores backpressure buffers in its worker: the acceptor still holds about the window', { timeout: 60000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('streams.mjs'), threads: 1 });
  const ch = channel(t, 'gs-streams');
  const st = await countingGet(portOf(srv), '/dump?key=d1&mib=32');
  st.socket.pause();
  await ch.wait((e) => e.key === 'd1' && e.op === 'dumped', 20000);
  await delay(500); // every chance to push more while the client does not read
  // Before: node handed the whole backlog over in one _writev, and the acceptor held all 32 MiB.
  heldIsBounded(t, srv);
  await wholeBodyArrives(t, st, 32 * 1048576, 30000);
});

t.test('a sync generator is pulled only as fast as the client reads', { timeout: 60000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('fetch-streams.mjs'), threads: 1 });
  const ch = channel(t, 'gs-fetch-streams');
  // 4096 pieces of 16 KiB: 64 MiB, more than the loopback socket buffers can hide.
  const st = await countingGet(portOf(srv), '/generator?key=g2&pieces=4096&size=16384');
  st.socket.pause();
  await ch.wait((e) => e.key === 'g2' && e.op === 'pulled', 20000);
  await delay(1000);
  const pulled = Math.max(...ch.events.filter((e) => e.key === 'g2' && e.op === 'pulled').map((e) => e.pulled));
  t.ok(pulled < 4096, `the generator stopped at ${pulled} of 4096 pieces while the client did not read`);
  t.ok(srv.stats().connectionBufferMax < 4 * 1048576);
  st.socket.resume();
  const done = await ch.wait((e) => e.key === 'g2' && e.op === 'generator-done', 30000);
  t.equal(done.pulled, 4096);
  await until(() => st.body >= 64 * 1048576, 20000);
  st.socket.destroy();
});

t.test('server-sent events stay open past --keep-alive and --timeout while the stream is active', { timeout: 30000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('streams.mjs'), keepAlive: 1, timeout: 1, maxThreads: 2 }); // a fixed pool: it counts workers
  const ch = channel(t, 'gs-streams');
  const res = await fetch(`http://127.0.0.1:${portOf(srv)}/sse?key=s1&n=3`, { headers: { accept: 'text/event-stream' } });
  t.equal(res.headers.get('content-type'), 'text/event-stream');
  const reader = /** @type {ReadableStream<Uint8Array>} */ (res.body).getReader();
  const st = { text: '' };
  // An EventSource-style reader: events are blocks ending with a blank line.
  const events = () => st.text.split('\n\n').filter((b) => b.includes('data: ')).map((b) => /data: (.*)/.exec(b)?.[1]);
  ch.next('s1');
  await readUntil(reader, st, 'data: event 0\n\n');
  // 2.5 s of silence: past --keep-alive 1 and --timeout 1 (the sweep and the supervisor check
  // every second and every 100 ms): the stream owes a response, so neither applies.
  await delay(2500);
  ch.next('s1');
  await readUntil(reader, st, 'data: event 1\n\n');
  ch.next('s1');
  await readUntil(reader, st, 'data: event 2\n\n');
  t.equal((await reader.read()).done, true);
  t.same(events(), ['event 0', 'event 1', 'event 2']);
  t.equal(srv.stats().workers.length, 2, 'no worker was killed');
});

t.test('a client that goes away reaches the handler: close (node) and request.signal (fetch)', { timeout: 60000 }, async (t) => {
  const node = await startServer(t, { app: fixture('streams.mjs') });
  const ch = channel(t, 'gs-streams');
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${portOf(node)}/pieces?key=c1&n=5`, { signal: ac.signal });
  const reader = /** @type {ReadableStream<Uint8Array>} */ (res.body).getReader();
  await readUntil(reader, { text: '' }, 'piece 0\n');
  ac.abort();
  const closed = await ch.wait((e) => e.key === 'c1' && e.op === 'close');
  t.equal(closed.finished, false, "res emitted 'close' before finishing");
  await until(() => node.stats().outstanding === 0);

  const fetchApp = await startServer(t, { app: fixture('fetch-streams.mjs') });
  const fch = channel(t, 'gs-fetch-streams');
  const ac2 = new AbortController();
  // &gc=1: the worker collects garbage while the stream waits; the app keeps no reference to its
  // Request (undici's Request.signal follows the adapter's signal only while the Request lives).
  const res2 = await fetch(`http://127.0.0.1:${portOf(fetchApp)}/stream?key=c2&n=5&gc=1`, { signal: ac2.signal });
  await readUntil(/** @type {ReadableStream<Uint8Array>} */ (res2.body).getReader(), { text: '' }, 'piece 0\n');
  ac2.abort();
  await fch.wait((e) => e.key === 'c2' && e.op === 'aborted');
  t.pass('request.signal aborted');
  fch.next('c2'); // the pending pull returns; the body stream is then cancelled
  await fch.wait((e) => e.key === 'c2' && e.op === 'cancelled');
  t.pass('the body stream was cancelled');
  await until(() => fetchApp.stats().outstanding === 0);
});

t.test('--stream-idle-timeout closes a stream that sends nothing, and the handler hears of it', { timeout: 20000 }, async (t) => {
  const srv = await startServer(t, { app: fixture('streams.mjs'), streamIdleTimeout: 1 });
  const ch = channel(t, 'gs-streams');
  const st = await countingGet(portOf(srv), '/stall?key=i1');
  const started = Date.now();
  await until(() => st.closed, 10000);
  const ms = Date.now() - started;
  // 1 s of idleness, checked once a second: closes after 1-2 s (bound widened for a loaded machine).
  t.ok(ms >= 900 && ms < 8000, `closed after ${ms} ms`);
  const closed = await ch.wait((e) => e.key === 'i1' && e.op === 'close');
  t.equal(closed.finished, false);
  t.equal((await fetch(`http://127.0.0.1:${portOf(srv)}/`).then((r) => r.text())), 'hello\n', 'small requests are unaffected');
});
