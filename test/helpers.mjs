// Shared test helpers: start greenserve in-process (library) or as a CLI child, and talk raw
// HTTP over real sockets. Every server listens on 127.0.0.1 port 0; everything has a timeout.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const fixture = (name) => path.join(root, 'test', 'fixtures', name);
export const example = (name) => path.join(root, 'examples', name);
export const cliPath = path.join(root, 'dist', 'lib', 'cli.js');

/**
 * The TypeScript sources under `dir` (repository-relative, POSIX separators), declaration files
 * left out: what the structure tests read.
 * @param {string} dir
 * @returns {string[]}
 */
export function sourceFiles(dir) {
  /** @type {string[]} */
  const out = [];
  for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(rel));
    else if (rel.endsWith('.ts') && !rel.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** @type {typeof import('../dist/lib/index.js').serve} */
const serve = (await import(path.join(root, 'dist', 'lib', 'index.js'))).serve;
export { serve };

/** Start a server for the test and close it at teardown. */
export async function startServer(t, options) {
  const handle = await serve({ bind: ['127.0.0.1:0'], threads: 2, logLevel: 'silent', env: {}, ...options });
  t.teardown(() => handle.close());
  return handle;
}

/**
 * The TCP port of a server's first bind address.
 * @param {{ addresses: readonly import('../dist/lib/index.js').BoundAddress[] }} handle
 * @returns {number}
 */
export function portOf(handle) {
  const a = handle.addresses[0];
  if (a === undefined || !('port' in a)) throw new Error('the server has no TCP address first');
  return a.port;
}

/**
 * Request `path` with fetch from `where`: a server handle (its `url`), a base URL, or a port on
 * 127.0.0.1. `init` goes to fetch; the whole exchange is aborted after `timeoutMs`. Resolves
 * { status, headers (a Headers), body (text), json (the body parsed, or null), ms }.
 */
export async function fetchText(where, path = '/', init = {}, { timeoutMs = 15000 } = {}) {
  const base = typeof where === 'number' ? `http://127.0.0.1:${where}` : typeof where === 'string' || where instanceof URL ? where : where.url;
  const started = performance.now();
  const res = await fetch(new URL(path, base), { signal: AbortSignal.timeout(timeoutMs), ...init });
  const body = await res.text();
  let json = null;
  try {
    json = JSON.parse(body);
  } catch {
    // not JSON: json stays null
  }
  return { status: res.status, headers: res.headers, body, json, ms: performance.now() - started };
}

/**
 * One request with node:http (node:https for an https: URL), on a connection of its own unless
 * `agent` is given. `target`: a URL, or node:http request options ({ port, path }, host
 * 127.0.0.1 by default; { socketPath, path }). Other `options` (headers, ca...) go to the
 * request; it fails when the connection is idle for `timeoutMs`. Resolves { status, headers (an
 * object), body (text), ms, reused (whether the agent reused a connection) }.
 * @param {string | URL | http.RequestOptions} target
 * @param {https.RequestOptions & { timeoutMs?: number }} [options]
 * @returns {Promise<{ status: number, headers: http.IncomingHttpHeaders, body: string, ms: number, reused: boolean }>}
 */
export function httpGet(target, { method = 'GET', agent = false, timeoutMs = 15000, ...options } = {}) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const url = typeof target === 'string' || target instanceof URL ? new URL(target) : null;
    const onResponse = (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: /** @type {number} */ (res.statusCode), headers: res.headers, body, ms: performance.now() - started, reused: req.reusedSocket }));
      res.on('error', reject);
    };
    const at = /** @type {http.RequestOptions} */ (target);
    const req = url === null
      ? http.request({ host: '127.0.0.1', ...at, method, agent, ...options }, onResponse)
      : (url.protocol === 'https:' ? https : http).request(url, { method, agent, ...options }, onResponse);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url ?? at.path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Open a raw TCP connection. */
