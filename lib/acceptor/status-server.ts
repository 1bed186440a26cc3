// design: the dashboard's listener (--status-bind), a node:http server on its own address, on the
// acceptor thread but off the request path (like the metrics listener). It serves three things:
//   GET /             the page: one HTML file (lib/status/dashboard.html) whose inline script and
//                     style are allowed by hash in its Content-Security-Policy, so the browser loads
//                     nothing from anywhere else
//   GET /events       server-sent events: a snapshot every tick (TICK_MS), one JSON line per event
//   GET /status.json  one snapshot
// The event stream never buffers without bound: one JSON string is built per tick and shared by
// every client, and a client whose previous snapshot is still unsent (its socket is not draining)
// skips this one; one that stays stuck for STALL_MS is disconnected. Clients are capped at
// MAX_CLIENTS. Nothing here blocks: a snapshot is a few loads per worker and one JSON.stringify.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { listenSide } from './side-listener.js';
import type { StatusBoard } from './status.js';

/** Event-stream clients served at once; more get a 503 (each costs a socket and a write per tick). */
export const MAX_CLIENTS = 32;
/** A client that has taken no snapshot for this long is disconnected (ms). */
export const STALL_MS = 30_000;
/** What EventSource waits before reconnecting (ms), sent as `retry:`. */
export const RETRY_MS = 2000;

const PAGE_FILE = new URL('../../../lib/status/dashboard.html', import.meta.url);
const ROUTES: ReadonlyMap<string, 'page' | 'events' | 'json'> = new Map([
  ['/', 'page'],
  ['/index.html', 'page'],
  ['/events', 'events'],
  ['/status.json', 'json'],
] as const);

export interface Page {
  body: Buffer;
  csp: string;
}

/** Read the page and allow exactly its inline script and style blocks (by SHA-256). */
export function loadPage(file: URL = PAGE_FILE): Page {
  const html = readFileSync(file, 'utf8');
  const hashes = (tag: string): string[] =>
    [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map(
      (m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`,
    );
  const csp = [
    "default-src 'none'",
    `script-src ${hashes('script').join(' ')}`,
    `style-src ${hashes('style').join(' ')}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { body: Buffer.from(html), csp };
}

/** The part of a ServerResponse the event stream uses (a unit test passes its own). */
export interface StreamTarget {
  readonly writableLength: number;
  write(chunk: string): boolean;
  destroy(): void;
}

interface Client {
  res: StreamTarget;
  /** ms (performance.now) of the last snapshot it took */
  lastSent: number;
}

/** The clients of /events and the slow-client rule. */
export class EventStream {
  private readonly clients = new Set<Client>();
  dropped = 0;

  get size(): number {
    return this.clients.size;
  }

  /** Start a client: the reconnect delay, then `first` (a snapshot, so the page fills at once). */
  add(res: StreamTarget, first: string): () => void {
    const c: Client = { res, lastSent: performance.now() };
    this.clients.add(c);
    res.write(`retry: ${RETRY_MS}\n\n${first}`);
    return () => this.clients.delete(c);
  }

  /** Send `event` to every client that has taken its previous one; drop stuck clients. */
  broadcast(event: string, now = performance.now()): void {
    for (const c of this.clients) {
      if (c.res.writableLength > 0) {
        // The previous event is still in user space: the socket is not draining. Skip this one
        // (memory stays at one event per client); a client stuck for STALL_MS is let go.
        this.dropped++;
        if (now - c.lastSent > STALL_MS) {
          this.clients.delete(c);
          c.res.destroy();
        }
        continue;
      }
      c.res.write(event);
      c.lastSent = now;
    }
  }

  closeAll(): void {
    for (const c of this.clients) c.res.destroy();
    this.clients.clear();
  }
}

/** One snapshot as an event: `data:` and the JSON on one line (JSON has no raw newlines). */
export function eventOf(json: string): string {
  return `data: ${json}\n\n`;
}

export class StatusServer {
  private readonly board: StatusBoard;
  private readonly page: Page;
  private readonly stream = new EventStream();
  private server: http.Server | null = null;

  constructor(board: StatusBoard, page: Page = loadPage()) {
    this.board = board;
    this.page = page;
    board.onTick = () => this.tick();
    board.stream = this.stream;
  }

  private tick(): void {
    if (this.stream.size === 0) return;
    this.stream.broadcast(eventOf(JSON.stringify(this.board.snapshot())));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const route = ROUTES.get(path);
    if (route === undefined) return void send(res, 404, 'text/plain; charset=utf-8', 'Not Found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return void send(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n');
    }
    const head = req.method === 'HEAD';
    if (route === 'page') {
      res.setHeader('content-security-policy', this.page.csp);
      res.setHeader('referrer-policy', 'no-referrer');
      return void send(res, 200, 'text/html; charset=utf-8', this.page.body, head);
    }
    if (route === 'json') {
      return void send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(this.board.snapshot())}\n`, head);
    }
    this.events(res, head);
  }

  private events(res: http.ServerResponse, head: boolean): void {
    if (this.stream.size >= MAX_CLIENTS) {
      res.setHeader('retry-after', String(Math.ceil(RETRY_MS / 1000)));
      return void send(res, 503, 'text/plain; charset=utf-8', `at most ${MAX_CLIENTS} dashboards at once\n`);
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // nginx: do not buffer the stream
      'x-accel-buffering': 'no',
    });
    if (head) return void res.end();
    res.socket?.setNoDelay(true);
    const remove = this.stream.add(res, eventOf(JSON.stringify(this.board.snapshot())));
    res.on('close', remove);
  }

  /** Serve on `address` (a --bind form); resolves with the page's URL. */
  async listen(address: string): Promise<string> {
    const { server, url } = await listenSide(address, '/', (req, res) => this.handle(req, res));
    this.server = server;
    return url;
  }

  close(): void {
    this.board.onTick = null;
    this.board.stream = null;
    this.board.close();
    this.stream.closeAll();
    this.server?.close();
    this.server?.closeAllConnections();
  }
}

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer, head = false): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(head ? undefined : body);
}
