// design: entry point of a request worker thread. Boot: load the app once, run its setup(ctx)
// hook if it has one (awaited), publish IDLE, resolve the control plane's ready() (./control.ts:
// comlink on the worker's own control port). Then a loop of event-loop turns: read every request
// frame from the ring (handlers run inside the read), yield one turn so node can flush responses
// (nextTick/microtasks), repeat. With
// nothing in flight the thread sleeps in Atomics.wait on its ring's doorbell (in slices, so the
// app's own timers still run); with async requests in flight, or once it has been idle for a
// while, it keeps its event loop running and waits with Atomics.waitAsync instead. The supervisor's close() (after the worker drained)
// ends the loop and runs the app's teardown(ctx); then the thread is terminated. Code here never
// imports the acceptor side.
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { threadId, workerData } from 'node:worker_threads';
import { createLogger } from '../log.js';
import type { AppHookName, HookContext, WorkerInit } from '../messages.js';
import { WorkerControl } from '../ring/control.js';
import { C_ACC_BELL, C_ACC_SLEEP, HEAP_REPORT_MS, R_C_BELL, T_REQUEST, TRANSFER_MIN, WorkerState } from '../ring/layout.js';
import { ring, RingReader, RingWriter, type Doorbell } from '../ring/ring.js';
import { loadApp } from './app.js';
import { findHooks, installHooks, runSetup, runTeardown, type AppHooks } from './control-hooks.js';
import { serveControlPlane, WorkerControlPlane } from './control.js';
import { Runner } from './runner.js';
import { installShimContext } from '../../native-shims/context.js';

/** Longest blocking sleep while idle: the app's own timers run at least this often. */
const IDLE_SLICE_MS = 50;
/**
 * Idle slices (250 ms) after which a thread sleeps in its event loop (Atomics.waitAsync) instead.
 * Atomics.wait wakes fastest, so a thread that served a moment ago keeps to it; one that has had
 * nothing for this long stops waking every slice, and idle threads cost only their beats
 * (init.idleBeatMs). App timers and control messages then run as they come.
 */
const SLICES_BEFORE_DEEP = 5;
/** Frames handled per turn before node gets to flush responses and run I/O. */
const BATCH = 64;
/**
 * After a turn that ran requests, the heap is published again if this many ms passed since the
 * last time: a handler that allocates much in one request is seen at the supervisor's next tick,
 * not only at the next HEAP_REPORT_MS.
 */
const HEAP_REPORT_BUSY_MS = 10;

const init = workerData as WorkerInit;
const log = createLogger(init.logLevel, { worker: init.slot });
// The blocking shims (greenserve/shims) find this worker's control line and I/O helper here; set
// before the app loads, so they work at its top level too.
let giveBack: () => void = () => {};
installShimContext({
  slot: init.slot,
  control: init.control,
  shims: init.shims ?? null,
  warn: (fields, msg) => log.warn(fields, msg),
  beforePark: () => giveBack(),
});

// Served from the start, so that the supervisor's ready() call waits for the boot below.
const plane = new WorkerControlPlane();
serveControlPlane(init.controlPort, plane);

async function boot(): Promise<void> {
  const control = new WorkerControl(init.control, init.slot);
  let app;
  let found: AppHooks;
  let hooks: AppHookName[];
  try {
    app = await loadApp(init.appUrl, init.appExport, init.interface);
    // The same module instance (the import is cached): its hooks, checked once here.
    found = findHooks((await import(init.appUrl)) as Record<string, unknown>, init.appUrl);
    hooks = installHooks(found);
  } catch (err) {
    plane.bootFailed(err);
    return;
  }
  const ctx: HookContext = Object.freeze({ worker: init.slot, threadId, generation: init.cohort });
  if (found.setup !== null) {
    try {
      await runSetup(found.setup, ctx, init.appUrl);
    } catch (err) {
      // The app's own stack goes to the log; the boot error names setup() and the message.
      log.error({ err: (err as Error).cause ?? err }, (err as Error).message);
      plane.bootFailed(err);
      return;
    }
  }
  const reader = new RingReader(init.requestRing, init.requestSpill);
  const acceptorBell: Doorbell = { i32: new Int32Array(init.control), sleepIndex: C_ACC_SLEEP, bellIndex: C_ACC_BELL };
  const runner = new Runner({
    listener: app.listener,
    upgrade: app.upgrade,
    writer: new RingWriter(init.responseRing, init.responseSpill, { transferMin: TRANSFER_MIN }),
    acceptorBell,
    control,
    log,
    maxHeaderSize: init.maxHeaderSize,
    keepAliveMs: init.keepAliveMs,
    serverHeader: init.serverHeader,
    requestIdHeader: init.requestIdHeader,
  });
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled promise rejection in the app'));
  // Before this thread parks in a blocking shim, the requests still unread in its ring go back
  // to the acceptor, which hands them to a thread that can run them now.
  giveBack = () => {
    reader.read((type, _flags, connId, reqId, payload) => {
      if (type !== T_REQUEST) runner.streamControl(type, reqId, payload); // stream credits and cancels must not be lost
      else if (reader.claim()) runner.giveBack(connId, reqId); // else the acceptor took it back already
    });
  };
  // The supervisor recycles a worker whose memory stays near --max-worker-memory: its old
  // generation (the young one, up to tens of MiB of garbage until the next scavenge, is left out)
  // and the memory its objects hold outside the V8 heap (Buffers, ArrayBuffers); it shows the
  // whole heap in stats.
  const reportHeap = (): void => {
    const heap = getHeapStatistics();
    control.setHeapMb(Math.round(heap.used_heap_size / MB), Math.round(oldGenerationBytes() / MB), Math.round(externalBytes(heap) / MB));
  };
  reportHeap();
  startLoop(reader, runner, control, acceptorBell, reportHeap);
  control.setState(WorkerState.IDLE);
  const teardown = found.teardown;
  // The hooks found show in the startup banner's app detail (and in stats' detail.hooks).
  const detail = hooks.length === 0 ? app.detail : `${app.detail}; hooks: ${hooks.join(', ')}`;
  plane.bootDone({ interface: app.interface, detail, hooks }, {
    inflight: () => runner.inflight,
    publishDraining: () => control.setState(WorkerState.DRAINING),
    teardown: (timeoutMs) => (teardown === null ? Promise.resolve({ ok: true, ms: 0 }) : runTeardown(teardown, ctx, timeoutMs)),
  });
}

