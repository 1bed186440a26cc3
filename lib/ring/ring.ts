// design: single-producer / single-consumer frame ring over a SharedArrayBuffer (layout and
// invariants in ./layout.ts). The producer copies a frame in and publishes it by storing TAIL; the
// consumer copies it out into a fresh Buffer (the ring bytes are reused as soon as HEAD moves) and
// frees it by storing HEAD. Frames too big for the ring go through a MessagePort (the spill path)
// with a marker frame in the ring keeping their place in the order; a writer made with
// `transferMin` sends every frame above it that way, in transfer buffers its reader posts back
// once done with them. Neither side ever blocks here: waiting (Atomics.wait on a worker,
// Atomics.waitAsync on the acceptor) is the caller's choice.
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import {
  CLAIM_MASK,
  CLAIM_REVOKED,
  F_AUX,
  F_CONN,
  F_FLAGS,
  F_LEN,
  F_REQ,
  F_TYPE,
  FRAME_HEADER_BYTES,
  R_C_BELL,
  R_C_SLEEP,
  R_CLAIMED,
  R_HEAD,
  R_P_WAIT,
  R_REVOKE_END,
  R_TAIL,
  RING_HEADER_BYTES,
  T_SPILL,
  TRANSFER_PIECE,
  alignFrame,
  assertCapacity,
  ringBytes,
} from './layout.js';

export type FrameSink = (type: number, flags: number, connId: number, reqId: number, payload: Buffer) => void;

const EMPTY = Buffer.alloc(0);

export function createRingBuffer(capacity: number): SharedArrayBuffer {
  assertCapacity(capacity);
  return new SharedArrayBuffer(ringBytes(capacity));
}

/** Where a producer rings after publishing: the consumer's sleep flag and doorbell words. */
export interface Doorbell {
  readonly i32: Int32Array;
  readonly sleepIndex: number;
  readonly bellIndex: number;
}

export function ringDoorbell(sab: SharedArrayBuffer): Doorbell {
  return { i32: new Int32Array(sab, 0, RING_HEADER_BYTES / 4), sleepIndex: R_C_SLEEP, bellIndex: R_C_BELL };
}

/** Wake the consumer if it said it sleeps. Cheap when it is awake: one Atomics.load. */
export function ring(bell: Doorbell): void {
  if (Atomics.load(bell.i32, bell.sleepIndex) !== 0) {
    Atomics.add(bell.i32, bell.bellIndex, 1);
    Atomics.notify(bell.i32, bell.bellIndex);
  }
}

class RingView {
  protected readonly ctl: Int32Array;
  protected readonly data: Uint8Array;
  protected readonly view: DataView;
  readonly capacity: number;
  protected readonly mask: number;

  constructor(sab: SharedArrayBuffer) {
    const capacity = sab.byteLength - RING_HEADER_BYTES;
    assertCapacity(capacity);
    this.ctl = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
    this.data = new Uint8Array(sab, RING_HEADER_BYTES, capacity);
    this.view = new DataView(sab, RING_HEADER_BYTES, capacity);
    this.capacity = capacity;
    this.mask = capacity - 1;
  }

  /** Bytes published and not yet consumed. */
  get used(): number {
    return (Atomics.load(this.ctl, R_TAIL) - Atomics.load(this.ctl, R_HEAD)) >>> 0;
  }
}

/** Transfer buffers a writer keeps for reuse at most (what its reader gave back beyond them is dropped). */
export const MAX_SPARE_TRANSFERS = 4;

export interface RingWriterOptions {
  /** Frames with more payload bytes than this are transferred in reusable buffers (layout.ts, TRANSFER_MIN). */
  transferMin?: number;
}

export class RingWriter extends RingView {
  private tail: number;
  private readonly spill: MessagePort | null;
  /** Frames whose aligned size is above this go through the spill port. */
  readonly maxInline: number;
  /** Frames with more payload bytes than this are transferred (Infinity: only those over maxInline). */
  private readonly transferMin: number;
  /** Transfer buffers given back by the reader, ready for the next frame. */
  private spare: ArrayBuffer[] = [];
  /** Transfer buffers allocated so far (a test reads it to see reuse). */
  transfersAllocated = 0;

