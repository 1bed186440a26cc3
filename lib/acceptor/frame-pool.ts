// design: the acceptor copies every response frame out of its worker's ring into a Buffer of its
// own, so that the ring space is free at once while the bytes wait for the client. For the large
// frames of a streamed or big response, a fresh Buffer per frame made
// V8 run a full mark-compact every 20 ms or so in the acceptor, and those collections took more
// CPU than the transfer itself (docs/benchmarks.md, "Streaming"). This pool hands out pieces of
// memory that are used again once the client socket has written them.
//
// The rule that keeps it safe: a piece goes back to the pool only from the write callback of the
// one socket write that carried it, and only when that callback reports no error. node calls a
// write's callback once the bytes have left (or could not leave) the stream, so nothing refers to
// the memory any more. A piece that is dropped instead (its exchange ended, its client left, its
// worker died) is never returned: the garbage collector frees it like any other Buffer.
//
// Frames of FRAME_POOL_MIN bytes or less come from node's own small-buffer pool (Buffer.allocUnsafe).
// Frames above TRANSFER_MIN do not cross the ring at all (lib/ring/layout.ts): their worker
// transfers them, and the same rule gives their buffers back (adopt), to that worker. So a piece
// is TRANSFER_MIN bytes, the largest frame a worker's response ring carries.
import { TRANSFER_MIN } from '../ring/layout.js';

/** Frames up to this many bytes are not worth a piece (node pools buffers under 4 KiB already). */
export const FRAME_POOL_MIN = 16 * 1024;
/** The size of a piece: the largest frame that crosses a response ring (a larger one gets its own Buffer). */
export const PIECE_BYTES = TRANSFER_MIN;
/** Pieces kept while unused (512 KiB at most): enough for a few streams; beyond it they are let go. */
export const MAX_FREE_PIECES = 8;

type WriteDone = (err?: Error | null) => void;

export class Piece {
  readonly memory: Buffer;
  /** The write callback that returns this piece to its pool. */
  readonly done: WriteDone;

  constructor(pool: FramePool) {
    this.memory = Buffer.allocUnsafeSlow(PIECE_BYTES);
    this.done = (err) => {
      if (err == null) pool.put(this);
    };
  }
}

export class FramePool {
  private readonly free: Piece[] = [];
  /** The write callback of each memory handed out or adopted, by its ArrayBuffer (weak: dropped memory is collected). */
  private readonly owners = new WeakMap<ArrayBufferLike, WriteDone>();
  /** Pieces created so far (a test reads it to see reuse). */
  created = 0;
  /** Transfer buffers given back to their workers so far. */
  givenBack = 0;
  /** Socket reads moved to workers whole (upload and tunnel bytes; lib/ring/layout.ts, UPLOAD_TRANSFER_MIN) so far. */
  movedOut = 0;

  /** A Buffer of `len` bytes (uninitialised): a piece's memory when `len` fits one. */
  take(len: number): Buffer {
    if (len <= FRAME_POOL_MIN || len > PIECE_BYTES) return Buffer.allocUnsafe(len);
    let piece = this.free.pop();
    if (piece === undefined) {
      piece = new Piece(this);
      this.created++;
      this.owners.set(piece.memory.buffer, piece.done);
    }
    return piece.memory.subarray(0, len);
  }

  /**
   * The write callback to pass with `data` if it is a piece's memory (the callback returns the
   * piece), or null. Call it once per Buffer from take(), for the one write that carries it.
   */
  doneFor(data: Buffer): WriteDone | null {
    if (data.length <= FRAME_POOL_MIN) return null;
    return this.owners.get(data.buffer) ?? null;
  }

  /**
   * A payload a worker transferred (lib/ring/ring.ts, TRANSFER_MIN): once the write that carries
   * it calls back without an error, `giveBack` posts its buffer back to that worker.
   */
  adopt(payload: Buffer, giveBack: () => void): void {
    this.owners.set(payload.buffer, (err) => {
      if (err == null) {
        this.givenBack++;
        giveBack();
      }
    });
  }

  /** Pieces waiting to be used again. */
  get idle(): number {
    return this.free.length;
  }

  put(piece: Piece): void {
    if (this.free.length < MAX_FREE_PIECES) this.free.push(piece);
  }
}

/** The acceptor thread's pool: its response rings take from it, its connections give back to it. */
export const framePool = new FramePool();
