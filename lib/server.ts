// design: wires one server together on the main thread: listeners and connections (acceptor),
// the dispatcher and response pump, and the worker pool (supervisor). Everything here runs on the
// acceptor's event loop; nothing blocks and no user code runs here.
import { existsSync, statSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { pathToFileURL } from 'node:url';
import { Connection, type ConnectionHost, type ConnectionOptions, type Exchange } from './acceptor/connection.js';
import { Dispatcher } from './acceptor/dispatcher.js';
import { proxyMatcher, type ProxyMatcher } from './acceptor/forwarded.js';
import type { FramedRequest } from './acceptor/framer.js';
import { statusResponse } from './acceptor/responses.js';
import { loadTls } from './acceptor/tls.js';
import { parseBind, type BindAddress, type Config } from './config/resolve.js';
import { AppLoadError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { ControlBlock, createControlBuffer } from './ring/control.js';
import { WORKER_STATE_NAMES } from './ring/layout.js';
import { Pool, type WorkerHandle } from './supervisor/pool.js';

export type BoundAddress = { kind: 'tcp'; host: string; port: number; url: string } | { kind: 'unix'; path: string; url: string };

export interface WorkerStats {
  slot: number;
  state: string;
  served: number;
  inflight: number;
}

export interface ServerStats {
  connections: number;
  /** Requests accepted and not yet answered. */
  outstanding: number;
  /** Requests waiting for a worker. */
  waiting: number;
  /** Doorbell rings so far: of sleeping workers by the acceptor, and of the sleeping acceptor by workers. */
  wakeups: { workers: number; acceptor: number };
  workers: WorkerStats[];
}

/** Seconds between keep-alive sweeps; idle connections close within keepAlive + this. */
const SWEEP_MS = 1000;

export function appUrlOf(app: string): string {
  if (/^(file|data|node):/.test(app)) return app;
  const file = path.resolve(app);
  if (!existsSync(file) || !statSync(file).isFile()) throw new AppLoadError(`app module not found: ${file}`);
  return pathToFileURL(file).href;
}

export class Server implements ConnectionHost {
  readonly config: Config;
  readonly log: Logger;
  readonly addresses: BoundAddress[] = [];
  clock = Date.now();
  private readonly control: ControlBlock;
  private readonly pool: Pool;
  private readonly dispatcher: Dispatcher;
  private readonly listeners: net.Server[] = [];
  private readonly connections = new Set<Connection>();
  /** Accepted sockets waiting for a slot under --connections (accept is paused for them). */
  private held: net.Socket[] = [];
  private readonly connOptions: ConnectionOptions;
  private nextConnId = 1;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  private onIdleConnections: (() => void) | null = null;
  /** The options of every listener when serving HTTPS (--certfile), else null. */
  private readonly tls: tls.TlsOptions | null;
  /** Whether a peer may send X-Forwarded-* (--forwarded-allow-ips); asked once per connection. */
  readonly trustsProxy: ProxyMatcher;

  constructor(config: Config, log: Logger = createLogger(config.logLevel)) {
    this.config = config;
    this.log = log;
    this.tls = loadTls(config); // reads the files: a bad one stops the server before any worker starts
    this.trustsProxy = proxyMatcher(config.forwardedAllowIps);
    this.connOptions = {
      limits: {
        requestLine: config.limitRequestLine,
        fields: config.limitRequestFields,
        fieldSize: config.limitRequestFieldSize,
        body: config.limitRequestBody,
      },
      maxRequests: config.keepAlive === 0 ? 1 : config.maxRequestsPerConnection,
      headerTimeoutMs: config.headerTimeout * 1000,
      minBodyRate: config.minBodyRate,
    };
    this.control = new ControlBlock(createControlBuffer(config.threads));
    this.dispatcher = new Dispatcher(this.control, {
      limitConcurrency: config.limitConcurrency,
      threadConcurrency: config.threadConcurrency,
    });
    this.pool = new Pool(
      {
        threads: config.threads,
        appUrl: appUrlOf(config.app),
        appExport: config.appExport,
        interface: config.interface,
        maxHeaderSize: this.maxHeadBytes(),
        keepAliveMs: config.keepAlive * 1000,
        threadConcurrency: config.threadConcurrency,
        logLevel: config.logLevel,
        serverHeader: config.serverHeader,
      },
      this.control,
      { ready: (h) => this.dispatcher.add(h), exited: (h, reason, err) => this.workerExited(h, reason, err) },
    );
  }

  /** Start the workers (the app must load in every one), then listen. */
  async start(): Promise<this> {
    await this.pool.start();
    try {
      for (const spec of this.config.bind) await this.listen(parseBind(spec));
    } catch (err) {
      await this.close();
      throw err;
    }
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
    return this;
  }

  /** What the workers detected the app to be (e.g. "default export: node request listener"). */
  get appDetail(): string {
    const h = this.pool.handles.find((x) => x !== null);
    return h ? h.detail : '';
  }

  stats(): ServerStats {
    const workers: WorkerStats[] = [];
    for (let slot = 0; slot < this.control.slots; slot++) {
      workers.push({
        slot,
        state: WORKER_STATE_NAMES[this.control.state(slot)] ?? 'unknown',
        served: this.control.served(slot),
        inflight: this.control.inflight(slot),
      });
    }
    let workerWakes = 0;
    for (const h of this.pool.handles) if (h !== null) workerWakes += Atomics.load(h.bell.i32, h.bell.bellIndex);
    const acc = this.control.acceptorBell();
    return {
      connections: this.connections.size,
      outstanding: this.dispatcher.outstanding,
      waiting: this.dispatcher.waitingCount,
      wakeups: { workers: workerWakes, acceptor: Atomics.load(acc.i32, acc.bellIndex) },
      workers,
    };
  }

  // ── ConnectionHost ───────────────────────────────────────────────────────────────────────────
  submit(ex: Exchange, req: FramedRequest): void {
    this.dispatcher.submit(ex, req);
  }

  corked(conn: Connection): void {
    this.dispatcher.corked(conn);
  }

  closed(conn: Connection): void {
    this.connections.delete(conn);
    this.admitHeld();
    if (this.onIdleConnections !== null && this.connections.size === 0) this.onIdleConnections();
  }

  // ── listening and accepting ──────────────────────────────────────────────────────────────────
  private async listen(addr: BindAddress): Promise<void> {
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
      if (addr.kind === 'unix') {
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
      // At the cap: hold the socket unread (like a listen backlog) until a connection closes.
      if (this.held.length >= this.config.backlog) socket.destroy();
      else this.held.push(socket);
      return;
    }
    this.open(socket);
  }

  private open(socket: net.Socket): void {
    const id = this.nextConnId;
    this.nextConnId = (this.nextConnId + 1) >>> 0 || 1;
    this.connections.add(new Connection(id, socket, this.connOptions, this));
  }

  private admitHeld(): void {
    while (this.held.length > 0 && this.connections.size < this.config.connections && this.closing === null) {
      const socket = this.held.shift()!;
      if (!socket.destroyed) this.open(socket);
    }
  }

  /** Once a second: close keep-alive connections idle past --keep-alive; enforce request timeouts. */
  private sweep(): void {
    const now = (this.clock = Date.now());
    const limit = this.config.keepAlive * 1000;
    for (const conn of this.connections) {
      if (conn.idle) {
        if (now - conn.lastActive >= limit) conn.destroy();
      } else {
        conn.checkTimeouts(now);
      }
    }
  }

  private maxHeadBytes(): number {
    const c = this.config;
    return c.limitRequestLine + 2 + c.limitRequestFields * (c.limitRequestFieldSize + 2) + 2;
  }

  // ── supervision ──────────────────────────────────────────────────────────────────────────────
  private workerExited(h: WorkerHandle, reason: string, err: Error | null): void {
    const owed = this.dispatcher.remove(h);
    if (reason !== 'stopped') {
      this.log.error({ err, slot: h.slot, reason, requests: owed.length }, `worker ${h.slot} ${reason}`);
    }
    for (const ex of owed) this.dispatcher.answer(ex, statusResponse(500, true));
    if (this.pool.isStopping) return;
    this.respawn(h.slot, 0);
  }

  private respawn(slot: number, attempt: number): void {
    this.pool.spawn(slot).catch((err: unknown) => {
      this.log.error({ err, slot }, `worker ${slot} failed to start again`);
      const delay = Math.min(30_000, 250 * 2 ** attempt);
      setTimeout(() => {
        if (!this.pool.isStopping) this.respawn(slot, attempt + 1);
      }, delay).unref();
    });
  }

  // ── shutdown ─────────────────────────────────────────────────────────────────────────────────
  /** Graceful: stop accepting, finish the requests owed, close idle keep-alive connections, stop workers. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    for (const l of this.listeners) l.close();
    for (const s of this.held) s.destroy();
    this.held = [];
    for (const conn of [...this.connections]) conn.closeWhenIdle();
    if (this.connections.size > 0) {
      const graceMs = this.config.gracefulTimeout * 1000;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.onIdleConnections = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      for (const conn of [...this.connections]) conn.destroy();
    }
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    await this.pool.stop();
    for (const a of this.addresses) if (a.kind === 'unix') removeStaleSocket(a.path);
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