export function connect(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host }, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Send `data` on a fresh connection and collect everything until the server closes it or
 * `ms` passes; resolves { text, closed }.
 */
export async function rawExchange(port, data, { ms = 3000, split = null } = {}) {
  const s = await connect(port);
  return new Promise((resolve) => {
    const chunks = [];
    let closed = false;
    const timer = setTimeout(finish, ms);
    function finish() {
      clearTimeout(timer);
      s.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed });
    }
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => { closed = true; finish(); });
    s.on('close', () => { closed = true; finish(); });
    s.on('error', () => {});
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
    if (split === null) s.write(buf);
    else writeSplit(s, buf, split);
  });
}

async function writeSplit(s, buf, size) {
  for (let i = 0; i < buf.length; i += size) {
    if (s.destroyed) return;
    s.write(buf.subarray(i, i + size));
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Parse a byte string holding consecutive HTTP/1.1 responses (Content-Length or chunked). */
export function parseResponses(text) {
  const out = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = rest.slice(0, end).split('\r\n');
    const [, status] = head[0].split(' ');
    const headers = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    rest = rest.slice(end + 4);
    let body = '';
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = rest.slice(0, n);
      rest = rest.slice(n);
    } else if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const le = rest.indexOf('\r\n');
        const size = parseInt(rest.slice(0, le), 16);
        rest = rest.slice(le + 2);
        if (size === 0) { rest = rest.slice(rest.indexOf('\r\n') + 2); break; }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    } else {
      body = rest;
      rest = '';
    }
    out.push({ status: Number(status), headers, body });
  }
  return out;
}

/** Run the CLI; resolves { code, stdout, stderr } (kills it after `ms`). */
export function runCli(args, { ms = 15000, env = {} } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Start the CLI as a long-running server; resolves { child, url, port, stderr() } once listening. */
export function startCli(t, args, { env = {}, ms = 15000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`CLI did not start: ${stderr}`)); }, ms);
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    child.stderr.on('data', (c) => {
      stderr += c;
      const m = /listening on (http:\/\/[^\s"]+|unix:[^\s"]+)/.exec(stderr);
      if (m && timer) {
        clearTimeout(timer);
        const url = m[1];
        const port = url.startsWith('http') ? Number(new URL(url).port) : 0;
        resolve({ child, url, port, stderr: () => stderr });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`CLI exited ${code}: ${stderr}`)); });
  });
}

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` (sync or async) every 20 ms until it is true or `ms` pass; resolves whether it became true. */
export async function until(cond, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/**
 * The test side of a handshake with a fixture over a BroadcastChannel (the handler side is
 * test/fixtures/handshake.mjs): `events` records what handlers reported, `next(key)` lets the
 * handler waiting on `key` go on, `wait(pred, ms)` resolves the first event matching `pred` or
 * rejects after `ms`. Closed at the test's teardown.
 */
export function channel(t, name) {
  const ch = new BroadcastChannel(name);
  const events = [];
  ch.onmessage = (e) => events.push(e.data);
  t.teardown(() => ch.close());
  return {
    events,
    next: (key) => ch.postMessage({ key, op: 'next' }),
    async wait(pred, ms = 20000) {
      await until(() => events.some(pred), ms);
      const e = events.find(pred);
      if (e === undefined) throw new Error(`no event matching ${pred} on ${name} within ${ms} ms`);
      return e;
    },
  };
}

/**
 * A pino-shaped logger that records every line: { log, lines } (pass `log` to serve()).
 * @returns {{ log: import('pino').Logger, lines: any[] }}
 */
export function captureLog() {
  /** @type {any[]} */
  const lines = [];
  /** @type {any} */
  const log = { level: 'info', child: () => log };
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) {
    log[level] = (obj, msg) => lines.push({ level, ...(typeof obj === 'string' ? { msg: obj } : { ...obj, msg }) });
  }
  return { log, lines };
}
