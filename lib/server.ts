// design: wires one server together on the main thread: listeners and connections (acceptor),
// the dispatcher and response pump, and the worker pool (supervisor). Everything here runs on the
// acceptor's event loop; nothing blocks and no user code runs here.
import { existsSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import { Connection, type ConnectionHost, type ConnectionOptions, type Exchange } from './acceptor/connection.js';
import { DescriptorWatch } from './acceptor/descriptors.js';
import { Dispatcher } from './acceptor/dispatcher.js';
import { proxyMatcher, type ProxyMatcher } from './acceptor/proxy-trust.js';
import type { FramedRequest } from './acceptor/framer.js';
import { statusResponse } from './acceptor/responses.js';
import { parseSticky } from './config/sticky-mode.js';
import { Operations } from './acceptor/operations.js';
import type { MetricsSnapshot } from './acceptor/metrics.js';
import type { StatusGauges } from './acceptor/status.js';
import { readWorkers } from './acceptor/status-workers.js';
import { loadTls } from './acceptor/tls.js';
import { parseBind, type BindAddress, type Config } from './config/resolve.js';
import { AppLoadError } from './errors.js';
import { bumpReopenCounter, closeLogger, createLogger, createReopenCounter, reopenLogger, textFormat, Throttle, type Logger } from './log.js';
import { startDevReload, type DevReload } from './dev-reload.js';
import { ControlBlock, createControlBuffer } from './ring/control.js';
import { CONTROL_SLOTS, WORKER_STATE_NAMES, WorkerState } from './ring/layout.js';
import { LISTEN_IGNORED } from './messages.js';
import { Arbiter, type SupervisorEvent, type SupervisorSignal } from './supervisor/arbiter.js';
import { elasticCeiling } from './supervisor/elastic.js';
import { Pool, type WorkerDetail } from './supervisor/pool.js';
import { IoHelper } from './supervisor/io-helper.js';
import { memoryLimits } from './supervisor/memory.js';

/** A listening socket's handle as node passes it between processes (a bound TCP or pipe handle). */
export type InheritedListener = { readonly fd: number };

export type BoundAddress = { kind: 'tcp'; host: string; port: number; url: string } | { kind: 'unix'; path: string; url: string };

export interface WorkerStats {
  slot: number;
  state: string;
  served: number;
  inflight: number;
  /** Code generation (0 at start, +1 per reload). */
  generation: number;
  /** V8 heap in use, MiB. */
  heapMb: number;
  /** Takes no new requests (recycled, reloaded, scaled down or killed). */
  retiring: boolean;
  /** Only from `stats({ detail: true })`: the worker's own report over the control plane (docs/signals.md). */
  detail?: WorkerDetail;
}

export interface ServerStats {
  connections: number;
  /** Requests accepted and not yet answered. */
  outstanding: number;
  /** Requests waiting for a worker. */
  waiting: number;
  /** Doorbell rings so far: of sleeping workers by the acceptor, and of the sleeping acceptor by workers. */
  wakeups: { workers: number; acceptor: number };
  /** Workers wanted (--threads, changed by scale / SIGTTIN / SIGTTOU). */
  threads: number;
  /** Extra workers started because every worker was blocked (--max-threads), not retiring. */
  elastic: number;
  /**
   * The pre-warmed spare worker, or null (elastic threads off, or none right now). Not in
   * `workers`: it takes no requests until every worker is blocked, then joins them in its slot.
   */
  spare: { slot: number; ready: boolean } | null;
  /** Every live worker thread that serves, including ones retiring or starting (not the spare). */
  workers: WorkerStats[];
  /**
   * The most response bytes one connection holds in the acceptor now (its socket's write buffer
   * and pipelined responses): what flow control bounds for a client that reads slowly.
   */
  connectionBufferMax: number;
}

/** Seconds between keep-alive sweeps; idle connections close within keepAlive + this. */
const SWEEP_MS = 1000;

/**
 * On a graceful shutdown, a keep-alive connection closes after a response that says
 * `Connection: close` (every request dispatched from then on gets one), or once it has been idle
 * this long. A proxy that pools connections (nginx's upstream keepalive) sends a request on any of
 * them at any moment, most often on the one that has just answered: closed at once, a connection
 * whose request is in flight or already in its receive buffer is reset unanswered, and a proxy
 * resends only idempotent requests, so a POST fails with a 502 (measured behind nginx with idle
 * connections closed at once: 1 to 3 POSTs lost in 4 of 11 runs of the rolling restart of
 * test/integration/nginx.test.mjs). Left open for this long, the proxy uses them (and is told to
 * close each) or has stopped using them.
 */
const IDLE_CLOSE_MS = 250;
/** How often the drain looks for idle connections to close. */
const DRAIN_TICK_MS = 50;
/** At the --connections cap, how often the idle connections are looked for again once those found are used up. */
const RECLAIM_SCAN_MS = 50;

export function appUrlOf(app: string): string {
  if (/^(file|data|node):/.test(app)) return app;
  const file = path.resolve(app);
  if (!existsSync(file)) throw new AppLoadError(`app module not found: ${file}`);
  if (statSync(file).isDirectory()) {
    const inside = moduleIn(file);
    const hint = inside === null ? 'name the module file in it' : `name the module in it, like ${path.join(app, inside)}`;
    throw new AppLoadError(`app ${file} is a directory: ${hint}`);
  }
  if (!statSync(file).isFile()) throw new AppLoadError(`app ${file} is not a file`);
  return pathToFileURL(file).href;
}

/** The module a directory's package.json names (main), or its index file; null if none is there. */
function moduleIn(dir: string): string | null {
  try {
    const main = (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { main?: unknown }).main;
    if (typeof main === 'string' && existsSync(path.join(dir, main))) return main;
  } catch {
    // no package.json, or none that names a main module
  }
  for (const name of ['index.js', 'index.mjs', 'index.cjs', 'index.ts', 'app.js', 'app.mjs', 'server.js']) {
    if (existsSync(path.join(dir, name))) return name;
  }
  return null;
}

export class Server implements ConnectionHost {
  readonly config: Config;
  readonly log: Logger;
  readonly addresses: BoundAddress[] = [];
  /** Coarse monotonic clock (ms, performance.now()): a wall-clock step (NTP) must not fire timeouts. */
  clock = performance.now();
  private readonly control: ControlBlock;
  private readonly pool: Pool;
  /** The I/O helper thread behind the blocking shims and the heavy-jobs pool (never the acceptor). */
  private readonly ioHelper: IoHelper;
  private readonly dispatcher: Dispatcher;
  /** The supervisor: a queue of events and one loop (lib/supervisor/arbiter.ts). */
  private readonly arbiter: Arbiter;
  /** Resolves once the server has stopped (after close(), a signal, or a failed start). */
  readonly stopped: Promise<void>;
  private markStopped!: () => void;
  private graceful = true;
  private cutGrace: (() => void) | null = null;
  private readonly listeners: net.Server[] = [];
  private readonly connections = new Set<Connection>();
  /** Accepted sockets waiting for a slot under --connections (accept is paused for them). */
  private waitingSockets: net.Socket[] = [];
  /** Idle connections closed to admit held sockets, whose close has not come yet. */
  private reclaiming = 0;
  /** Idle connections found by the last scan at the cap, the longest idle last. */
  private idleOrder: Connection[] = [];
  private idleScanAt = -Infinity;
  /** Connections closed at the cap since the last warning about it, and its rate limit. */
  private reclaimedTotal = 0;
  private readonly reclaimLog = new Throttle();
  private readonly connOptions: ConnectionOptions;
  private nextConnId = 1;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  private onIdleConnections: (() => void) | null = null;
  /** The options of every listener when serving HTTPS (--certfile), else null. */
  private readonly tls: tls.TlsOptions | null;
  /** Whether a peer may send X-Forwarded-* (--forwarded-allow-ips); asked once per connection. */
  readonly trustsProxy: ProxyMatcher;
  /** Health, access log, metrics (lib/acceptor/operations.ts); `ops.metrics.workerRestart(reason)`. */
  readonly ops: Operations;
  /** Bumped by reopenLogs(): every worker thread reopens its --error-log file (lib/log.ts). */
  private readonly logReopen = createReopenCounter();
  /** The error log this server opened (--error-log), or null when the caller passed a logger. */
  private readonly ownLog: Logger | null;
  /** --reload: the watcher that reloads the workers when the app's files change. */
  private devReload: DevReload | null = null;
  /** Says in the error log when the process runs out of file descriptors (checked at each sweep). */
  private readonly descriptors: DescriptorWatch;
  /**
   * Sockets bound by the supervising parent process (lib/parent.ts), one per --bind address in
   * order: listened on here instead of binding; the parent owns them (and a unix socket's file).
   */
  private readonly inherited: ReadonlyArray<InheritedListener> | null;

  constructor(config: Config, log?: Logger, inherited?: ReadonlyArray<InheritedListener>) {
    this.config = config;
    this.inherited = inherited ?? null;
    this.ownLog = log === undefined ? createLogger(config.logLevel, {}, config.errorLog, config.logFormat) : null;
    this.log = log ?? this.ownLog!;
    this.descriptors = new DescriptorWatch(this.log);
    this.tls = loadTls(config); // reads the files: a bad one stops the server before any worker starts
    this.trustsProxy = proxyMatcher(config.forwardedAllowIps);
    this.ops = new Operations(config, {
      snapshot: () => this.metricsSnapshot(),
      ready: () => this.isReady(),
      status: () => this.statusGauges(),
    });
    // With health, access log or metrics on, submit is wrapped once here; otherwise it stays plain.
    const submit = this.ops.wrapSubmit((ex, req) => this.dispatcher.submit(ex, req));
    if (submit !== null) this.submit = submit;
    this.connOptions = {
      limits: {
        requestLine: config.limitRequestLine,
        fields: config.limitRequestFields,
        fieldSize: config.limitRequestFieldSize,
        head: config.limitRequestHead,
        body: config.limitRequestBody,
        bodyBuffer: config.bodyBufferSize,
        capture: this.ops.capture,
      },
      maxRequests: config.keepAlive === 0 ? 1 : config.maxRequestsPerConnection,
      headerTimeoutMs: config.headerTimeout * 1000,
      minBodyRate: config.minBodyRate,
      frameFlags: this.ops.frameFlags,
      streamIdleMs: config.streamIdleTimeout * 1000,
      responseTimeoutMs: config.responseTimeout * 1000,
      sendTimeoutMs: config.sendTimeout * 1000,
    };
    this.stopped = new Promise((resolve) => (this.markStopped = resolve));
    this.control = new ControlBlock(createControlBuffer(CONTROL_SLOTS));
    this.dispatcher = new Dispatcher(this.control, {
      limitConcurrency: config.limitConcurrency,
      threadConcurrency: config.threadConcurrency,
      // Never below --thread-concurrency: a setting raised for async work before this one existed keeps its effect.
      workerConnections: Math.max(config.workerConnections, config.threadConcurrency),
      sticky: parseSticky(config.sticky),
    });
    this.ioHelper = new IoHelper(
      { jobs: config.jobs, jobsThreads: config.jobsThreads, jobsTimeout: config.jobsTimeout, logLevel: config.logLevel },
      this.log,
    );
    const memory = memoryLimits(config.maxWorkerMemory, config.maxServerMemory);
    this.pool = new Pool(
      {
        ioHelper: this.ioHelper,
        log: this.log,
        threads: config.threads,
        appUrl: appUrlOf(config.app),
        appExport: config.appExport,
        interface: config.interface,
        bind: config.bind,
        maxHeaderSize: this.maxHeadBytes(),
        keepAliveMs: config.keepAlive * 1000,
        threadConcurrency: config.threadConcurrency,
        timeoutMs: config.timeout * 1000,
        logLevel: config.logLevel,
        errorLog: {
          target: config.errorLog,
          reopen: this.logReopen,
          captureOutput: config.captureOutput,
          text: textFormat(config.logFormat, config.errorLog),
        },
        serverHeader: config.serverHeader,
        requestIdHeader: config.requestIdHeader.toLowerCase(),
        bootTimeoutMs: config.bootTimeout * 1000,
        v8OldGenerationMb: memory.v8OldMb,
        maxRequests: config.maxRequests,
        maxRequestsJitter: config.maxRequestsJitter,
      },
      this.control,
      {
        // Pool events only enqueue: the arbiter's loop handles them.
        ready: (handle) => this.arbiter.enqueue({ type: 'ready', handle }),
        bootFailed: (handle, error) => this.arbiter.enqueue({ type: 'boot-failed', handle, error }),
        exited: (handle, reason, error) => {
          if (this.closing === null) this.ops.metrics.workerRestart(reason);
          this.arbiter.enqueue({ type: 'exited', handle, reason, error });
        },
      },
    );
    this.arbiter = new Arbiter(
      {
        threads: config.threads,
        timeoutMs: config.timeout * 1000,
        gracefulMs: config.gracefulTimeout * 1000,
        maxWorkerMemoryMb: memory.workerMb,
        workerMemorySource: memory.workerSource === 'setting' ? 'setting'
          : memory.workerSource === 'node-default' ? 'the default: node\'s heap limit for this machine' : 'the default: node\'s --max-old-space-size, less room for one large allocation',
        maxServerMemoryMb: memory.serverMb,
        maxThreads: elasticCeiling(config.maxThreads, config.threads),
        workerConnections: Math.max(config.workerConnections, config.threadConcurrency),
      },
      this.pool,
      this.dispatcher,
      this.control,
      this.log,
      { shutdown: (graceful) => void this.close(graceful) },
    );
  }

  /** Start the workers (the app must load in every one), then listen. */
  async start(): Promise<this> {
    try {
      await this.arbiter.startWorkers();
    } catch (err) {
      this.arbiter.stop();
      this.markStopped();
      throw err;
    }
    // Once, not per worker: the app calls listen() itself and that address is not where it is served.
    const detail = this.appDetail;
    if (detail.endsWith(LISTEN_IGNORED)) this.log.warn({ app: detail }, `the app ${detail.slice(detail.lastIndexOf('; it calls ') + 5)}`);
    try {
      for (const [i, spec] of this.config.bind.entries()) await this.listen(parseBind(spec), this.inherited?.[i] ?? null);
    } catch (err) {
      await this.close();
      throw err;
    }
    try {
      await this.ops.start();
    } catch (err) {
      await this.close();
      throw err;
    }
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
    this.arbiter.start();
    if (this.config.reload) this.devReload = startDevReload(this.config, appUrlOf(this.config.app), () => this.reload(), this.log);
    return this;
  }

  /** Readiness (--ready-path): a worker can take work and the server is not shutting down. */
  isReady(): boolean {
    if (this.closing !== null) return false;
    for (const h of this.pool.live()) {
      if (h.life.ready && !h.channel.retiring && this.control.state(h.slot) !== WorkerState.DRAINING) return true;
    }
    return false;
  }

  private metricsSnapshot(): MetricsSnapshot {
    const st = this.stats();
    return {
      connections: st.connections,
      inflight: st.outstanding,
      queued: st.waiting,
      workers: st.workers.map((w) => ({ slot: w.slot, state: w.state, served: w.served, heapBytes: w.heapMb * 1048576 })),
      states: WORKER_STATE_NAMES,
    };
  }

  /** What the status dashboard shows (--status-bind): read once a second while it is watched. */
  private statusGauges(): StatusGauges {
    return {
      app: this.appDetail,
      threads: this.arbiter.target,
      maxThreads: elasticCeiling(this.config.maxThreads, this.config.threads),
      connections: this.connections.size,
      inflight: this.dispatcher.outstanding,
      queued: this.dispatcher.waitingCount,
      workers: readWorkers(this.pool.live(), this.control),
    };
  }

  // ── supervisor operations: each only enqueues an event for the arbiter's loop ───────────────
  /** Act on a signal as the CLI does (docs/signals.md); tests call this instead of kill(). */
  signal(signal: SupervisorSignal): void {
    this.arbiter.enqueue({ type: 'signal', signal });
  }

  /** Push any supervisor event (tests). */
  enqueue(ev: SupervisorEvent): void {
    this.arbiter.enqueue(ev);
  }

  /** Reopen the log files (SIGUSR1): the access log, the acceptor's error log, every worker's. */
  reopenLogs(): void {
    this.ops.reopenLogs();
    reopenLogger(this.log);
    bumpReopenCounter(this.logReopen);
  }

  /** Zero-downtime reload: resolves once the new generation serves; rejects if it failed to load. */
  reload(): Promise<void> {
    return new Promise((resolve, reject) => this.arbiter.enqueue({ type: 'reload', done: { resolve, reject } }));
  }

  /** Run `threads` workers: resolves once that many are ready. */
  scale(threads: number): Promise<void> {
    if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
      return Promise.reject(new RangeError(`scale: threads must be an integer from 1 to 1024 (got ${threads})`));
    }
    return new Promise((resolve, reject) => this.arbiter.enqueue({ type: 'scale', threads, done: { resolve, reject } }));
  }

  /**
   * Worker threads that have not exited although the server stopped them: blocked in a native
   * call (execSync, a synchronous native addon), which V8 cannot interrupt. They outlive close()
   * and hold the process until the call returns (even process.exit() waits for them). 0 before
   * shutdown and once they have exited.
   */
  get strandedThreads(): number {
    return this.pool.isStopping ? this.pool.live().length : 0;
  }

  /** What the workers detected the app to be (e.g. "default export: node request listener"). */
  get appDetail(): string {
    const h = this.pool.live()[0];
    return h ? h.life.detail : '';
  }

  /**
   * stats(), and each worker's report over the control plane (comlink; never the request path),
   * fetched from every worker at once; a worker that does not answer within `timeoutMs` is
   * reported with `responsive: false`.
   */
  async detailedStats(timeoutMs: number): Promise<ServerStats> {
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000) {
      throw new RangeError(`stats: timeoutMs must be an integer from 1 to 60000 (got ${timeoutMs})`);
    }
    const st = this.stats();
    const handles = this.pool.live().filter((h) => st.workers.some((w) => w.slot === h.slot));
    const details = await this.pool.details(handles, timeoutMs);
    for (const w of st.workers) {
      const d = details.get(w.slot);
      if (d !== undefined) w.detail = d;
    }
    return st;
  }

  stats(): ServerStats {
    const workers: WorkerStats[] = [];
    const spare = this.arbiter.spare;
    for (const h of this.pool.live()) {
      if (h === spare) continue;
      const slot = h.slot;
      workers.push({
        slot,
        state: WORKER_STATE_NAMES[this.control.state(slot)] ?? 'unknown',
        served: this.control.served(slot),
        inflight: this.control.inflight(slot),
        generation: h.cohort,
        heapMb: this.control.heapMb(slot),
        retiring: h.channel.retiring || h.fate.recycle !== null,
      });
    }
    let workerWakes = 0;
    for (const h of this.pool.live()) workerWakes += Atomics.load(h.channel.bell.i32, h.channel.bell.bellIndex);
    const acc = this.control.acceptorBell();
    return {
      connections: this.connections.size,
      outstanding: this.dispatcher.outstanding,
      waiting: this.dispatcher.waitingCount,
      wakeups: { workers: workerWakes, acceptor: Atomics.load(acc.i32, acc.bellIndex) },
      threads: this.arbiter.target,
      elastic: this.pool.live().filter((h) => h.elastic && !h.channel.retiring && h !== spare).length,
      spare: spare === null ? null : { slot: spare.slot, ready: spare.life.ready },
      workers,
      connectionBufferMax: this.connectionBufferMax(),
    };
  }

  private connectionBufferMax(): number {
    let max = 0;
    for (const c of this.connections) max = Math.max(max, c.bufferedBytes);
    return max;
  }

  // ── ConnectionHost ───────────────────────────────────────────────────────────────────────────
  submit(ex: Exchange, req: FramedRequest): void {
    this.dispatcher.submit(ex, req);
  }

  corked(conn: Connection): void {
    this.dispatcher.corked(conn);
  }

  expire(ex: Exchange): boolean {
    if (!this.dispatcher.expire(ex)) return false;
    this.log.warn(
      { method: ex.method, path: ex.target, requestId: ex.rec?.requestId || undefined, timeoutS: this.config.responseTimeout },
      `${ex.method} ${ex.target} got no response within --response-timeout ${this.config.responseTimeout} s: 504, its handler cancelled`,
    );
    return true;
  }

  streamControl(ex: Exchange, type: number, value: number): void {
    this.dispatcher.streamControl(ex, type, value);
  }

  toWorker(ex: Exchange, type: number, payload: Buffer): void {
    this.dispatcher.toWorker(ex, type, payload);
  }

  closed(conn: Connection): void {
    this.connections.delete(conn);
    if (conn.reclaimed) this.reclaiming--;
    this.admitWaiting();
    if (this.onIdleConnections !== null && this.connections.size === 0) this.onIdleConnections();
  }

  // ── listening and accepting ──────────────────────────────────────────────────────────────────
  private async listen(addr: BindAddress, inherited: InheritedListener | null): Promise<void> {
    const options = { pauseOnConnect: true, noDelay: true, allowHalfOpen: true };
    // TLS: the Connection gets the TLSSocket once its handshake is done ('secureConnection');
    // failed handshakes (plain HTTP sent to the port, a refused client certificate) only close.
    const server = this.tls === null ? net.createServer(options) : tls.createServer({ ...options, ...this.tls });
    server.on(this.tls === null ? 'connection' : 'secureConnection', (socket: net.Socket) => this.accept(socket));
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      this.log.debug({ code: err.code, peer: socket.remoteAddress }, `TLS handshake failed: ${err.message}`);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const done = (): void => {
        server.off('error', reject);
        resolve();
      };
      if (inherited !== null) {
        // Bound by the parent: listen() on it (a TCP handle directly; a unix one by its descriptor).
        if (addr.kind === 'unix') server.listen({ fd: inherited.fd, backlog: this.config.backlog }, done);
        else server.listen(inherited, this.config.backlog, done);
      } else if (addr.kind === 'unix') {
        removeStaleSocket(addr.path);
        server.listen({ path: addr.path, backlog: this.config.backlog }, done);
      } else {
        server.listen({ host: addr.host, port: addr.port, backlog: this.config.backlog }, done);
      }
    });
    server.on('error', (err) => this.log.error({ err }, 'listener error'));
    this.listeners.push(server);
    this.addresses.push(boundAddress(server, addr, this.tls === null ? 'http' : 'https'));
  }

  private accept(socket: net.Socket): void {
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    if (this.connections.size >= this.config.connections) {
      // At the cap: hold the socket unread (like a listen backlog) until a connection closes, and
      // close an idle one for it if there is one.
      if (this.waitingSockets.length >= this.config.backlog) socket.destroy();
      else {
        this.waitingSockets.push(socket);
        this.reclaimIdle();
      }
      return;
    }
    this.open(socket);
  }

  private open(socket: net.Socket): void {
    // The coarse clock moves at each sweep, and the first sweep comes a second after start(),
    // which waits for every worker to boot: a connection stamped with the clock of the
    // constructor could look past --header-timeout at that first sweep (a 408 within
    // milliseconds, seen on a loaded CI machine). Each new connection starts from now.
    this.clock = performance.now();
    const id = this.nextConnId;
    this.nextConnId = (this.nextConnId + 1) >>> 0 || 1;
    this.connections.add(this.ops.connection(id, socket, this.connOptions, this));
  }

  /**
   * At the --connections cap with sockets held: close the longest-idle connections (no request in
   * progress, none owed, nothing left to write: keep-alive ones, and new ones that have sent
   * nothing yet), one for each held socket not already promised a place; each one's close admits
   * a held socket (closed() → admitWaiting). Idle connections are looked for at most every
   * RECLAIM_SCAN_MS, oldest first, so a flood of new connections costs one pass over them per scan.
   */
  private reclaimIdle(): void {
    let want = this.waitingSockets.length - this.reclaiming;
    if (want <= 0 || this.closing !== null) return;
    const now = performance.now();
    if (this.idleOrder.length === 0 && now - this.idleScanAt >= RECLAIM_SCAN_MS) {
      this.idleScanAt = now;
      for (const c of this.connections) if (c.idle && !c.reclaimed) this.idleOrder.push(c);
      this.idleOrder.sort((a, b) => b.lastActive - a.lastActive); // the longest idle last: pop() takes it
    }
    let closed = 0;
    while (want > 0 && this.idleOrder.length > 0) {
      const c = this.idleOrder.pop()!;
      if (c.destroyed || c.reclaimed || !c.idle) continue;
      c.reclaimed = true;
      this.reclaiming++;
      want--;
      closed++;
      c.destroy();
    }
    if (closed === 0) return;
    this.reclaimedTotal += closed;
    if (this.reclaimLog.take(now) === null) return;
    const n = this.reclaimedTotal;
    this.reclaimedTotal = 0;
    this.log.warn(
      { connections: this.config.connections, closed: n },
      `--connections ${this.config.connections} reached: closed ${n} idle connection(s) to admit new ones (at most one such line a minute)`,
    );
  }

  private admitWaiting(): void {
    while (this.waitingSockets.length > 0 && this.connections.size < this.config.connections && this.closing === null) {
      const socket = this.waitingSockets.shift()!;
      if (!socket.destroyed) this.open(socket);
    }
  }

  /**
   * Once a second: close keep-alive connections idle past --keep-alive; enforce request timeouts;
   * say so when the process is out of file descriptors.
   */
  private sweep(): void {
    const now = (this.clock = performance.now());
    this.descriptors.check(now, this.connections.size);
    const limit = this.config.keepAlive * 1000;
    // A connection that has sent no request yet waits --header-timeout from accept, not --keep-alive.
    const first = this.config.headerTimeout * 1000;
    for (const conn of this.connections) {
      if (conn.idle) {
        if (now - conn.lastActive >= (conn.fresh ? first : limit)) conn.destroy();
      } else {
        conn.checkTimeouts(now);
      }
    }
    if (this.waitingSockets.length > 0) this.reclaimIdle();
  }

  private maxHeadBytes(): number {
    const c = this.config;
    return Math.min(c.limitRequestLine + 2 + c.limitRequestFields * (c.limitRequestFieldSize + 2) + 2, c.limitRequestHead);
  }

  // ── shutdown ─────────────────────────────────────────────────────────────────────────────────
  /**
   * Graceful: stop accepting, finish the requests owed (within --graceful-timeout; every request
   * sent from now on is answered with Connection: close), close keep-alive connections once idle
   * for IDLE_CLOSE_MS (drain()), stop the workers. `graceful: false` (SIGQUIT) closes every connection and stops at once, also
   * cutting short a graceful close in progress.
   */
  close(graceful = true): Promise<void> {
    if (!graceful) {
      this.graceful = false;
      this.cutGrace?.();
      this.pool.stopNow(); // app teardowns under way are cut short
    }
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // The app's teardown hooks run within what is left of --graceful-timeout (and TEARDOWN_MS).
    const graceEnd = performance.now() + this.config.gracefulTimeout * 1000;
    this.devReload?.close();
    this.dispatcher.closing = true;
    for (const l of this.listeners) l.close();
    for (const s of this.waitingSockets) s.destroy();
    this.waitingSockets = [];
    if (this.connections.size > 0 && this.graceful) await this.drain(this.config.gracefulTimeout * 1000);
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.arbiter.stop();
    // Connections left after a drain that was not cut short still owe responses: --graceful-timeout ran out.
    if (this.graceful && this.connections.size > 0) this.expireOwed();
    // A WebSocket (a tunnel) is told "going away" (close frame 1001) and ended, as when its worker
    // retires; one that has just been answered a 503 ends on its own (lingering close); every
    // other connection left is cut.
    for (const conn of [...this.connections]) if (!conn.goAway() && !(this.graceful && conn.gone)) conn.destroy();
    await this.pool.stop(this.graceful ? graceEnd - performance.now() : 0);
    await this.ioHelper.close();
    if (this.inherited === null) for (const a of this.addresses) if (a.kind === 'unix') removeStaleSocket(a.path);
    await this.ops.close();
    if (this.ownLog !== null) await closeLogger(this.ownLog);
    this.markStopped();
  }

  /**
   * The drain ran out of --graceful-timeout: every request still owed is answered 503 with
   * Connection: close (a response already under way is cut instead), and the error log names each:
   * the workers' requests one line per worker (the arbiter), the requests no worker had started
   * (waiting for one, or held behind an unsafe request) one line here.
   */
  private expireOwed(): void {
    this.arbiter.expireShutdown();
    const unstarted: Exchange[] = [];
    for (const conn of this.connections) {
      const ex = conn.expire(statusResponse(503, true));
      if (ex !== null) unstarted.push(ex);
    }
    if (unstarted.length === 0) return;
    const requests = unstarted.map((ex) => ({ method: ex.method, path: ex.target.length > 200 ? `${ex.target.slice(0, 200)}...` : ex.target, reqId: ex.id }));
    this.log.error(
      { reason: 'graceful-timeout', requests },
      `shutdown: --graceful-timeout ${this.config.gracefulTimeout} s ran out: ${unstarted.length} request(s) not started by a worker get 503: ` +
        requests.map((r) => `${r.method} ${r.path} (request ${r.reqId})`).join('; '),
    );
  }

  /**
   * The graceful drain, for at most `graceMs`: every request dispatched from now on is answered
   * with `Connection: close` and its connection closes after it; a connection idle for
   * IDLE_CLOSE_MS is closed (checked every DRAIN_TICK_MS, in the check phase, so right after a
   * poll phase has read what the sockets received). Ends when no connection is left, at
   * `graceMs`, or at a second signal (close(false)).
   */
  private drain(graceMs: number): Promise<void> {
    // Idle since the later of the drain's start and the connection's last activity: stamps made
    // before the drain are up to a sweep (1 s) old, and would make a connection that answered a
    // moment ago look long idle. From here the clock moves every tick.
    const since = (this.clock = performance.now());
    return new Promise<void>((resolve) => {
      const closeIdle = (): void => {
        const now = (this.clock = performance.now());
        for (const conn of [...this.connections]) {
          if (conn.idle && now - Math.max(conn.lastActive, since) >= IDLE_CLOSE_MS) conn.destroy();
        }
      };
      const tick = setInterval(() => setImmediate(closeIdle), DRAIN_TICK_MS);
      const finish = (): void => {
        clearInterval(tick);
        clearTimeout(timer);
        this.onIdleConnections = null;
        this.cutGrace = null;
        resolve();
      };
      const timer = setTimeout(finish, graceMs);
      this.onIdleConnections = finish;
      this.cutGrace = finish;
    });
  }
}

function removeStaleSocket(file: string): void {
  try {
    if (statSync(file).isSocket()) unlinkSync(file);
  } catch {
    // not there: nothing to remove
  }
}

function boundAddress(server: net.Server, addr: BindAddress, scheme: 'http' | 'https'): BoundAddress {
  if (addr.kind === 'unix') return { kind: 'unix', path: addr.path, url: `unix:${addr.path}` };
  const a = server.address() as net.AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return { kind: 'tcp', host: a.address, port: a.port, url: `${scheme}://${host}:${a.port}` };
}
