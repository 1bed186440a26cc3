// design: a worker thread as the acceptor and the supervisor both see it. What never changes
// (its slot, thread, control plane, generation, --max-requests share) is here; what changes is in
// three parts, each written by one module and read by the others through a read-only view:
// - channel: the dispatcher's (./worker-channel.ts): its rings, the exchanges dispatched to it,
//   whether it takes more;
// - life: the pool's (lib/supervisor/pool.ts): booting, ready, stopping, exited;
// - fate: the arbiter's (lib/supervisor/arbiter.ts): what the supervisor decided about it
//   (recycled, killed, settled).
// A part that another module must change is changed through a method of its owner (e.g.
// Dispatcher.retire). docs/architecture.md, "Who owns which state", has the table. The pool
// creates one handle per worker it starts; only the acceptor thread touches it. It lives here,
// below the supervisor, because the dispatcher reads it on every request: the supervisor imports
// the acceptor's modules, never the other way round.
import { wrap } from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { MessagePort, Worker } from 'node:worker_threads';
import type { AppHookName, WorkerApi, WorkerApiRemote } from '../messages.js';
import type { Exchange } from './connection.js';
import { WorkerChannel, type ChannelView } from './worker-channel.js';

/** Why a worker that had been ready is gone (the supervisor's own kill reasons come through too). */
export type ExitReason = 'stopped' | 'crashed' | 'exited' | 'out-of-memory' | 'timeout' | 'unresponsive' | 'graceful-timeout';

/** The pool's part: where the thread stands. Written by the pool only. */
export interface LifeView {
  /** It loaded the app (its ready() answered) and has not exited. */
  readonly ready: boolean;
  /** Its thread exited. */
  readonly dead: boolean;
  /** Stopped on purpose (retired, shutdown): its exit is no crash. */
  readonly stopping: boolean;
  /** What its ready() reported: the app's interface, the detail line, the app hooks it found. */
  readonly interface: 'node' | 'fetch' | null;
  readonly detail: string;
  readonly hooks: readonly AppHookName[];
  /** Settles when the worker is ready; rejects with its boot error. */
  readonly booted: Promise<WorkerHandle>;
  /** Its stop (teardown, then terminate) is under way: settles once terminate() was called. */
  readonly closing: Promise<void> | null;
}

/** The arbiter's part: what the supervisor decided about the worker. Written by the arbiter only. */
export interface FateView {
  /** Wants a replacement before it retires ('max-requests', 'memory', 'server-memory', 'reload'), else null. */
  readonly recycle: string | null;
  /** Why the supervisor terminated it, or null. */
  readonly killReason: ExitReason | null;
  /** A retiring worker still busy past this (epoch ms) is stopped anyway (--graceful-timeout); 0: not retiring. */
  readonly retireBy: number;
  /** The exchanges it had when it was settled (a zombie is settled before it exits), or null: a thread that does not exit is still named with its request. */
  readonly settledExchanges: ReadonlyMap<number, Exchange> | null;
}

/** What the pool gives a new handle. */
export interface WorkerInit {
  slot: number;
  thread: Worker;
  /** Code generation it was started for (bumped by every reload). */
  cohort: number;
  /** Started beyond --threads because every worker was blocked (elastic); retired when idle. */
  elastic: boolean;
  /** Requests it may be given before it is recycled (--max-requests with its jitter; 0 = no limit). */
  maxRequests: number;
  reqRing: SharedArrayBuffer;
  resRing: SharedArrayBuffer;
  reqSpill: MessagePort;
  resSpill: MessagePort;
  controlPort: MessagePort;
  life: LifeView;
  fate: FateView;
}

export class WorkerHandle {
  readonly slot: number;
  readonly thread: Worker;
  /** The thread's id, kept: `thread.threadId` reads -1 once the thread has exited (log lines about its exit). */
  readonly threadId: number;
  readonly cohort: number;
  readonly elastic: boolean;
  readonly maxRequests: number;
  /** The worker's control plane (comlink over `controlPort`). */
  readonly api: WorkerApiRemote;
  readonly controlPort: MessagePort;
  /** The dispatcher's part (./worker-channel.ts). */
  readonly channel: ChannelView<Exchange>;
  /** The pool's part. */
  readonly life: LifeView;
  /** The arbiter's part. */
  readonly fate: FateView;

  constructor(w: WorkerInit) {
    this.slot = w.slot;
    this.thread = w.thread;
    this.threadId = w.thread.threadId;
    this.cohort = w.cohort;
    this.elastic = w.elastic;
    this.maxRequests = w.maxRequests;
    this.channel = new WorkerChannel<Exchange>(w.slot, w.maxRequests, w.elastic, w.reqRing, w.resRing, w.reqSpill, w.resSpill);
    this.life = w.life;
    this.fate = w.fate;
    this.controlPort = w.controlPort;
    // (comlink's own Remote type is left out of the declarations: its ES module build has no typings of its own.)
    this.api = wrap<WorkerApi>(nodeEndpoint(w.controlPort)) as unknown as WorkerApiRemote;
    // comlink keeps a 'message' listener on the port, which would hold the acceptor's event loop
    // open: the worker thread itself is what keeps the process alive.
    w.controlPort.unref();
  }
}
