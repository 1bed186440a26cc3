// design: the worker pool, as the supervisor sees it. Each slot gets a worker thread with its
// own pair of rings and spill channels; a WorkerHandle is the acceptor's view of it (rings,
// exchanges in flight, counts). A slot whose worker dies is refilled with a fresh worker and
// fresh rings, so nothing stale can be read from the old ones. Boot failures are reported, not
// retried: an app that does not load stops the server with the loader's message.
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { errorFromData, WorkerCrashedError } from '../errors.js';
import type { Exchange } from '../acceptor/connection.js';
import type { AppInterface, WorkerInit, WorkerToMain } from '../messages.js';
import { ControlBlock } from '../ring/control.js';
import { DEFAULT_RING_CAPACITY, WorkerState } from '../ring/layout.js';
import { createRingBuffer, ringDoorbell, RingReader, RingWriter, type Doorbell, type FrameSink } from '../ring/ring.js';

export interface PoolOptions {
  threads: number;
  appUrl: string;
  appExport: string | null;
  interface: AppInterface;
  maxHeaderSize: number;
  keepAliveMs: number;
  serverHeader: boolean;
  threadConcurrency: number;
  logLevel: string;
  ringCapacity?: number;
}

export interface PoolEvents {
  /** A worker is serving. */
  ready(handle: WorkerHandle): void;
  /** A worker that was serving is gone; its exchanges must be answered or re-dispatched. */
  exited(handle: WorkerHandle, reason: string, error: Error | null): void;
}

export class WorkerHandle {
  readonly slot: number;
  readonly generation: number;
  readonly thread: Worker;
  readonly requests: RingWriter;
  readonly responses: RingReader;
  readonly bell: Doorbell;
  /** Exchanges dispatched to this worker and not yet answered, by exchange id. */
  readonly exchanges = new Map<number, Exchange>();
  /** Exchanges that did not fit in the request ring yet, in order. */
  overflow: Exchange[] = [];
  outstanding = 0;
  /** The dispatcher will ring this worker's doorbell at the end of the turn. */
  wakePending = false;
  ready = false;
  dead = false;
  interface: 'node' | 'fetch' | null = null;
  detail = '';
  /** Bound by the dispatcher: reads this worker's response frames. */
  sink: FrameSink | null = null;

  constructor(slot: number, generation: number, thread: Worker, reqRing: SharedArrayBuffer, resRing: SharedArrayBuffer, reqSpill: MessagePort, resSpill: MessagePort) {
    this.slot = slot;
    this.generation = generation;
    this.thread = thread;
    this.requests = new RingWriter(reqRing, reqSpill);
    this.responses = new RingReader(resRing, resSpill);
    this.bell = ringDoorbell(reqRing);
  }
}

export class Pool {
  readonly control: ControlBlock;
  readonly handles: Array<WorkerHandle | null>;
  private readonly o: PoolOptions;
  private readonly events: PoolEvents;
  private stopping = false;

  constructor(o: PoolOptions, control: ControlBlock, events: PoolEvents) {
    this.o = o;
    this.control = control;
    this.events = events;
    this.handles = new Array<WorkerHandle | null>(control.slots).fill(null);
  }

  /** Start every slot; resolves when all are ready, rejects with the first boot error. */
  async start(): Promise<void> {
    const boots: Array<Promise<WorkerHandle>> = [];
    for (let slot = 0; slot < this.o.threads; slot++) boots.push(this.spawn(slot));
    const results = await Promise.allSettled(boots);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.stop();
      throw failed.reason;
    }
  }

  /** Start a worker in `slot`; resolves once it is ready (its app loaded). */
  spawn(slot: number): Promise<WorkerHandle> {
    const generation = this.control.resetSlot(slot);
    const capacity = this.o.ringCapacity ?? DEFAULT_RING_CAPACITY;
    const reqRing = createRingBuffer(capacity);
    const resRing = createRingBuffer(capacity);
    const reqChannel = new MessageChannel();
    const resChannel = new MessageChannel();
    const init: WorkerInit = {
      slot,
      generation,
      appUrl: this.o.appUrl,
      appExport: this.o.appExport,
      interface: this.o.interface,
      control: this.control.i32.buffer as SharedArrayBuffer,
      requestRing: reqRing,
      responseRing: resRing,
      requestSpill: reqChannel.port2,
      responseSpill: resChannel.port1,
      maxHeaderSize: this.o.maxHeaderSize,
      keepAliveMs: this.o.keepAliveMs,
      serverHeader: this.o.serverHeader,
      threadConcurrency: this.o.threadConcurrency,
      logLevel: this.o.logLevel,
    };
    const thread = new Worker(new URL('../worker/main.js', import.meta.url), {
      workerData: init,
      transferList: [reqChannel.port2, resChannel.port1],
      name: `greenserve-worker-${slot}`,
    });
    const handle = new WorkerHandle(slot, generation, thread, reqRing, resRing, reqChannel.port1, resChannel.port2);
    this.handles[slot] = handle;
    return this.watch(handle);
  }

  private watch(handle: WorkerHandle): Promise<WorkerHandle> {
    return new Promise((resolve, reject) => {
      let lastError: Error | null = null;
      handle.thread.on('message', (msg: WorkerToMain) => {
        if (msg.type === 'ready') {
          handle.ready = true;
          handle.interface = msg.interface;
          handle.detail = msg.detail;
          resolve(handle);
          this.events.ready(handle);
        } else if (msg.type === 'boot-error') {
          lastError = errorFromData(msg.error);
          void handle.thread.terminate();
        }
      });
      handle.thread.on('error', (err) => {
        lastError = err;
      });
      handle.thread.on('exit', (code) => {
        const wasReady = handle.ready;
        handle.dead = true;
        handle.ready = false;
        this.control.setState(handle.slot, WorkerState.DEAD);
        if (this.handles[handle.slot] === handle) this.handles[handle.slot] = null;
        if (!wasReady) {
          reject(lastError ?? new WorkerCrashedError(`worker ${handle.slot} exited with code ${code} while booting`));
          return;
        }
        const reason = this.stopping ? 'stopped' : lastError ? 'crashed' : 'exited';
        this.events.exited(handle, reason, lastError);
      });
    });
  }

  /** Whether the pool is shutting down (no respawns). */
  get isStopping(): boolean {
    return this.stopping;
  }

  /** Terminate every worker. */
  async stop(): Promise<void> {
    this.stopping = true;
    const live = this.handles.filter((h): h is WorkerHandle => h !== null);
    await Promise.all(live.map((h) => h.thread.terminate()));
  }
}