  constructor(sab: SharedArrayBuffer, spill: MessagePort | null, options: RingWriterOptions = {}) {
    super(sab);
    this.tail = Atomics.load(this.ctl, R_TAIL);
    this.spill = spill;
    this.maxInline = this.capacity >>> 1;
    this.transferMin = options.transferMin ?? Infinity;
    if (this.transferMin !== Infinity && spill === null) throw new RangeError('a ring writer that transfers frames needs a spill port');
  }

  /**
   * Publish one frame whose payload is the concatenation of `parts` (`len` bytes in all).
   * Returns false, writing nothing, when the ring has no room for it now.
   */
  write(type: number, flags: number, connId: number, reqId: number, parts: readonly Uint8Array[], len: number): boolean {
    const size = alignFrame(FRAME_HEADER_BYTES + len);
    if (size > this.maxInline || len > this.transferMin) return this.writeSpilled(type, flags, connId, reqId, parts, len);
    const head = Atomics.load(this.ctl, R_HEAD);
    if (this.capacity - ((this.tail - head) >>> 0) < size) return false;
    const pos = this.tail & this.mask;
    this.header(pos, len, type, flags, 0, connId, reqId);
    let at = (pos + FRAME_HEADER_BYTES) & this.mask;
    for (let i = 0; i < parts.length; i++) at = this.copyIn(parts[i]!, at);
    this.tail = (this.tail + size) | 0;
    Atomics.store(this.ctl, R_TAIL, this.tail);
    return true;
  }

  /**
   * Take back the T_REQUEST frames the consumer has not claimed yet, `sent` being how many the
   * producer wrote (mod 2^31; layout.ts, "Claims"). Returns the consumer's count at the revoke:
   * frames from that count up to `sent` are the producer's to send elsewhere. -1 when there is
   * nothing to take back, a revoke is still pending, or the consumer claimed one meanwhile.
   */
  revoke(sent: number): number {
    const claimed = Atomics.load(this.ctl, R_CLAIMED);
    if (claimed < 0 || claimed === sent) return -1;
    Atomics.store(this.ctl, R_REVOKE_END, sent);
    return Atomics.compareExchange(this.ctl, R_CLAIMED, claimed, claimed | CLAIM_REVOKED) === claimed ? claimed : -1;
  }

  /** T_REQUEST frames the consumer has claimed (mod 2^31), or -1 while a revoke is pending. */
  claimed(): number {
    return Atomics.load(this.ctl, R_CLAIMED);
  }

  /** Same as write() for a single payload buffer. */
  write1(type: number, flags: number, connId: number, reqId: number, payload: Uint8Array): boolean {
    return this.write(type, flags, connId, reqId, [payload], payload.length);
  }

  /** Space in bytes a frame of `len` payload bytes takes in the ring (a spilled one: only its marker). */
  frameBytes(len: number): number {
    const size = alignFrame(FRAME_HEADER_BYTES + len);
    return size > this.maxInline ? FRAME_HEADER_BYTES : size;
  }

  /** Block (worker threads only) until HEAD moves or `ms` passes. */
  waitForSpace(ms: number): void {
    const head = Atomics.load(this.ctl, R_HEAD);
    Atomics.store(this.ctl, R_P_WAIT, 1);
    if (this.capacity - ((this.tail - head) >>> 0) < this.capacity) Atomics.wait(this.ctl, R_HEAD, head, ms);
    Atomics.store(this.ctl, R_P_WAIT, 0);
  }

  private writeSpilled(
    type: number,
    flags: number,
    connId: number,
    reqId: number,
    parts: readonly Uint8Array[],
    len: number,
  ): boolean {
    if (this.spill === null) throw new RangeError(`frame of ${len} bytes exceeds the ring and no spill port is set`);
    const head = Atomics.load(this.ctl, R_HEAD);
    if (this.capacity - ((this.tail - head) >>> 0) < FRAME_HEADER_BYTES) return false;
    const copy = this.transferMin !== Infinity && len <= TRANSFER_PIECE ? new Uint8Array(this.transferBuffer(), 0, len) : new Uint8Array(len);
    let at = 0;
    for (let i = 0; i < parts.length; i++) {
      copy.set(parts[i]!, at);
      at += parts[i]!.length;
    }
    // Post before publishing the marker: postMessage enqueues on the receiving port synchronously,
    // so the consumer that sees the marker always finds the payload with receiveMessageOnPort.
    this.spill.postMessage(copy, [copy.buffer]);
    const pos = this.tail & this.mask;
    this.header(pos, len, T_SPILL, flags, type, connId, reqId);
    this.tail = (this.tail + FRAME_HEADER_BYTES) | 0;
    Atomics.store(this.ctl, R_TAIL, this.tail);
    return true;
  }