function startLoop(reader: RingReader, runner: Runner, control: WorkerControl, acceptorBell: Doorbell, reportHeap: () => void): void {
  const ringI32 = new Int32Array(init.requestRing, 0, 32);
  // Each request frame is claimed before it runs: the acceptor may have taken it back meanwhile
  // (this thread was blocked in a handler) and sent it to another thread.
  let skipped = false;
  const onFrame = (type: number, flags: number, connId: number, reqId: number, payload: Buffer): void => {
    if (type !== T_REQUEST || reader.claim()) runner.frame(type, flags, connId, reqId, payload);
    else skipped = true;
  };
  let scheduled = false;
  let asyncArmed = false;
  /** Idle slices slept since the last frame; and whether the thread now sleeps in its event loop. */
  let slices = 0;
  let deep = false;
  let deepSince = 0;
  // Heap report every HEAP_REPORT_MS while serving; while deeply idle, a beat (and the report)
  // every init.idleBeatMs only, so an idle thread wakes about once a second.
  let timer = setInterval(reportHeap, HEAP_REPORT_MS).unref();
  let reportedAt = 0;
  const deepBeat = (): void => {
    control.beat();
    reportHeap();
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(loop);
  };
  const woke = (): void => {
    asyncArmed = false;
    reader.endSleep();
    schedule();
  };
  const setDeep = (on: boolean): void => {
    deep = on;
    clearInterval(timer);
    timer = on ? setInterval(deepBeat, init.idleBeatMs).unref() : setInterval(reportHeap, HEAP_REPORT_MS).unref();
    if (on) deepSince = performance.now();
    else plane.sleptMs += performance.now() - deepSince;
  };
  function loop(): void {
    scheduled = false;
    if (plane.closing) return; // drained and told to close: the teardown runs on a plain event loop
    control.beat();
    if (reader.read(onFrame, BATCH) > 0) {
      const t = performance.now();
      if (t - reportedAt >= HEAP_REPORT_BUSY_MS) {
        reportedAt = t;
        reportHeap();
      }
      // Past frames the acceptor took back: it sends this thread nothing until it hears so.
      if (skipped) {
        skipped = false;
        ring(acceptorBell);
      }
      slices = 0;
      if (deep) setDeep(false);
      return schedule();
    }
    if (plane.draining) drained(runner, control);
    const idle = runner.inflight === 0 && !runner.busy;
    if (idle && slices < SLICES_BEFORE_DEEP) {
      // Only here, when idle: the time slept is taken out of the utilization report() gives.
      slices++;
      const slept = performance.now();
      reader.sleep(IDLE_SLICE_MS);
      plane.sleptMs += performance.now() - slept;
      return schedule();
    }
    if (idle && !deep) setDeep(true);
    else if (!idle && deep) setDeep(false);
    // Requests are in flight (async handlers), work is queued for this turn, or the thread has
    // been idle for a while: keep the event loop running (app timers and control messages run as
    // they come) and let the acceptor's doorbell resolve a waitAsync.
    const bell = reader.prepareSleep();
    if (!reader.empty()) {
      reader.endSleep();
      return schedule();
    }
    if (asyncArmed) return; // an earlier waitAsync on this same bell value is still pending
    const r = Atomics.waitAsync(ringI32, R_C_BELL, bell);
    if (!r.async) return woke();
    asyncArmed = true;
    void r.value.then(woke);
  }
  // When the last async request finishes, go back to the cheaper blocking sleep.
  runner.onIdle = schedule;
  schedule();
}

const MB = 1048576;

/** Bytes in use in V8's old generation: every heap space but the young ones (new_*) and the read-only one. */
function oldGenerationBytes(): number {
  let bytes = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (!space.space_name.startsWith('new_') && space.space_name !== 'read_only_space') bytes += space.space_used_size;
  }
  return bytes;
}

/** Bytes held outside the V8 heap by this thread's objects (Buffers, ArrayBuffers, what addons report). */
function externalBytes(heap: ReturnType<typeof getHeapStatistics>): number {
  const v = (heap as { external_memory?: number }).external_memory;
  return typeof v === 'number' ? v : process.memoryUsage().external;
}

/** A draining worker shows DRAINING between requests (a handler's enter/leave overwrites it) and settles drain() once idle. */
function drained(runner: Runner, control: WorkerControl): void {
  control.setState(WorkerState.DRAINING);
  if (runner.inflight === 0) plane.idle();
}

void boot();
