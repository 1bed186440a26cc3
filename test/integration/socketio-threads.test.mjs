// examples/socketio/app.mjs with --threads 4 and --sticky query:sid: socket.io clients with the
// default transports (long-polling first, then the upgrade to a WebSocket) all connect, they are
// spread over several threads, and a broadcast from any of them reaches every client (the
// example's ThreadsAdapter over greenserve/broadcast). Real sockets, real socket.io-client.
import t from 'tap';
import { io } from 'socket.io-client';
import { example, startCli, until } from '../helpers.mjs';

const CLIENTS = 20;

/** Resolves once every client in `clients` got `event` with a payload matching `pred`; rejects after `ms`. */
function allReceive(clients, event, pred, ms = 10000) {
  return Promise.all(clients.map((c, i) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`client ${i} did not get ${event}`)), ms);
    c.on(event, (payload) => {
      if (!pred(payload)) return;
      clearTimeout(timer);
      resolve(payload);
    });
  })));
}

t.test('socket.io, default transports, --threads 4 --sticky query:sid: every client connects, broadcasts reach all', { timeout: 90000 }, async (t) => {
  const s = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '4', '--sticky', 'query:sid', example('socketio/app.mjs')], { env: { PORT: '0' } });
  const clients = Array.from({ length: CLIENTS }, () => io(`http://127.0.0.1:${s.port}`, { reconnection: false, timeout: 10000 }));
  t.teardown(() => clients.forEach((c) => c.close()));
  const connected = await Promise.allSettled(clients.map((c) => new Promise((resolve, reject) => {
    c.once('connect', resolve);
    c.once('connect_error', reject);
  })));
  t.equal(connected.filter((r) => r.status === 'fulfilled').length, CLIENTS, `all ${CLIENTS} clients connect`);
  // The upgrade to a WebSocket (its request carries the sid too) reaches the session's thread.
  const upgraded = await until(() => clients.every((c) => c.io.engine.transport.name === 'websocket'), 15000);
  t.ok(upgraded, 'every client upgraded to a WebSocket');
  const threads = await Promise.all(clients.map((c) => c.timeout(5000).emitWithAck('whoami')));
  const distinct = new Set(threads.map((x) => x.threadId));
  t.ok(distinct.size > 1, `the clients are on ${distinct.size} threads`);

  for (const from of [0, CLIENTS - 1]) {
    const text = `hello from client ${from}`;
    const got = allReceive(clients, 'said', (p) => p.text === text);
    clients[from].emit('say', text);
    const payloads = await got;
    t.equal(payloads.length, CLIENTS, `"${text}" (thread ${threads[from].threadId}) reached all ${CLIENTS} clients`);
  }
});