  /**
   * Publish a frame of `payload` by moving its ArrayBuffer to the reader (postMessage with
   * transfer; a T_SPILL marker keeps its place in the ring): no copy, and the buffer is detached
   * here. True when sent; false when the ring has no room for the marker now (nothing moved); null
   * when it cannot be moved (send it with write1): `payload` is not the whole of its ArrayBuffer
   * (the rest may be someone else's bytes), or the buffer is not transferable.
   */
  transfer(type: number, flags: number, connId: number, reqId: number, payload: Buffer): boolean | null {
    if (this.spill === null || payload.byteOffset !== 0 || payload.length !== payload.buffer.byteLength) return null;
    const head = Atomics.load(this.ctl, R_HEAD);
    if (this.capacity - ((this.tail - head) >>> 0) < FRAME_HEADER_BYTES) return false;
    const ab = payload.buffer as ArrayBuffer;
    const len = payload.length;
    try {
      this.spill.postMessage(new Uint8Array(ab, 0, len), [ab]);
    } catch {
      return null; // marked untransferable (a pooled Buffer), or shared
    }
    const pos = this.tail & this.mask;
    this.header(pos, len, T_SPILL, flags, type, connId, reqId);
    this.tail = (this.tail + FRAME_HEADER_BYTES) | 0;
    Atomics.store(this.ctl, R_TAIL, this.tail);
    return true;
  }

  /** A transfer buffer of TRANSFER_PIECE bytes: one the reader gave back, or a new one. */
  private transferBuffer(): ArrayBuffer {
    const spare = this.spare;
    // The reader's give-backs wait on the spill port (this side only ever reads them here).
    for (;;) {
      const back = receiveMessageOnPort(this.spill!);
      if (back === undefined) break;
      if (spare.length < MAX_SPARE_TRANSFERS) spare.push(back.message as ArrayBuffer);
    }
    const ab = spare.pop();
    if (ab !== undefined) return ab;
    this.transfersAllocated++;
    return new ArrayBuffer(TRANSFER_PIECE);
  }

  private header(pos: number, len: number, type: number, flags: number, aux: number, connId: number, reqId: number): void {
    const v = this.view;
    v.setUint32(pos + F_LEN, len, true);
    v.setUint8(pos + F_TYPE, type);
    v.setUint8(pos + F_FLAGS, flags);
    v.setUint16(pos + F_AUX, aux, true);
    v.setUint32(pos + F_CONN, connId, true);
    v.setUint32(pos + F_REQ, reqId, true);
  }

  private copyIn(src: Uint8Array, at: number): number {
    const n = src.length;
    const first = this.capacity - at;
    if (n <= first) {
      this.data.set(src, at);
    } else {
      this.data.set(src.subarray(0, first), at);
      this.data.set(src.subarray(first), 0);
    }
    return (at + n) & this.mask;
  }
}

/**
 * Where a reader gets the Buffers it copies payloads into (default: Buffer.allocUnsafe), and who
 * gives transfer buffers back to their writer: `adopt` is told of each transferred payload that
 * may go back, with the function that posts it back (to call once nothing refers to its bytes).
 */
export interface PayloadMemory {
  take(len: number): Buffer;
  adopt(payload: Buffer, giveBack: () => void): void;
}

export class RingReader extends RingView {
  private head: number;
  private readonly spill: MessagePort | null;
  private readonly memory: PayloadMemory | null;
  /** T_REQUEST frames read so far, claimed or skipped (mod 2^31). */
  private taken: number;

  constructor(sab: SharedArrayBuffer, spill: MessagePort | null, memory: PayloadMemory | null = null) {
    super(sab);
    this.head = Atomics.load(this.ctl, R_HEAD);
    this.spill = spill;
    this.memory = memory;
    this.taken = Atomics.load(this.ctl, R_CLAIMED) & CLAIM_MASK;
  }

