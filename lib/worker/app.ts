// design: load the app module once per worker and turn whatever shape it exports into one
// `(req, res)` listener for the worker's http.Server. Checked once at boot (validate at the
// boundary); the per-request path calls the listener and nothing else.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppLoadError, AppShapeError } from '../errors.js';
import type { AppInterface } from '../messages.js';
import { fetchListener, installResponse, type FetchHandler } from './fetch-adapter.js';
import { syntaxErrorPlace } from './load-errors.js';
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

async function importApp(url: string): Promise<Dict> {
  try {
    return esModuleInterop((await import(url)) as Dict);
  } catch (err) {
    const e = err as Error;
    if (e instanceof SyntaxError) {
      const place = syntaxErrorPlace(e, url);
      if (place !== null) {
        // The stack starts with the place and node's frame, as a CommonJS module's does.
        if (!e.stack?.startsWith(place.file)) e.stack = `${place.file}:${place.line}\n${place.frame}\n\n${e.stack ?? ''}`;
        throw new AppLoadError(`cannot load app ${url}: SyntaxError at ${place.file}:${place.line}:${place.column}: ${e.message}`, { cause: err });
      }
    }
    throw new AppLoadError(`cannot load app ${url}: ${e.message}`, { cause: err });
  }
}

/**
 * A CommonJS module compiled from ES module syntax (tsc, tsx, Babel) marks its exports
 * `__esModule` and holds its default export in `exports.default`: those exports are the module.
 */
function esModuleInterop(mod: Dict): Dict {
  const def = mod['default'];
  if (isObject(def) && def['__esModule'] === true) return def;
  return mod;
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

export async function loadApp(url: string, exportName: string | null, iface: AppInterface): Promise<LoadedApp> {
  installResponse(); // before the app's code runs: responses it makes note a body's known size
  await prepareTypeScript(url);
  const mod = await importApp(url);
  const { value, where } = pickExport(mod, exportName, url);
  const kind = iface === 'auto' ? detect(value) : iface;
  const upgrade = pickUpgrade(mod, url);
  if (kind === 'node') {
    const listener = asNode(value);
    if (listener) return { listener, interface: 'node', detail: `${where}: node request listener (${describe(value)})`, upgrade };
  } else if (kind === 'fetch') {
    const handler = asFetch(value);
    if (handler) return { listener: fetchListener(handler), interface: 'fetch', detail: `${where}: fetch handler (${describe(value)})`, upgrade };
  }
  const wanted = iface === 'auto' ? 'a (req, res) function, a fetch(request) function, or an object with fetch()' : `a ${iface} handler`;
  throw new AppShapeError(`app ${url}: ${where} is ${isWhat(value)}; expected ${wanted}`);
}
