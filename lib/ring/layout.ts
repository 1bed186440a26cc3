// design: every slot index and constant of greenserve's shared memory lives in this file.
//
// Two kinds of SharedArrayBuffer are shared between the acceptor (main thread) and the workers:
//
// 1. A RING: a single-producer / single-consumer byte ring. Each worker has two: the request ring
//    (acceptor -> worker) and the response ring (worker -> acceptor).
//
//      byte 0           64              128                                   128 + capacity
//      ┌────────────────┬───────────────┬──────────────────────────────────────┐
//      │ producer line  │ consumer line │ data: frames, back to back, wrapping │
//      │ TAIL, P_WAIT   │ HEAD, C_SLEEP,│  ┌──────────16 B header──────────┐   │
//      │                │ C_BELL        │  │len u32│type u8│flags u8│aux u16│   │
//      └────────────────┴───────────────┘  │connId u32     │reqId u32      │   │
//                                          └───────────────┴───────────────┘   │
//                                          payload (len bytes), zero pad to 16  │
//
//    Invariants:
//    - TAIL is written only by the producer, HEAD only by the consumer, each with Atomics.store;
//      both are free-running byte counters modulo 2^32, so `(TAIL - HEAD) | 0` is the number of
//      bytes in use. Empty: TAIL == HEAD. Full: a frame does not fit in `capacity - used`.
//    - The producer writes a frame's bytes first and publishes it by storing TAIL last; the
//      consumer reads a frame's bytes only below the TAIL it loaded, and frees them by storing
//      HEAD last. Atomics.store/load are sequentially consistent, so published bytes are visible.
//    - capacity is a power of two and a multiple of FRAME_ALIGN; every frame starts on a
//      FRAME_ALIGN boundary, so the 16-byte header never straddles the end of the data area.
//      Only the payload may wrap (it is copied in two parts).
//    - A frame whose aligned size exceeds capacity / 2 is never put in the ring: it goes through
//      the spill path (a MessagePort read with receiveMessageOnPort); the ring carries a SPILL
//      marker in its place, so frame order is preserved. Nothing can deadlock on a big frame.
//      Response frames above TRANSFER_MIN take the same path in a transfer buffer of
//      TRANSFER_PIECE bytes, which the acceptor posts back on the same channel (the other
//      direction) once the client socket has written it.
//    - C_SLEEP is set to 1 by the consumer just before it waits on C_BELL and back to 0 after; the
//      producer, after storing TAIL, rings (Atomics.add C_BELL + notify) only when C_SLEEP is 1.
//      The consumer re-checks the ring after setting C_SLEEP, so no wake-up is lost.
//    - P_WAIT is set to 1 by a producer waiting for space (a worker with a full response ring);
//      the consumer notifies HEAD after freeing space when it sees it.
//    - Claims (request rings only): CLAIMED counts the T_REQUEST frames the consumer has taken
//      (started, or handed back with T_RETURN), modulo 2^31. The consumer takes each one with
//      compareExchange(CLAIMED, n, n + 1) before it runs it. The producer, which counts the
//      T_REQUEST frames it wrote, may take back the ones not taken yet (their worker is blocked in
//      a handler): it stores REVOKE_END = its count, then compareExchange(CLAIMED, c, c | REVOKED).
//      If that succeeds, frames c .. REVOKE_END - 1 are the producer's again (it sends them to
//      other workers); the consumer's compareExchange fails on each of them, it skips them, and on
//      the last one stores CLAIMED = REVOKE_END, which ends the revoke. While REVOKED is set the
//      producer writes no T_REQUEST to that ring (other frame types go on), so a frame is either
//      run by its consumer or sent elsewhere, never both.
//
// 2. The CONTROL BLOCK: one per server. A header line, then one 64-byte line per worker slot.
//    Workers publish their own state, heartbeat, in-flight and served counts, current request and
//    heap; the acceptor reads them to dispatch, and the supervisor (lib/supervisor/arbiter.ts)
//    every 100 ms for deadlines, liveness and recycling. A line is reused only after its worker
//    has exited (CONTROL_SLOTS). The acceptor's own doorbell is in the header:
//    a worker that publishes a response rings it only when ACC_SLEEP is 1.

