// The servers under test: how to start each one, wait until it accepts connections,
// and stop it (SIGTERM, then SIGKILL of the whole process tree after a grace period).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { processTree } from './proc.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GREENSERVE_CLI = 'dist/lib/cli.js';
const require = createRequire(import.meta.url);

// greenserve gets a connection cap above any load here (its default is 1,000, exactly the
// high-connection load) and no Server header, so every server sends the same response bytes.
export const GREENSERVE_CONNECTIONS = 11_000;

/** Debian's python3 (python3-gunicorn and python3-gevent install for it). */
export const GUNICORN_PYTHON = '/usr/bin/python3';

/**
 * name -> { label, args(app, port, opts), missing() -> reason or null, command? } (cwd: repo
 * root); `command` is the program to run with args (default: this node, args after nodeArgs).
 */
export const SERVERS = {
  greenserve: {
    label: 'greenserve',
    args: (app, port, opts) => [GREENSERVE_CLI, '--threads', String(opts.threads),
      '--connections', String(GREENSERVE_CONNECTIONS), '--no-server-header', '--bind', `127.0.0.1:${port}`,
      ...(opts.greenserveArgs ?? []), app],
    missing: () => (existsSync(`${ROOT}${GREENSERVE_CLI}`)
      ? null : `${GREENSERVE_CLI} not found (build it with \`npx tsc -p tsconfig.json\`)`),
  },
  // Variants (not in the default server list; name them with --servers): the same greenserve
  // with its access log on, written to a file, and with elastic threads up to
  // 64 (the io-sync figure). Compare them with `greenserve` in the same run.
  'greenserve-access-log': {
    label: 'greenserve +access log',
    args: (app, port, opts) => [...SERVERS.greenserve.args(app, port, opts).slice(0, -1),
      '--access-log', `${ROOT}bench/results/logs/access-${port}.log`, app],
    missing: () => SERVERS.greenserve.missing(),
  },
  'greenserve-elastic': {
    label: 'greenserve max-threads 64',
    args: (app, port, opts) => [...SERVERS.greenserve.args(app, port, opts).slice(0, -1), '--max-threads', String(opts.maxThreads ?? 64), app],
    missing: () => SERVERS.greenserve.missing(),
  },
  // bench/threads.mjs: a fixed pool of exactly --threads N (--max-threads N turns elasticity off).
  'greenserve-fixed': {
    label: 'greenserve fixed pool',
    args: (app, port, opts) => [...SERVERS.greenserve.args(app, port, opts).slice(0, -1), '--max-threads', String(opts.threads), app],
    missing: () => SERVERS.greenserve.missing(),
  },
  // bench/threads.mjs's anchor for the synchronous wait: Debian's gunicorn (python3-gunicorn)
  // with gevent workers (python3-gevent), run by Debian's python3 (not whatever python3 is first
  // on PATH) from bench/apps. Its own `command`: startServer runs it instead of node.
  'gunicorn-gevent': {
    label: 'gunicorn gevent -w 2',
    command: GUNICORN_PYTHON,
    args: (app, port) => ['-m', 'gunicorn', '-k', 'gevent', '-w', '2', '--bind', `127.0.0.1:${port}`,
      '--chdir', 'bench/apps', '--graceful-timeout', '3', app],
    missing: () => missingGunicorn(),
  },
  'node-http': {
    label: 'node:http',
    args: (app, port) => ['bench/peers/node-http.mjs', app, String(port)],
    missing: () => null,
  },
  'node-cluster': {
    label: 'node:cluster',
    args: (app, port, opts) => ['bench/peers/node-cluster.mjs', app, String(port), String(opts.clusterWorkers)],
    missing: () => null,
  },
  fastify: {
    label: 'fastify',
    args: (app, port) => ['bench/peers/fastify.mjs', app, String(port)],
    missing: () => missingPackage('fastify'),
  },
  'fastify-piscina': {
    label: 'fastify+piscina',
    args: (app, port) => ['bench/peers/fastify-piscina.mjs', app, String(port)],
    missing: () => missingPackage('fastify') ?? missingPackage('piscina'),
  },
};

