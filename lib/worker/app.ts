// design: load the app module once per worker and turn whatever shape it exports, or the server
// it listens with (./listen.ts), into one `(req, res)` listener for the worker's http.Server.
// Checked once at boot (validate at the boundary); the per-request path calls the listener and
// nothing else. Loading itself (CommonJS require()d, ES modules imported) is ./load-module.ts.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { isMainThread, workerData } from 'node:worker_threads';
import { AppShapeError } from '../errors.js';
import { LISTEN_IGNORED, type AppInterface, type WorkerInit } from '../messages.js';
import { fetchListener, installResponse, type FetchHandler } from './fetch-adapter.js';
import { ListenInterceptor } from './listen.js';
import { exportsNothing, importApp } from './load-module.js';
import { prepareTypeScript } from './loaders.js';

export type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;
/** node:http's 'upgrade' listener: `(req, socket, head)`, e.g. a `ws` server's handleUpgrade. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => unknown;

export interface LoadedApp {
  listener: Listener;
  interface: 'node' | 'fetch';
  /** What was found, for the startup banner (e.g. "default export: function(req, res)"). */
  detail: string;
  /** The module's `upgrade` export (WebSocket and other upgrades), or null: upgrades are then plain requests. */
  upgrade: UpgradeListener | null;
}

type Dict = Record<string, unknown>;

function isObject(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null;
}

/** The framework an app object or function comes from, by its shape, or null. */
function framework(v: unknown): string | null {
  const fn = (key: string): boolean => typeof (v as Dict)[key] === 'function';
  if (typeof v === 'function') {
    if (fn('handle') && fn('use') && fn('set') && fn('engine')) return 'Express';
    if (fn('handle') && fn('use')) return 'Connect';
    if (fn('register') && fn('inject') && fn('listen')) return 'Fastify';
    return null;
  }
  if (!isObject(v)) return null;
  if (fn('callback') && fn('use') && Array.isArray(v['middleware'])) return 'Koa';
  if (fn('fetch') && fn('route') && Array.isArray(v['routes'])) return 'Hono';
  return null;
}

/** What `v` is, in words: `Koa app`, `function with 2 parameter(s)`, `object with keys [...]`. */
function describe(v: unknown): string {
  const app = framework(v);
  if (app !== null) return `${app} app`;
  if (typeof v === 'function') return `function with ${v.length} parameter(s)`;
  if (v === null) return 'null';
  if (isObject(v)) {
    // A class instance: its class, and its public keys (not the `_private` ones an EventEmitter has).
    const proto = Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null;
    const cls = proto !== null && proto !== Object.prototype ? proto.constructor?.name : undefined;
    const keys = Object.keys(v).filter((k) => !k.startsWith('_')).slice(0, 8).join(', ');
    return cls ? `${cls} instance with keys [${keys}]` : `object with keys [${keys}]`;
  }
  return typeof v;
}

/** describe(v) after "is": `is a Koa app`, `is object with keys [...]`. */
function isWhat(v: unknown): string {
  return framework(v) === null ? describe(v) : `a ${describe(v)}`;
}

function pickExport(mod: Dict, name: string | null, url: string): { value: unknown; where: string } {
  if (name !== null) {
    if (name in mod && name !== 'default') return { value: mod[name], where: `export "${name}"` };
    const def = mod['default'];
    if (isObject(def) || typeof def === 'function') {
      const inner = (def as Dict)[name];
      if (inner !== undefined) return { value: inner, where: `export "${name}"` };
    }
    if (name === 'default' && 'default' in mod) return { value: mod['default'], where: 'default export' };
    throw new AppShapeError(`app ${url} has no export named "${name}"`);
  }
  if (mod['default'] !== undefined) return { value: mod['default'], where: 'default export' };
  if (typeof mod['fetch'] === 'function') return { value: mod, where: 'module exports' };
  throw new AppShapeError(`app ${url} has no default export (exports: ${Object.keys(mod).join(', ') || 'none'})`);
}

function asNode(value: unknown): Listener | null {
  if (typeof value === 'function') return value as Listener;
  // Koa and similar: an object whose callback() returns the listener.
  if (isObject(value) && typeof value['callback'] === 'function') {
    const cb = (value['callback'] as () => unknown).call(value);
    if (typeof cb === 'function') return cb as Listener;
  }
  return null;
}

function asFetch(value: unknown): FetchHandler | null {
  if (isObject(value) && typeof value['fetch'] === 'function') {
    const fetch = value['fetch'] as (r: Request) => unknown;
    return (request) => fetch.call(value, request);
  }
  if (typeof value === 'function') {
    if (typeof (value as unknown as Dict)['fetch'] === 'function') return asFetch({ fetch: (value as unknown as Dict)['fetch'] });
    return value as FetchHandler;
  }
  return null;
}

