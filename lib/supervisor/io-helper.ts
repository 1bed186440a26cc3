// design: starts and keeps the I/O helper thread (native-shims/helper-thread.ts), the event-loop
// thread that performs the async work behind the blocking shims, so that a shim never waits on the
// acceptor's event loop. One per server, started with it. Each request worker gets a ShimChannel:
// a broker port, on which it is offered its shim port to the current helper, and its SHIM SIGNAL
// buffer (lib/ring/layout.ts). If the helper exits (a crash in a module loaded with createSyncFn,
// say), a new one starts; every worker is offered a new port, then S_HELPER_RESTARTS and S_REPLY are
// bumped, so that calls parked on the dead helper fail at once and later calls use the new one.
// The main thread only notifies here; it never waits.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import type { IoHelperInit, MainToHelper, ShimChannel, ShimPortOffer } from '../messages.js';
import { S_HELPER_RESTARTS, S_REPLY, SHIM_SIGNAL_BYTES } from '../ring/layout.js';

export interface IoHelperOptions {
  /** `NAME=MODULE` entries of --jobs. */
  jobs: readonly string[];
  jobsThreads: number;
  /** Seconds; 0 = none. */
  jobsTimeout: number;
  logLevel: string;
}

interface Line {
  broker: MessagePort;
  signal: SharedArrayBuffer;
  i32: Int32Array;
}

/** Back-off before restarting a helper that keeps dying. */
const RESTART_DELAY_MS = 250;

/** Parses `NAME=MODULE` entries; a module path must exist (relative paths are from the cwd). */
export function parseJobs(entries: readonly string[]): IoHelperInit['jobs'] {
  const seen = new Set<string>();
  return entries.map((entry) => {
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq);
    const spec = entry.slice(eq + 1);
    if (eq <= 0 || spec === '') throw new ConfigError('jobs', `must be NAME=MODULE (got ${JSON.stringify(entry)})`, '--jobs');
    if (seen.has(name)) throw new ConfigError('jobs', `job "${name}" is declared twice`, '--jobs');
    seen.add(name);
    if (/^(file|data):/.test(spec)) return { name, url: spec };
    const file = path.resolve(spec);
    if (!existsSync(file)) throw new ConfigError('jobs', `job "${name}": module not found: ${file}`, '--jobs');
    return { name, url: pathToFileURL(file).href };
  });
}

export class IoHelper {
  private readonly init: IoHelperInit;
  private readonly log: Logger;
  private readonly lines = new Map<number, Line>();
  private thread: Worker;
  /** How many times the helper thread was replaced: the shim port a worker holds belongs to one count. */
  private restarts = 0;
  private closing = false;

  constructor(o: IoHelperOptions, log: Logger) {
    this.init = { jobs: parseJobs(o.jobs), jobsThreads: o.jobsThreads, jobsTimeoutMs: o.jobsTimeout * 1000, logLevel: o.logLevel };
    this.log = log;
    this.thread = this.start();
  }

  /** The channel for the worker that fills `slot` (its broker port must be in the transferList). */
  attach(slot: number): ShimChannel {
    const signal = new SharedArrayBuffer(SHIM_SIGNAL_BYTES);
    const { port1, port2 } = new MessageChannel();
    const line: Line = { broker: port1, signal, i32: new Int32Array(signal) };
    Atomics.store(line.i32, S_HELPER_RESTARTS, this.restarts);
    this.lines.get(slot)?.broker.close();
    this.lines.set(slot, line);
    this.offer(slot, line);
    return { broker: port2, signal, jobsTimeoutMs: this.init.jobsTimeoutMs };
  }

  /** Stop the helper (after the workers: a parked worker is terminated, not woken). */
  async close(): Promise<void> {
    this.closing = true;
    for (const line of this.lines.values()) line.broker.close();
    this.lines.clear();
    await this.thread.terminate();
  }

  private start(): Worker {
    const thread = new Worker(new URL('../../native-shims/helper-thread.js', import.meta.url), {
      workerData: this.init,
      name: 'greenserve-io-helper',
    });
    thread.unref(); // the listeners keep the process alive, not this thread
    let failure: Error | null = null;
    thread.on('error', (err) => (failure = err));
    thread.on('exit', (code) => {
      if (this.closing) return;
      this.log.error({ err: failure, code }, 'the I/O helper thread exited; starting a new one');
      setTimeout(() => this.replace(), RESTART_DELAY_MS).unref();
    });
    return thread;
  }

  private replace(): void {
    if (this.closing) return;
    this.restarts++;
    this.thread = this.start();
    for (const [slot, line] of this.lines) {
      this.offer(slot, line);
      Atomics.store(line.i32, S_HELPER_RESTARTS, this.restarts);
      Atomics.add(line.i32, S_REPLY, 1);
      Atomics.notify(line.i32, S_REPLY);
    }
  }

  private offer(slot: number, line: Line): void {
    const { port1, port2 } = new MessageChannel();
    this.thread.postMessage({ type: 'attach', slot, port: port1, signal: line.signal } satisfies MainToHelper, [port1]);
    line.broker.postMessage({ type: 'shim-port', restarts: this.restarts, port: port2 } satisfies ShimPortOffer, [port2]);
  }
}
