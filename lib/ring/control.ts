// design: typed access to the control block (layout in ./layout.ts). A worker writes only its own
// line through WorkerControl; the acceptor reads every line through ControlBlock and writes only
// the STARTING/DEAD states, and clears the line of a slot it (re)fills. Counters, not booleans.
import {
  C_ACC_BELL,
  C_ACC_SLEEP,
  W_CUR_REQ,
  W_EXTERNAL_MB,
  W_F64_RUN_SINCE,
  W_HEAP_MB,
  W_HEAP_OLD_MB,
  W_HEARTBEAT,
  W_INFLIGHT,
  W_SERVED,
  W_STATE,
  WorkerState,
  controlBlockBytes,
  wIndex,
  wIndexF64,
} from './layout.js';
import type { Doorbell } from './ring.js';

/** Milliseconds since the epoch, with sub-millisecond precision, comparable across threads. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

export function createControlBuffer(slots: number): SharedArrayBuffer {
  return new SharedArrayBuffer(controlBlockBytes(slots));
}

export class ControlBlock {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly slots: number;

  constructor(sab: SharedArrayBuffer) {
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.slots = this.i32.length / 16 - 1;
  }

  state(slot: number): WorkerState {
    return Atomics.load(this.i32, wIndex(slot, W_STATE)) as WorkerState;
  }

  setState(slot: number, state: WorkerState): void {
    Atomics.store(this.i32, wIndex(slot, W_STATE), state);
  }

  /** How long (ms) the handler now running on `slot` has run, or 0 when none runs. */
  runningFor(slot: number, now: number): number {
    if (Atomics.load(this.i32, wIndex(slot, W_CUR_REQ)) === 0) return 0;
    return now - this.f64[wIndexF64(slot, W_F64_RUN_SINCE)]!;
  }

  served(slot: number): number {
    return Atomics.load(this.i32, wIndex(slot, W_SERVED)) >>> 0;
  }

  inflight(slot: number): number {
    return Atomics.load(this.i32, wIndex(slot, W_INFLIGHT));
  }

  heartbeat(slot: number): number {
    return Atomics.load(this.i32, wIndex(slot, W_HEARTBEAT)) >>> 0;
  }

  /** The id of the request whose handler runs on `slot` now (an exchange id), or 0. */
  currentRequest(slot: number): number {
    return Atomics.load(this.i32, wIndex(slot, W_CUR_REQ)) >>> 0;
  }

  /** V8 heap in use on `slot`, in MiB, as last published by its worker. */
  heapMb(slot: number): number {
    return Atomics.load(this.i32, wIndex(slot, W_HEAP_MB));
  }

  /** V8 old generation in use on `slot`, in MiB, as last published. */
  heapOldMb(slot: number): number {
    return Atomics.load(this.i32, wIndex(slot, W_HEAP_OLD_MB));
  }

  /** Memory outside the V8 heap that `slot`'s objects hold (Buffers, ArrayBuffers), in MiB, as last published. */
  externalMb(slot: number): number {
    return Atomics.load(this.i32, wIndex(slot, W_EXTERNAL_MB));
  }

  /** What --max-worker-memory caps on `slot`: its old generation in use and its external memory, MiB. */
  memoryMb(slot: number): number {
    return this.heapOldMb(slot) + this.externalMb(slot);
  }

  /** Clear a slot's line for a new worker. */
  resetSlot(slot: number): void {
    const base = wIndex(slot, 0);
    for (let i = 0; i < 16; i++) Atomics.store(this.i32, base + i, 0);
  }

  /** The acceptor's doorbell: workers ring it after publishing responses. */
  acceptorBell(): Doorbell {
    return { i32: this.i32, sleepIndex: C_ACC_SLEEP, bellIndex: C_ACC_BELL };
  }
}

/** A worker's access to its own line (the worker and the blocking shims that run in it). */
export class WorkerControl {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly iState: number;
  private readonly iBeat: number;
  private readonly iInflight: number;
  private readonly iServed: number;
  private readonly iCur: number;
  private readonly iHeap: number;
  private readonly iHeapOld: number;
  private readonly iExternal: number;
  private readonly fSince: number;

  constructor(sab: SharedArrayBuffer, slot: number) {
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.iState = wIndex(slot, W_STATE);
    this.iBeat = wIndex(slot, W_HEARTBEAT);
    this.iInflight = wIndex(slot, W_INFLIGHT);
    this.iServed = wIndex(slot, W_SERVED);
    this.iCur = wIndex(slot, W_CUR_REQ);
    this.iHeap = wIndex(slot, W_HEAP_MB);
    this.iHeapOld = wIndex(slot, W_HEAP_OLD_MB);
    this.iExternal = wIndex(slot, W_EXTERNAL_MB);
    this.fSince = wIndexF64(slot, W_F64_RUN_SINCE);
  }

  /** The state this worker published last (a blocking shim restores it after parking). */
  state(): WorkerState {
    return Atomics.load(this.i32, this.iState) as WorkerState;
  }

  setState(state: WorkerState): void {
    Atomics.store(this.i32, this.iState, state);
  }

  /** The request whose handler runs now (as enter() published it), or 0. */
  currentRequest(): number {
    return Atomics.load(this.i32, this.iCur) >>> 0;
  }

  /** Requests in flight on this worker, as setInflight() published it. */
  inflight(): number {
    return Atomics.load(this.i32, this.iInflight);
  }

  beat(): void {
    Atomics.add(this.i32, this.iBeat, 1);
  }

  /** A handler starts running request `reqId` synchronously. */
  enter(reqId: number): void {
    this.f64[this.fSince] = epochNow();
    Atomics.store(this.i32, this.iCur, reqId | 0 || 1);
    Atomics.store(this.i32, this.iState, WorkerState.RUNNING);
  }

  /** The handler returned (or went async). */
  leave(): void {
    Atomics.store(this.i32, this.iCur, 0);
    Atomics.store(this.i32, this.iState, WorkerState.IDLE);
  }

  setInflight(n: number): void {
    Atomics.store(this.i32, this.iInflight, n);
  }

  served(): void {
    Atomics.add(this.i32, this.iServed, 1);
  }

  setHeapMb(mb: number, oldMb: number, externalMb: number): void {
    Atomics.store(this.i32, this.iHeap, mb);
    Atomics.store(this.i32, this.iHeapOld, oldMb);
    Atomics.store(this.i32, this.iExternal, externalMb);
  }
}
