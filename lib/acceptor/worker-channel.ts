// design: a worker thread as the dispatcher (./dispatcher.ts) sees it: its request and response
// rings, its doorbell, and the exchanges dispatched to it. The dispatcher is its one writer; every
// other part reads it through ChannelView (WorkerHandle.channel), and asks the dispatcher when
// something must change (Dispatcher.retire, take, remove). An exchange names the channel it was
// dispatched to (Exchange.worker), so that stream frames for it (credits, cancels, upload bytes)
// go to its ring without a search.
//
// The counts are derived from the maps, never kept beside them: a request counts against its
// worker while it is in `exchanges`; once its handler ended the response and only bytes for the
// client remain (FL_ENDED), it moves to `finishing`, where credits and a cancel still find it.
import type { MessagePort } from 'node:worker_threads';
import { framePool } from './frame-pool.js';
import { ringDoorbell, RingReader, RingWriter, type Doorbell, type FrameSink } from '../ring/ring.js';

/**
 * What the channel needs of an exchange (the connection's Exchange): a type parameter, so that
 * this file needs nothing of the connection's, which names its exchange's channel.
 */
export interface ChannelExchange {
  readonly id: number;
  /** Its handler ended the response; only bytes for the client remain (see `finishing`). */
  readonly freed: boolean;
}

/** What every part but the dispatcher reads of a worker's channel. */
export interface ChannelView<E extends ChannelExchange = ChannelExchange> {
  readonly slot: number;
  /** Its request ring's doorbell (the dashboard's wake-up count reads it). */
  readonly bell: Doorbell;
  /** The dispatcher sends it nothing more; it finishes what it has (recycled, reloaded, scaled down, killed, or the server stops). */
  readonly retiring: boolean;
  /**
   * Requests dispatched to it and not answered (its handler has not ended the response): what
   * --worker-connections and --thread-concurrency bound. `exchanges.size`.
   */
  readonly outstanding: number;
  /** Exchanges it still owes anything for: those outstanding, and those whose bytes still come (finishing). */
  readonly owed: number;
  /** Requests that did not fit in its request ring yet (it has not been sent them). */
  readonly unsent: number;
  /** Requests the dispatcher has given it (one taken back and given again counts again). */
  readonly given: number;
  /** --max-requests with its jitter (0 = no limit): given this many, it takes no more. */
  readonly maxRequests: number;
  /** The exchange `id` it owes anything for, or undefined. */
  exchange(id: number): E | undefined;
  /** The outstanding exchanges, the earliest dispatched first. */
  inFlight(): IterableIterator<E>;
  /** Every exchange it owes anything for, by id: a copy. */
  snapshot(): Map<number, E>;
}

export class WorkerChannel<E extends ChannelExchange> implements ChannelView<E> {
  readonly slot: number;
  readonly maxRequests: number;
  /** Started beyond --threads (elastic): dispatch spreads keys to the pool's own threads first. */
  readonly elastic: boolean;
  readonly requests: RingWriter;
  readonly responses: RingReader;
  readonly bell: Doorbell;
  /** Exchanges dispatched to it whose handler has not ended the response, by exchange id (insertion order: dispatch order). */
  readonly exchanges = new Map<number, E>();
  /** Exchanges whose handler ended the response (FL_ENDED) and whose bytes still come, by exchange id. */
  readonly finishing = new Map<number, E>();
  /** Exchanges that did not fit in the request ring yet, in order (they are in `exchanges` too). */
  overflow: E[] = [];
  /** --sticky: exchanges whose key ties them to this worker, waiting until it can take them, in order. */
  pinned: E[] = [];
  /** T_REQUEST frames written to its request ring (mod 2^31): with the ring's claim count, which of them it has not started. */
  sent = 0;
  /** The dispatcher took back its unstarted requests and waits for the worker to skip them (it gets no requests until then). */
  revoking = false;
  retiring = false;
  /** The dispatcher will ring this worker's doorbell at the end of the turn. */
  wakePending = false;
  /** Reads this worker's response frames (bound when it starts taking requests). */
  sink: FrameSink | null = null;
  given = 0;

  constructor(slot: number, maxRequests: number, elastic: boolean, reqRing: SharedArrayBuffer, resRing: SharedArrayBuffer, reqSpill: MessagePort, resSpill: MessagePort) {
    this.slot = slot;
    this.maxRequests = maxRequests;
    this.elastic = elastic;
    this.requests = new RingWriter(reqRing, reqSpill);
    // Response payloads are written to clients by Connection.write, which gives pieces back.
    this.responses = new RingReader(resRing, resSpill, framePool);
    this.bell = ringDoorbell(reqRing);
  }

  get outstanding(): number {
    return this.exchanges.size;
  }

  get owed(): number {
    return this.exchanges.size + this.finishing.size;
  }

  get unsent(): number {
    return this.overflow.length;
  }

  exchange(id: number): E | undefined {
    const ex = this.exchanges.get(id);
    return ex !== undefined || this.finishing.size === 0 ? ex : this.finishing.get(id);
  }

  /** Whether `ex` is still this worker's (outstanding or finishing): one lookup, in the map its state names. */
  has(ex: E): boolean {
    return (ex.freed ? this.finishing : this.exchanges).get(ex.id) === ex;
  }

  inFlight(): IterableIterator<E> {
    return this.exchanges.values();
  }

  snapshot(): Map<number, E> {
    const all = new Map(this.exchanges);
    for (const [id, ex] of this.finishing) all.set(id, ex);
    return all;
  }
}