/** Bytes of the ring header (two 64-byte cache lines, so producer and consumer words never share a line). */
export const RING_HEADER_BYTES = 128;
/** Int32 slots of the ring header. */
export const R_TAIL = 0; //       producer line
export const R_P_WAIT = 1; //     producer waits for space
export const R_REVOKE_END = 2; // request frames below this count are revoked while R_CLAIMED has CLAIM_REVOKED
export const R_HEAD = 16; //      consumer line
export const R_C_SLEEP = 17; //   consumer is (about to be) asleep
export const R_C_BELL = 18; //    doorbell sequence the consumer waits on
export const R_CLAIMED = 19; //   T_REQUEST frames taken by the consumer (mod 2^31), | CLAIM_REVOKED while the producer revokes
/** R_CLAIMED's revoke bit, and the mask of its count. */
export const CLAIM_REVOKED = 0x80000000 | 0;
export const CLAIM_MASK = 0x7fffffff;

export const FRAME_ALIGN = 16;
export const FRAME_HEADER_BYTES = 16;
/** Byte offsets inside a frame header. */
export const F_LEN = 0;
export const F_TYPE = 4;
export const F_FLAGS = 5;
export const F_AUX = 6;
export const F_CONN = 8;
export const F_REQ = 12;

/**
 * Frame types. Acceptor -> worker below 64, worker -> acceptor from 64.
 *
 * Streaming (docs/decisions/0012-streaming-and-upgrades.md). Per exchange, the worker may have
 * at most RESPONSE_WINDOW bytes of a response published in frames without FL_END and not yet
 * granted back by T_CREDIT. Invariants:
 * - The acceptor grants (T_CREDIT) exactly the bytes of non-END T_RESPONSE frames it has handed to
 *   the client socket while that socket was not write-blocked (else at its 'drain'); never bytes of
 *   an END frame, so a response in one frame (every small one) costs no credit frame at all.
 * - Credits are additive and may arrive late or after the exchange ended: a worker ignores a
 *   T_CREDIT or T_CANCEL whose request id it no longer carries (stale).
 * - T_CANCEL is sent at most once per exchange, only when the client connection closed while the
 *   response was owed; the worker destroys that request's socket (node's 'close' / an aborted
 *   request.signal) and answers with END | ABORT, which the acceptor discards.
 * - Upgrades (WebSocket): a request the acceptor framed with `Upgrade` is dispatched alone (no
 *   pipelining around it). If its first response bytes are a `101` status line, the connection
 *   is a tunnel pinned to that worker until an END frame: T_RESPONSE frames without END carry
 *   the worker's bytes (credited as above), T_DATA frames the client's, each acknowledged by a
 *   T_ACK once the worker took it; the acceptor stops reading the client while more than
 *   RESPONSE_WINDOW bytes are unacknowledged. An empty T_DATA says the client half-closed.
 * - Streamed request bodies (a body larger than --body-buffer-size): the T_REQUEST has
 *   FL_BODY_STREAM, and the frame carries the head and the body bytes the acceptor had;
 *   the rest of the body follows as T_DATA frames (raw, chunked framing kept: node's parser
 *   decodes it), never an empty one. The worker answers the T_REQUEST with one T_ACK of 0 once it has read it ("started"): only then
 *   does the acceptor send T_DATA for it, so a body frame can never overtake its request (the
 *   request may wait in the acceptor's queue or overflow, or be handed back by T_RETURN). Later
 *   T_ACKs grant bytes the app's parser consumed (not merely received), so an app that does not
 *   read stops the upload: the acceptor stops reading the client while more than REQUEST_WINDOW
 *   bytes are unacknowledged. A started upload the acceptor gives up on (client gone, body over
 *   --limit-request-body mid-stream) gets a T_CANCEL.
 */
export const T_SPILL = 1; //      the payload travels on the spill port; header fields are the real frame's
export const T_REQUEST = 2; //    a request: sub-header (REQUEST_SUBHEADER), then head + raw body exactly as framed (FL_BODY_STREAM: the body's start)
export const T_CREDIT = 3; //     u32 LE payload: bytes of request reqId's response written to its client: publish that many more
export const T_CANCEL = 4; //     the client of request reqId is gone: destroy its socket (no payload)
export const T_DATA = 5; //       tunnel bytes from the client of request reqId (upgraded); empty = client half-closed
export const T_RESPONSE = 64; //  response bytes, to be written verbatim; flags below
export const T_RETURN = 65; //    a request handed back unread (header only): the worker is about to block
export const T_ACK = 66; //       u32 LE payload: bytes of T_DATA for request reqId the worker took

/**
 * T_REQUEST payload (REQUEST_SUBHEADER): a sub-header, then exactly the request's bytes as the
 * acceptor framed them (head and raw body, chunked framing kept):
 *   u16 LE client port | u8 address length A | A bytes: the address (latin1; 0 over a unix socket)
 *   | u8 request-id length N | N bytes: the request id (latin1; 0: no id, --access-log off)
 * The peer part is the connection's (built once per connection), the id part the request's.
 */