  /**
   * Claim the T_REQUEST frame just read (layout.ts, "Claims"): true if it is this consumer's to
   * run, false if the producer took it back (skip it). Call once per T_REQUEST frame, in order.
   */
  claim(): boolean {
    const n = this.taken;
    const next = (n + 1) & CLAIM_MASK;
    this.taken = next;
    if (Atomics.compareExchange(this.ctl, R_CLAIMED, n, next) === n) return true;
    // Revoked: the last revoked frame ends the revoke.
    if (next === Atomics.load(this.ctl, R_REVOKE_END)) Atomics.store(this.ctl, R_CLAIMED, next);
    return false;
  }

  /** True when no frame is published. */
  empty(): boolean {
    return Atomics.load(this.ctl, R_TAIL) === this.head;
  }

  /**
   * Hand every published frame (at most `max`) to `sink`, in order. Each payload is a fresh
   * Buffer the sink may keep (from the reader's PayloadMemory when it has one: then the sink
   * follows that memory's rule for giving it back). HEAD moves after each frame, so a slow sink (a worker running a
   * synchronous handler) frees ring space as it goes. A sink may call read() again (re-entrant):
   * the outer loop goes on after whatever the inner one consumed. Returns the number of frames read.
   */
  read(sink: FrameSink, max = 0x7fffffff): number {
    let count = 0;
    let tail = Atomics.load(this.ctl, R_TAIL);
    while (this.head !== tail && count < max) {
      const pos = this.head & this.mask;
      const v = this.view;
      const len = v.getUint32(pos + F_LEN, true);
      let type = v.getUint8(pos + F_TYPE);
      const flags = v.getUint8(pos + F_FLAGS);
      const connId = v.getUint32(pos + F_CONN, true);
      const reqId = v.getUint32(pos + F_REQ, true);
      let payload: Buffer;
      let size: number;
      if (type === T_SPILL) {
        type = v.getUint16(pos + F_AUX, true);
        payload = this.takeSpilled(len);
        size = FRAME_HEADER_BYTES;
      } else {
        payload = len === 0 ? EMPTY : this.copyOut((pos + FRAME_HEADER_BYTES) & this.mask, len);
        size = alignFrame(FRAME_HEADER_BYTES + len);
      }
      this.head = (this.head + size) | 0;
      Atomics.store(this.ctl, R_HEAD, this.head);
      if (Atomics.load(this.ctl, R_P_WAIT) !== 0) Atomics.notify(this.ctl, R_HEAD);
      count++;
      sink(type, flags, connId, reqId, payload);
      // The sink may have read on (re-entrantly) past `tail`: reload it after every frame.
      tail = Atomics.load(this.ctl, R_TAIL);
    }
    return count;
  }

  /** Consumer side of the sleep handshake: say we sleep and return the bell value to wait on. */
  prepareSleep(): number {
    Atomics.store(this.ctl, R_C_SLEEP, 1);
    return Atomics.load(this.ctl, R_C_BELL);
  }

  endSleep(): void {
    Atomics.store(this.ctl, R_C_SLEEP, 0);
  }

  /** Block (worker threads only) until the producer rings or `ms` passes. */
  sleep(ms: number): void {
    const bell = this.prepareSleep();
    if (this.empty()) Atomics.wait(this.ctl, R_C_BELL, bell, ms);
    this.endSleep();
  }

  private copyOut(at: number, len: number): Buffer {
    const out = this.memory === null ? Buffer.allocUnsafe(len) : this.memory.take(len);
    const first = this.capacity - at;
    if (len <= first) {
      out.set(this.data.subarray(at, at + len));
    } else {
      out.set(this.data.subarray(at, this.capacity));
      out.set(this.data.subarray(0, len - first), first);
    }
    return out;
  }

  private takeSpilled(len: number): Buffer {
    const msg = this.spill === null ? undefined : receiveMessageOnPort(this.spill);
    if (msg === undefined) throw new Error('ring: spill marker without a spilled payload');
    const u8 = msg.message as Uint8Array;
    if (u8.length !== len) throw new Error(`ring: spilled payload is ${u8.length} bytes, marker says ${len}`);
    const payload = Buffer.from(u8.buffer, u8.byteOffset, u8.length);
    if (this.memory !== null && u8.buffer.byteLength === TRANSFER_PIECE) {
      const port = this.spill!;
      const ab = u8.buffer as ArrayBuffer; // transferred, never shared
      // A closed port (its worker gone) drops the message: the buffer is then left to the GC.
      this.memory.adopt(payload, () => port.postMessage(ab, [ab]));
    }
    return payload;
  }
}
