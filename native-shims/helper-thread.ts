// design: entry of the I/O helper thread: an ordinary event-loop thread, started
// once per server by lib/supervisor/io-helper.ts (never the acceptor), that performs the async work
// behind the blocking shims. Each request worker has its own shim port here; an operation's reply
// is posted on that port, then the worker's S_REPLY word is bumped and notified (in that order: see
// the SHIM SIGNAL in lib/ring/layout.ts). Operations run concurrently; each is aborted at its
// caller's timeout, when the caller cancels it, or when the worker's port closes (it exited).
// Code here never imports the acceptor or supervisor side.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { HelperToWorker, IoHelperInit, MainToHelper, WorkerToHelper } from '../lib/messages.js';
import { S_REPLY } from '../lib/ring/layout.js';
import { destroyJobPool, perform, RemoteError } from './helper-ops.js';
import { shimErrorToData } from './wire.js';

const init = workerData as IoHelperInit;

interface Conn {
  slot: number;
  port: MessagePort;
  asyncPort: MessagePort | null;
  signal: Int32Array;
  running: Map<number, AbortController>;
}

function attach(m: Extract<MainToHelper, { type: 'attach' }>): void {
  const conn: Conn = { slot: m.slot, port: m.port, asyncPort: null, signal: new Int32Array(m.signal), running: new Map() };
  m.port.on('message', (msg: WorkerToHelper) => onMessage(conn, msg));
  m.port.on('close', () => {
    for (const ac of conn.running.values()) ac.abort();
    conn.running.clear();
    conn.asyncPort?.close();
  });
}

function onMessage(conn: Conn, msg: WorkerToHelper): void {
  if (msg.kind === 'call') void run(conn, msg);
  else if (msg.kind === 'cancel') {
    const ac = conn.running.get(msg.id);
    conn.running.delete(msg.id); // no reply: the caller has given up on it
    ac?.abort();
  } else {
    conn.asyncPort?.close();
    conn.asyncPort = msg.port;
  }
}

async function run(conn: Conn, msg: Extract<WorkerToHelper, { kind: 'call' }>): Promise<void> {
  const ac = new AbortController();
  conn.running.set(msg.id, ac);
  // A backstop: the caller gives up at its timeout and cancels; this frees what it left behind.
  const timer = setTimeout(() => ac.abort(), msg.timeoutMs + 1000);
  let reply: HelperToWorker;
  let transfer: ArrayBuffer[] = [];
  try {
    const r = await perform(init, msg.call, ac.signal);
    reply = { id: msg.id, ok: true, value: r.value };
    transfer = r.transfer;
  } catch (err) {
    reply = { id: msg.id, ok: false, error: err instanceof RemoteError ? err.data : shimErrorToData(err) };
  } finally {
    clearTimeout(timer);
  }
  if (conn.running.get(msg.id) !== ac) return; // cancelled or timed out: the caller is gone
  conn.running.delete(msg.id);
  const port = msg.async === true ? conn.asyncPort : conn.port;
  if (port === null) return;
  try {
    port.postMessage(reply, transfer);
  } catch (err) {
    // The value cannot be cloned (a function, a class instance with private state...): say so.
    port.postMessage({ id: msg.id, ok: false, error: shimErrorToData(err) } satisfies HelperToWorker);
  }
  if (msg.async !== true) {
    Atomics.add(conn.signal, S_REPLY, 1);
    Atomics.notify(conn.signal, S_REPLY);
  }
}

parentPort!.on('message', (m: MainToHelper) => {
  if (m.type === 'attach') attach(m);
  else void destroyJobPool().finally(() => process.exit(0));
});
