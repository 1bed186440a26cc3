// design: apps that call listen() themselves (`app.listen(3000)`, `server.listen(port)`), served
// as node:cluster serves them: in a worker, a server the app tells to listen binds nothing; it
// becomes the app. Its 'request' listeners (Express, Koa, socket.io's wrapper of them) are what
// the worker's runner calls, its 'upgrade' listeners ('ws', socket.io) what an Upgrade request
// reaches, on greenserve's --bind. listen() is intercepted on net.Server.prototype, before the app
// loads, for the life of the thread: the server looks as it would after a listen() (listening,
// address() gives greenserve's first --bind address, 'listening' is emitted and the callback runs
// on the next tick); its own port is ignored. One server per app: a second that listens is an
// error (at boot it fails the load; later it gets an 'error' event), unless it only carries the
// same 'request' listeners (Fastify's second server for `localhost`). A server that is not an
// HTTP/1 server (net.Server, http2) cannot be served and is an error too. See
// docs/decisions/0016-the-worker-environment.md.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { AppShapeError } from '../errors.js';

/** A server the app told to listen, and what it asked for in words (`listen(3000)`). */
export interface Listened {
  server: http.Server;
  asked: string;
}

type Address = net.AddressInfo | string | null;

/** What listen()'s arguments ask for, in words: `listen(3000)`, `listen(127.0.0.1:3000)`, `listen(/tmp/app.sock)`. */
function asked(args: unknown[]): string {
  const [first, second] = args;
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    return typeof second === 'string' ? `listen(${second}:${first})` : `listen(${first})`;
  }
  if (typeof first === 'string') return `listen(${first})`;
  if (typeof first === 'object' && first !== null) {
    const o = first as { port?: unknown; host?: unknown; path?: unknown };
    if (o.path !== undefined) return `listen(${String(o.path)})`;
    if (o.port !== undefined) return o.host === undefined ? `listen(${String(o.port)})` : `listen(${String(o.host)}:${String(o.port)})`;
  }
  return 'listen()';
}

/** The 'request' listeners of `b` are all among those of `a`: the same app on a second server. */
function sameApp(a: net.Server, b: net.Server): boolean {
  const mine = a.listeners('request');
  const theirs = b.listeners('request');
  return theirs.length > 0 && theirs.every((l) => mine.includes(l));
}

/** Parses greenserve's first --bind into what address() returns (a unix socket's path is a string). */
export function addressOf(bind: string | undefined): Address {
  if (bind === undefined) return null;
  if (bind.startsWith('unix:')) return bind.slice('unix:'.length);
  const colon = bind.lastIndexOf(':');
  const host = bind.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { address: host, family: net.isIPv6(host) ? 'IPv6' : 'IPv4', port: Number(bind.slice(colon + 1)) };
}

export class ListenInterceptor {
  /** The first server the app told to listen (the app), or null. */
  app: Listened | null = null;
  /** What went wrong while the app loaded (a second server, a server that is not HTTP), or null. */
  problem: string | null = null;
  /** Servers whose listen() was taken as a second name of the app's server. */
  private readonly aliases = new Set<net.Server>();
  private booted = false;
  private waiters: Array<(l: Listened) => void> = [];
  private readonly address: Address;

  constructor(bind: readonly string[]) {
    this.address = addressOf(bind[0]);
  }

  /** Take over net.Server.prototype.listen in this thread: from now on this interceptor gets every listen(). */
  install(): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the module-level interceptor in charge
    current = this;
    const proto = net.Server.prototype as unknown as { listen: (...args: unknown[]) => net.Server };
    if (proto.listen === intercepted) return;
    proto.listen = intercepted;
  }

  /** Loading is over: a later problem is an 'error' on its server, not a load failure. */
  markBooted(): void {
    this.booted = true;
  }

  /** Resolves with the app's server once one listens, or with null after `ms` (Infinity: no limit). */
  waitForApp(ms: number): Promise<Listened | null> {
    if (this.app !== null) return Promise.resolve(this.app);
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => resolve(null), ms) : null;
      this.waiters.push((l) => {
        if (timer !== null) clearTimeout(timer);
        resolve(l);
      });
    });
  }

  /** A listen() call (through the intercepted net.Server.prototype.listen). */
  listened(server: net.Server, args: unknown[]): void {
    const callback = args.find((a): a is () => void => typeof a === 'function');
    if (this.app !== null && (server === this.app.server || this.aliases.has(server))) return; // node would throw ERR_SERVER_ALREADY_LISTEN; the app is served already
    const what = asked(args);
    let problem: string | null = null;
    if (!(server instanceof http.Server) && !(server instanceof https.Server)) {
      problem = `the app calls ${what} on a ${server.constructor.name} that is not an HTTP/1 server (node:http or node:https): greenserve cannot serve it`;
    } else if (this.app !== null && !sameApp(this.app.server, server)) {
      problem = `the app calls listen() on two servers (${this.app.asked}, then ${what}): greenserve serves one server's handlers per app, on --bind`;
    }
    if (problem !== null) {
      if (!this.booted) this.problem ??= problem;
      else process.nextTick(() => server.emit('error', new AppShapeError(problem)));
      return;
    }
    const alias = this.app !== null;
    if (alias) this.aliases.add(server);
    else this.app = { server: server as http.Server, asked: what };
    this.pretendListening(server, callback);
    if (!alias) for (const w of this.waiters.splice(0)) w(this.app!);
  }

  /** The server looks as it does after a listen(): listening, an address, 'listening' and the callback on the next tick. */
  private pretendListening(server: net.Server, callback: (() => void) | undefined): void {
    const address = this.address;
    let listening = true;
    Object.defineProperty(server, 'listening', { configurable: true, get: () => listening });
    server.address = () => (listening ? address : null);
    // Nothing to close: the worker's requests keep coming until greenserve retires it.
    const close = server.close.bind(server);
    server.close = function (cb?: (err?: Error) => void): net.Server {
      if (!listening) return close(cb);
      listening = false;
      process.nextTick(() => {
        server.emit('close');
        cb?.();
      });
      return server;
    };
    if (callback !== undefined) server.once('listening', callback);
    process.nextTick(() => server.emit('listening'));
  }
}

/** The interceptor that gets this thread's listen() calls (the latest installed). */
let current: ListenInterceptor | null = null;

function intercepted(this: net.Server, ...args: unknown[]): net.Server {
  current!.listened(this, args);
  return this;
}