export const REQUEST_SUBHEADER = 'port, address, request id';

/** Frame flags of T_RESPONSE. */
export const FL_END = 1; //       last frame of this response
export const FL_CLOSE = 2; //     close the connection after this response
export const FL_ABORT = 4; //     the response broke off: write what came, then close
export const FL_ENDED = 8; //     (non-END frames) the handler ended this response: only its bytes remain, the request no longer counts against --worker-connections

/** Flags of T_REQUEST. */
export const FL_KEEP_ALIVE = 1; // the request asked for a persistent connection
export const FL_TRUSTED_PROXY = 2; // the peer is in --forwarded-allow-ips: trust its X-Forwarded-* headers
export const FL_TLS = 4; //        the connection is TLS (https)
export const FL_LAST = 8; //       the acceptor closes the connection after this response (answer with Connection: close)
export const FL_BODY_STREAM = 16; // the body does not end in this frame: the rest follows as T_DATA (a streamed upload, see above)

/**
 * Bytes of one response a worker may publish (in non-END frames) before the acceptor's T_CREDIT
 * says they reached the client: what a slow reader can make the acceptor hold per exchange. Sized
 * for throughput (two frames in flight hide the credit round trip; measured in decision 0012,
 * "Throughput"); a frame never carries more than about STREAM_FRAME.
 */
export const RESPONSE_WINDOW = 512 * 1024;

/**
 * A streamed response is published in frames of about this many bytes (one write more at most):
 * the worker holds a write's callback once this much waits unpublished, publishes it on its next
 * turn, and only then takes more. Keeps every frame under the default ring's spill threshold
 * (capacity / 2) and lets the acceptor write one frame while the worker fills the next.
 */
export const STREAM_FRAME = 256 * 1024;

/**
 * Response frames of more than this many bytes do not go through the ring: the worker copies
 * them into a transfer buffer and posts it on the spill port (a T_SPILL marker keeps its place in
 * the ring), and the acceptor, once its socket has written the bytes, posts the buffer back for
 * the worker to use again (docs/decisions/0031-response-transfer.md). Copying into the shared ring
 * costs several times a plain copy, as each cache line moves between the two threads' cores.
 */
export const TRANSFER_MIN = 64 * 1024;

/**
 * Upload and tunnel bytes (T_DATA) in a socket read of at least this many bytes that is the whole
 * of its ArrayBuffer (every read node makes for a plain TCP socket) are not copied into the
 * request ring: the acceptor transfers the read's buffer to the worker on the spill port. Besides
 * the copy, this keeps the reads' memory out of the acceptor's heap accounting, where it made V8
 * run a full collection every few MiB of an upload (docs/decisions/0031-response-transfer.md).
 */
export const UPLOAD_TRANSFER_MIN = 32 * 1024;

/** The size of a transfer buffer: a whole stream frame. A larger frame gets one of its own size, not returned. */
export const TRANSFER_PIECE = STREAM_FRAME;

/**
 * Bytes of a streamed request body (or a tunnel's client bytes) the acceptor may have sent to a
 * worker, or hold for it, without the worker's T_ACK: what a handler that does not read costs the
 * acceptor per upload. Below the default ring's spill threshold (capacity / 2).
 */
export const REQUEST_WINDOW = 256 * 1024;

/** Default ring data capacity (bytes). */
export const DEFAULT_RING_CAPACITY = 1 << 20;

// ── control block ─────────────────────────────────────────────────────────────────────────────
export const CTL_LINE_INT32 = 16; // 64 bytes per line
/** Header line slots. */
export const C_ACC_SLEEP = 0; //  the acceptor has armed Atomics.waitAsync on C_ACC_BELL
export const C_ACC_BELL = 1; //   the acceptor's doorbell sequence
/** Per-worker line slots (line = 1 + worker slot). */
export const W_STATE = 0; //      WorkerState, written by the worker (the acceptor writes STARTING/DEAD)
export const W_HEARTBEAT = 1; //  incremented by the worker on every loop turn
export const W_INFLIGHT = 2; //   requests taken and not yet answered, written by the worker
export const W_SERVED = 3; //     responses completed, written by the worker
export const W_CUR_REQ = 4; //    request id of the handler running now (0 = none)
// Int32 slot 5 is unused (it counted the workers a slot had had, which nothing read).
export const W_HEAP_MB = 6; //    V8 heap in use (MiB), written by the worker every HEAP_REPORT_MS (stats, metrics)
export const W_HEAP_OLD_MB = 7; // V8 old generation in use (MiB): with W_EXTERNAL_MB, what --max-worker-memory caps
export const W_EXTERNAL_MB = 10; // memory outside the V8 heap held by the worker's objects (Buffers, ArrayBuffers), MiB, published with W_HEAP_MB
/** Float64 view of the same line: slot 4 of the Float64 line (bytes 32..39 = Int32 slots 8, 9; W_EXTERNAL_MB is 10) */
export const W_F64_RUN_SINCE = 4; // epoch ms (performance.timeOrigin + now()) when W_CUR_REQ started

