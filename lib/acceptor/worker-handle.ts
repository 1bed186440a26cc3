// design: a worker thread as the acceptor and the supervisor both see it: its rings and doorbell,
// the exchanges dispatched to it, the dispatcher's counts (./dispatcher.ts), and what the
// supervisor decided about it (lib/supervisor/: retiring, recycled, killed). The pool creates one
// per worker it starts (lib/supervisor/pool.ts); only the acceptor thread touches it. It lives
// here, below the supervisor, because the dispatcher reads and writes it on every request: the
// supervisor imports the acceptor's modules, never the other way round.
import { wrap } from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { MessagePort, Worker } from 'node:worker_threads';
import type { AppHookName, WorkerApi, WorkerApiRemote } from '../messages.js';
import { ringDoorbell, RingReader, RingWriter, type Doorbell, type FrameSink } from '../ring/ring.js';
import type { Exchange } from './connection.js';

/** Why a worker that had been ready is gone (the supervisor's own kill reasons come through too). */
export type ExitReason = 'stopped' | 'crashed' | 'exited' | 'out-of-memory' | 'timeout' | 'unresponsive' | 'graceful-timeout';

export class WorkerHandle {
  readonly slot: number;
  readonly thread: Worker;
  /** The thread's id, kept: `thread.threadId` reads -1 once the thread has exited (log lines about its exit). */
  readonly threadId: number;
  readonly requests: RingWriter;
  readonly responses: RingReader;
  readonly bell: Doorbell;
  /** Exchanges dispatched to this worker and not yet answered, by exchange id. */
  readonly exchanges = new Map<number, Exchange>();
  /** Exchanges that did not fit in the request ring yet, in order. */
  overflow: Exchange[] = [];
  /** --sticky: exchanges whose key ties them to this worker, waiting until it can take them, in order. */
  pinned: Exchange[] = [];
  /** T_REQUEST frames written to its request ring (mod 2^31): with the ring's claim count, which of them it has not started. */
  sent = 0;
  /** The dispatcher took back its unstarted requests and waits for the worker to skip them (it gets no requests until then). */
  revoking = false;
  outstanding = 0;
  /** The dispatcher will ring this worker's doorbell at the end of the turn. */
  wakePending = false;
  ready = false;
  dead = false;
  interface: 'node' | 'fetch' | null = null;
  detail = '';
  /** The app hooks the worker found (its ready() said so). */
  hooks: AppHookName[] = [];
  /** The worker's control plane (comlink over `controlPort`). */
  readonly api: WorkerApiRemote;
  readonly controlPort: MessagePort;
  /** Bound by the dispatcher: reads this worker's response frames. */
  sink: FrameSink | null = null;
  // ── the supervisor's view (./arbiter.ts) ──
  /** Settles when the worker is ready; rejects with its boot error. */
  booted!: Promise<WorkerHandle>;
  /** Code generation: bumped by every reload; a worker belongs to the one it was started for. */
  cohort = 0;
  /** The dispatcher sends it nothing more; it finishes what it has, then stops. */
  retiring = false;
  /** Started beyond --threads because every worker was blocked (elastic); retired when idle. */
  elastic = false;
  /** Since when it has had nothing to do (epoch ms; 0 = busy), for retiring elastic workers. */
  idleSince = 0;
  /** Wants a replacement before it retires ('max-requests', 'memory', 'reload'), else null. */
  recycle: string | null = null;
  /** Why the supervisor terminated it, or null. */
  killReason: ExitReason | null = null;
  /** Stopped on purpose (retired, shutdown): its exit is no crash. */
  stopping = false;
  /** Its exchanges were answered or sent elsewhere (a zombie is settled before it exits). */
  settled = false;
  /** The exchanges it had when it was settled: a thread that does not exit is still named with its request. */
  settledExchanges: ReadonlyMap<number, Exchange> | null = null;
  /** Requests it may be given before it is recycled (--max-requests with its jitter; 0 = no limit). */
  maxRequests = 0;
  /** Requests the dispatcher has given it (a request taken back and given again counts again). */
  given = 0;
  /** Heartbeat last seen, and when (epoch ms). */
  lastBeat = -1;
  lastBeatAt = 0;
  /** Since when its heap has been above the recycle threshold (0 = it is not). */
  heapHighSince = 0;
  /** A retiring worker still busy past this (epoch ms) is stopped anyway (--graceful-timeout). */
  retireBy = 0;
  zombieTimer: NodeJS.Timeout | null = null;
  /** Its stop (teardown, then terminate) is under way: settles once terminate() was called. */
  closing: Promise<void> | null = null;

  constructor(slot: number, thread: Worker, reqRing: SharedArrayBuffer, resRing: SharedArrayBuffer, reqSpill: MessagePort, resSpill: MessagePort, controlPort: MessagePort) {
    this.slot = slot;
    this.thread = thread;
    this.threadId = thread.threadId;
    this.requests = new RingWriter(reqRing, reqSpill);
    this.responses = new RingReader(resRing, resSpill);
    this.bell = ringDoorbell(reqRing);
    this.controlPort = controlPort;
    // (comlink's own Remote type is left out of the declarations: its ES module build has no typings of its own.)
    this.api = wrap<WorkerApi>(nodeEndpoint(controlPort)) as unknown as WorkerApiRemote;
    // comlink keeps a 'message' listener on the port, which would hold the acceptor's event loop
    // open: the worker thread itself is what keeps the process alive.
    controlPort.unref();
  }
}
