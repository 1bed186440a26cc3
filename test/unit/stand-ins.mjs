// Stand-ins for the unit tests of the dispatcher and the supervisor: a worker's channel as the
// dispatcher keeps it (real rings, no thread; its request ring can be replaced by a recorder), the
// handle that carries it, and exchanges on a stand-in connection. No threads, no sockets.
import path from 'node:path';
import { root } from '../helpers.mjs';

const { WorkerChannel } = await import(path.join(root, 'dist/lib/acceptor/worker-channel.js'));
const { Exchange } = await import(path.join(root, 'dist/lib/acceptor/connection.js'));
const { createRingBuffer } = await import(path.join(root, 'dist/lib/ring/ring.js'));

/**
 * A worker's channel for `slot` and a handle carrying it. `requests`, when given, replaces its
 * request ring (e.g. { write, write1, claimed } recording what the dispatcher writes).
 */
export function standInWorker(slot, { requests = null, maxRequests = 0, elastic = false } = {}) {
  const channel = new WorkerChannel(slot, maxRequests, elastic, createRingBuffer(4096), createRingBuffer(4096), null, null);
  if (requests !== null) channel.requests = requests;
  return { channel, handle: { slot, elastic, maxRequests, channel } };
}

/** An exchange with `fields` set, on a connection stand-in with `conn` set. */
export function standInExchange(id, conn = {}, fields = {}) {
  const ex = new Exchange(id, { id: 1, gone: false, frameFlags: 0, halfClosed: false, deliver() {}, respond() {}, lastBeforeShutdown(ex) { ex.last = true; ex.close = true; }, ...conn });
  return Object.assign(ex, { parts: [], size: 0, ...fields });
}