/** gunicorn's and gevent's versions under GUNICORN_PYTHON, or null when either is missing. */
export function gunicornVersions() {
  const r = spawnSync(GUNICORN_PYTHON, ['-c', 'import gunicorn, gevent; print(gunicorn.__version__, gevent.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  const [gunicorn, gevent] = r.stdout.trim().split(' ');
  return { gunicorn, gevent };
}

function missingGunicorn() {
  return gunicornVersions() ? null
    : `${GUNICORN_PYTHON} cannot import gunicorn and gevent (Debian: apt-get install python3-gunicorn python3-gevent)`;
}

function missingPackage(name) {
  try {
    require.resolve(name);
    return null;
  } catch {
    return `the ${name} package is not installed (it is a devDependency: npm install)`;
  }
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child, ms) {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => { clearTimeout(timer); resolve(true); });
  });
}

function logTail(path, bytes = 2000) {
  try {
    return readFileSync(path, 'utf8').slice(-bytes).trim();
  } catch {
    return '';
  }
}

const running = new Set();

/**
 * Starts a server as a child process (stdout and stderr go to logFile; nodeArgs go before the
 * script, like --cpu-prof) and resolves once
 * its port accepts TCP connections. Rejects, with the log's tail, if it exits or is not
 * ready within readyTimeoutMs.
 */
export async function startServer(name, { app, port, opts, env, logFile, nodeArgs = [], readyTimeoutMs = 20_000 }) {
  const def = SERVERS[name];
  const fd = openSync(logFile, 'a');
  const [command, argv] = def.command ? [def.command, def.args(app, port, opts)] : [process.execPath, [...nodeArgs, ...def.args(app, port, opts)]];
  const child = spawn(command, argv, {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const server = { name, port, pid: child.pid, child, logFile };
  running.add(server);
  const deadline = Date.now() + readyTimeoutMs;
  while (!(await canConnect(port))) {
    if (exited(child) || Date.now() > deadline) {
      const why = exited(child) ? `exited (${child.exitCode ?? child.signalCode})` : `not accepting after ${readyTimeoutMs} ms`;
      await stopServer(server);
      throw new Error(`${def.label} ${why}; log ${logFile}:\n${logTail(logFile)}`);
    }
    await sleep(50);
  }
  return server;
}

/** SIGTERM, then SIGKILL of every process in the tree after graceMs. Returns how it ended. */
export async function stopServer(server, graceMs = 5_000) {
  running.delete(server);
  const { child } = server;
  if (exited(child)) return 'already exited';
  const tree = processTree(child.pid);
  child.kill('SIGTERM');
  if (await waitExit(child, graceMs)) return 'SIGTERM';
  for (const pid of tree) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  await waitExit(child, 2_000);
  return `SIGKILL after ${graceMs} ms`;
}

/** Kills whatever is still running (for the harness's own SIGINT/SIGTERM). */
export function killAll() {
  for (const server of running) {
    for (const pid of processTree(server.pid)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
  running.clear();
}

/**
 * One request through a fresh connection (a sanity check before measuring):
 * { status, contentType, body, responseBytes } where responseBytes counts head and body.
 */
export function probe(port, { method = 'GET', path, body = 0 }, timeoutMs = 5_000) {
  return new Promise((resolve, reject) => {
    const req = net.connect({ host: '127.0.0.1', port }, () => {
      // write(), not end(): like a load tool, do not half-close before the answer comes.
      const head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n`;
      req.write(body > 0
        ? `${head}Content-Type: application/octet-stream\r\nContent-Length: ${body}\r\n\r\n${'x'.repeat(body)}`
        : `${head}\r\n`);
    });
    const chunks = [];
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response to ${method} ${path} in ${timeoutMs} ms`)));
    req.on('data', (c) => chunks.push(c));
    req.once('error', reject);
    req.once('close', () => {
      const raw = Buffer.concat(chunks).toString('latin1');
      const split = raw.indexOf('\r\n\r\n');
      const head = raw.slice(0, split);
      resolve({
        status: Number(/^HTTP\/1\.\d (\d{3})/.exec(head)?.[1] ?? 0),
        contentType: /^content-type:\s*(.*)$/im.exec(head)?.[1]?.trim() ?? null,
        body: raw.slice(split + 4),
        // Connection: close replaces the keep-alive headers a load tool's requests get
        // (`Connection: keep-alive` + `Keep-Alive: timeout=75`, 25 bytes more, the same on every server).
        responseBytes: raw.length,
        head,
      });
    });
  });
}