/** How often a worker publishes W_HEAP_MB. */
export const HEAP_REPORT_MS = 250;
/**
 * Worker lines in the control block. Fixed, and larger than --threads' maximum (1024) twice over:
 * a reload runs the old and the new generation side by side, and a worker that was terminated but
 * has not exited yet (stuck in a native call) keeps its line until it does. A line is reused only
 * once its worker has exited, so a late write from a dying worker never lands in a new one's line.
 */
export const CONTROL_SLOTS = 2 * 1024 + 64;

// A const object, not a `const enum`: each file compiles on its own (isolatedModules).
export const WorkerState = {
  STARTING: 0,
  IDLE: 1,
  RUNNING: 2,
  PARKED: 3,
  DRAINING: 4,
  DEAD: 5,
} as const;
export type WorkerState = (typeof WorkerState)[keyof typeof WorkerState];

export const WORKER_STATE_NAMES = ['starting', 'idle', 'running', 'parked', 'draining', 'dead'] as const;

// ── shim signal (native-shims) ────────────────────────────────────────────────────────────────
// 3. A SHIM SIGNAL: one small SharedArrayBuffer per worker, shared by that worker, the I/O helper
//    thread and the main thread's IoHelper (lib/supervisor/io-helper.ts).
//
//      Int32 0 S_REPLY       Int32 1 S_HELPER_RESTARTS       (rest of the 64-byte line unused)
//
//    Invariants:
//    - The helper posts a reply on the worker's shim port FIRST, then Atomics.add(S_REPLY, 1) and
//      notifies. A parked worker loads S_REPLY, drains its port with receiveMessageOnPort, and only
//      then Atomics.wait(S_REPLY, loaded value, timeout): a reply posted in between changes the
//      word, so no wake-up is lost. Replies carry the call id; others (late ones) are discarded.
//    - S_HELPER_RESTARTS is written only by the main thread, when the helper thread was replaced: the new
//      shim port is posted on the worker's broker port first, then S_HELPER_RESTARTS and S_REPLY are
//      incremented (and S_REPLY notified), so a worker parked on the old helper wakes and fails its
//      call, and its next call picks up the new port.
//    - Only the worker waits on this buffer (only workers ever call Atomics.wait).
export const S_REPLY = 0;
export const S_HELPER_RESTARTS = 1;
export const SHIM_SIGNAL_BYTES = 64;

// 4. A JOB START WORD: one Int32 per heavy job, shared by the I/O helper and the pool thread that
//    runs the job (native-shims/job-runner.ts). The pool thread stores 1 when the job starts; the
//    helper, waiting with Atomics.waitAsync, starts --jobs-timeout then, so the time a job waits in
//    the pool's queue or for a pool thread to boot does not count against it.
export const J_STARTED = 0;
export const JOB_START_BYTES = 4;

export function controlBlockBytes(slots: number): number {
  return (1 + slots) * CTL_LINE_INT32 * 4;
}

/** Int32 index of a per-worker slot. */
export function wIndex(slot: number, field: number): number {
  return (1 + slot) * CTL_LINE_INT32 + field;
}

/** Float64 index of a per-worker float slot. */
export function wIndexF64(slot: number, field: number): number {
  return ((1 + slot) * CTL_LINE_INT32) / 2 + field;
}

export function alignFrame(bytes: number): number {
  return (bytes + (FRAME_ALIGN - 1)) & ~(FRAME_ALIGN - 1);
}

export function ringBytes(capacity: number): number {
  return RING_HEADER_BYTES + capacity;
}

export function assertCapacity(capacity: number): void {
  if (capacity < 256 || (capacity & (capacity - 1)) !== 0 || capacity > 1 << 30) {
    throw new RangeError(`ring capacity must be a power of two from 256 to 2^30 (got ${capacity})`);
  }
}