/** Decide the interface from the value's shape (uvicorn's --interface auto). */
function detect(value: unknown): 'node' | 'fetch' | null {
  if (isObject(value) && typeof value['fetch'] === 'function') return 'fetch';
  if (isObject(value) && typeof value['callback'] === 'function') return 'node';
  if (typeof value === 'function') {
    if (typeof (value as unknown as Dict)['fetch'] === 'function') return 'fetch';
    // (req, res) and Express's (req, res, next) take two or more; fetch(request) takes at most one.
    return value.length >= 2 ? 'node' : 'fetch';
  }
  return null;
}

/** The module's `upgrade(req, socket, head)` export (docs/server-behavior.md, WebSocket). */
function pickUpgrade(mod: Dict, url: string): UpgradeListener | null {
  const up = mod['upgrade'];
  if (up === undefined) return null;
  if (typeof up !== 'function') throw new AppShapeError(`app ${url}: export "upgrade" is ${isWhat(up)}; expected a function (req, socket, head)`);
  return up as UpgradeListener;
}

export interface LoadOptions {
  /** --bind: the address a server the app listens with reports. Default: the worker's (workerData). */
  bind?: readonly string[];
  /** How long (ms) an app that exports nothing may take to call listen(); Infinity: no limit. Default: --boot-timeout less 1 s. */
  listenWaitMs?: number;
}

/** How long an app that exports nothing may take to call listen(): within --boot-timeout, so that this error comes first. */
function listenWait(init: Partial<WorkerInit> | null): number {
  const boot = init?.bootTimeoutMs ?? 0;
  return boot > 0 ? Math.max(boot - 1000, boot / 2) : Infinity;
}

/** One turn of the event loop: listen() callbacks and what they attach have run. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function loadApp(url: string, exportName: string | null, iface: AppInterface, options: LoadOptions = {}): Promise<LoadedApp> {
  const init = (isMainThread ? null : workerData) as Partial<WorkerInit> | null;
  installResponse(); // before the app's code runs: responses it makes note a body's known size
  // Before too: a server the app tells to listen binds nothing and becomes the app (./listen.ts).
  const listens = new ListenInterceptor(options.bind ?? init?.bind ?? []);
  listens.install();
  await prepareTypeScript(url);
  const mod = await importApp(url);
  // A server that listens is the app unless an export was named or the Fetch interface forced.
  const serverApp = exportName === null && iface !== 'fetch';
  if (serverApp && listens.app === null && listens.problem === null && exportsNothing(mod)) {
    // A script that listens later (after connecting to a database, say).
    const ms = options.listenWaitMs ?? listenWait(init);
    if ((await listens.waitForApp(ms)) === null) {
      throw new AppShapeError(`app ${url} exports nothing and did not call listen() on a server within ${Math.round(ms / 1000)} s; expected a handler as its default export, or a server it listens with`);
    }
  }
  if (listens.app !== null) await turn();
  if (listens.problem !== null) throw new AppShapeError(`app ${url}: ${listens.problem}`);
  listens.markBooted();
  if (serverApp && listens.app !== null) return fromServer(listens.app.server, 'the server it listens with', `; it calls ${listens.app.asked}: ${LISTEN_IGNORED}`);
  const ignored = listens.app === null ? '' : `; it calls ${listens.app.asked}: ${LISTEN_IGNORED}`;
  const { value, where } = pickExport(mod, exportName, url);
  // An exported server (`module.exports = server`, for supertest) is served as if it listened.
  if (isServer(value) && iface !== 'fetch') return fromServer(value, where, ignored);
  const kind = iface === 'auto' ? detect(value) : iface;
  const upgrade = pickUpgrade(mod, url);
  if (kind === 'node') {
    const listener = asNode(value);
    if (listener) return { listener, interface: 'node', detail: `${where}: node request listener (${describe(value)})${ignored}`, upgrade };
  } else if (kind === 'fetch') {
    const handler = asFetch(value);
    if (handler) return { listener: fetchListener(handler), interface: 'fetch', detail: `${where}: fetch handler (${describe(value)})${ignored}`, upgrade };
  }
  const wanted = iface === 'auto' ? 'a (req, res) function, a fetch(request) function, or an object with fetch()' : `a ${iface} handler`;
  throw new AppShapeError(`app ${url}: ${where} is ${isWhat(value)}; expected ${wanted}`);
}

/**
 * The app is the server it listens with: each request goes to its 'request' listeners, an
 * Upgrade request to its 'upgrade' listeners when it has some once loaded (a 'ws' or socket.io
 * server attached to it), as node:http would call them.
 */
function fromServer(server: http.Server, where: string, note: string): LoadedApp {
  const listener: Listener = (req, res) => server.emit('request', req, res);
  const upgrades = server.listenerCount('upgrade');
  const upgrade: UpgradeListener | null = upgrades === 0 ? null : (req, socket, head) => server.emit('upgrade', req, socket, head);
  const requests = server.listeners('request').map((l) => describe(l));
  const what = `${requests.length === 1 ? requests[0] : `${requests.length} 'request' listeners`}${upgrades === 0 ? '' : `, ${upgrades} 'upgrade' listener(s)`}`;
  return { listener, interface: 'node', detail: `${where}: node request listener (${what})${note}`, upgrade };
}

function isServer(v: unknown): v is http.Server {
  return v instanceof http.Server || v instanceof https.Server;
}
