// Figures for the blocking shims and elastic threads: req/s of a synchronous handler
// that waits 10 ms through `sleep` and one through `fetchSync` (a local upstream answering after
// 10 ms), with `--threads 2 --max-threads 2` (a fixed pool: 2 waits at a time) and with
// `--threads 2 --max-threads 64` (elastic), next to an async handler awaiting a 10 ms timer;
// and the RSS of each run. Each cell starts greenserve with `node dist/lib/cli.js`, warms it up
// (that is when the elastic threads start), then measures with autocannon's API (100
// connections) while sampling the server's RSS and thread count from /proc. Cells are
// interleaved over the rounds; the table gives medians. It compares, it does not assert.
//
//   node bench/shims.mjs [--rounds 2] [--duration 8] [--warmup 2] [--connections 100]
//                        [--handlers sleep,fetchSync,async] [--max-threads 2,64]
//
// Writes bench/results/shims-<stamp>.json and prints a markdown table. Linux only (/proc).
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { runAutocannon, autocannonVersion } from './lib/autocannon.mjs';
import { describeMachine, processTree } from './lib/proc.mjs';
import { median } from './lib/report.mjs';
import { freePort, GREENSERVE_CONNECTIONS, stopServer } from './lib/servers.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const IO_MS = 10;

const HANDLERS = {
  sleep: { app: 'bench/apps/io-sync.mjs', what: 'sync, `sleep(10)`' },
  fetchSync: { app: 'bench/apps/io-fetch-sync.mjs', what: 'sync, `fetchSync` of an upstream answering after 10 ms' },
  async: { app: 'bench/apps/io-async.mjs', what: 'async, `await` a 10 ms timer' },
};

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '100' },
    handlers: { type: 'string', default: 'sleep,fetchSync,async' },
    'max-threads': { type: 'string', default: '2,64' },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(0, 14).join('\n') + '\n');
  process.exit(0);
}
const rounds = Number(opt.rounds);
const duration = Number(opt.duration);
const warmup = Number(opt.warmup);
const connections = Number(opt.connections);
const handlers = opt.handlers.split(',');
const maxThreads = opt['max-threads'].split(',').map(Number);
for (const h of handlers) if (!HANDLERS[h]) throw new Error(`--handlers: unknown handler ${h} (known: ${Object.keys(HANDLERS).join(', ')})`);

/** Peak RSS (kB, over the process tree) and peak thread count of a server while a sample runs. */
function watch(pid, intervalMs = 200) {
  let rssKb = 0;
  let threads = 0;
  const poll = () => {
    let rss = 0;
    let n = 0;
    for (const p of processTree(pid)) {
      try {
        const status = readFileSync(`/proc/${p}/status`, 'utf8');
        rss += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
        n += Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      } catch { /* gone */ }
    }
    rssKb = Math.max(rssKb, rss);
    threads = Math.max(threads, n);
  };
  poll();
  const timer = setInterval(poll, intervalMs);
  return () => {
    clearInterval(timer);
    poll();
    return { rssKb, threads };
  };
}

/** The fetchSync handler's upstream, in its own process; resolves { url, stop }. */
function startUpstream() {
  const child = spawn(process.execPath, ['bench/lib/delay-upstream.mjs', String(IO_MS)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the upstream exited (${code})`)));
    child.stdout.once('data', (d) => resolve({
      url: `http://127.0.0.1:${Number(String(d).trim())}/`,
      stop: () => new Promise((r) => { child.removeAllListeners('exit'); child.once('exit', r); child.kill('SIGTERM'); }),
    }));
  });
}

const canConnect = (port) => new Promise((resolve) => {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.once('connect', () => { socket.destroy(); resolve(true); });
  socket.once('error', () => resolve(false));
});

/** `node dist/lib/cli.js ARGS APP` (as bench/lib/servers.mjs starts greenserve, plus ARGS); resolves once it accepts. */
async function startGreenserve(app, port, args, env, logFile) {
  const fd = openSync(logFile, 'a');
  const argv = ['dist/lib/cli.js', ...args, '--connections', String(GREENSERVE_CONNECTIONS), '--no-server-header', '--bind', `127.0.0.1:${port}`, app];
  const child = spawn(process.execPath, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const server = { name: 'greenserve', port, pid: child.pid, child, logFile, command: `node ${argv.join(' ')}` };
  const deadline = Date.now() + 20_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopServer(server);
      throw new Error(`greenserve did not start (${child.exitCode ?? 'timeout'}); see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return server;
}

async function cell(handler, max, upstreamUrl, logFile) {
  const port = await freePort();
  const app = HANDLERS[handler].app;
  const args = ['--threads', '2', '--max-threads', String(max)];
  const server = await startGreenserve(app, port, args, { BENCH_UPSTREAM_URL: upstreamUrl }, logFile);
  try {
    const url = `http://127.0.0.1:${port}/`;
    await runAutocannon({ url, connections, duration: warmup });
    const stopWatch = watch(server.pid);
    const sample = await runAutocannon({ url, connections, duration });
    const { rssKb, threads } = stopWatch();
    return { handler, maxThreads: max, server: server.command, ...sample, rssKb, threads };
  } finally {
    await stopServer(server);
  }
}

async function main() {
  const machine = describeMachine();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(`${ROOT}bench/results/logs`, { recursive: true });
  const logFile = `${ROOT}bench/results/logs/shims-${stamp}.log`;
  const upstream = await startUpstream();
  const samples = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const handler of handlers) {
        for (const max of maxThreads) {
          const s = await cell(handler, max, upstream.url, logFile);
          samples.push({ round, ...s });
          process.stderr.write(`round ${round} ${handler} --max-threads ${max}: ${Math.round(s.rps)} req/s, p99 ${s.p99Ms} ms, RSS ${Math.round(s.rssKb / 1024)} MiB, ${s.threads} threads\n`);
        }
      }
    }
  } finally {
    await upstream.stop();
  }
  const rows = [];
  for (const handler of handlers) {
    for (const max of maxThreads) {
      const ss = samples.filter((s) => s.handler === handler && s.maxThreads === max);
      const m = (k) => median(ss.map((s) => s[k]));
      rows.push({ handler, maxThreads: max, rps: m('rps'), p50Ms: m('p50Ms'), p99Ms: m('p99Ms'), rssMb: m('rssKb') / 1024, threads: m('threads'), errors: ss.reduce((a, s) => a + s.errors + s.non2xx, 0) });
    }
  }
  const file = `${ROOT}bench/results/shims-${stamp}.json`;
  writeFileSync(file, JSON.stringify({ machine, autocannon: autocannonVersion, options: { rounds, duration, warmup, connections, handlers, maxThreads }, rows, samples }, null, 2));
  const lines = [
    `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, load average at start ${machine.loadavgAtStart.join(' ')}; ` +
      `autocannon ${autocannonVersion}, ${connections} connections, ${warmup} s warm-up + ${duration} s, median of ${rounds} rounds`,
    '',
    '| handler | `--threads 2 --max-threads` | req/s | p50 ms | p99 ms | peak RSS MiB | peak threads | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${HANDLERS[r.handler].what} | ${r.maxThreads} | ${Math.round(r.rps)} | ${r.p50Ms} | ${r.p99Ms} | ${Math.round(r.rssMb)} | ${r.threads} | ${r.errors} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n\nraw samples: ${file}\n`);
}

await main();
