// Does an attached inspector cost the workers anything? (lib/supervisor/inspect.ts attaches
// NodeWorker only while it takes a stuck worker's stack, but a capture can overlap other workers'
// requests.) One server (1 worker, the echo fixture) in this process; autocannon in a child
// process sends a fixed number of requests; the figure is this process's CPU time (acceptor,
// worker and libuv threads) per request. Modes: "off" (no inspector session), "attached"
// (NodeWorker.enable: a session in every worker, no domain enabled: what a capture leaves on the
// healthy workers), "debugger" (Debugger.enable in every worker as well, for comparison).
// Interleaved rounds, medians. Run after a build: `node bench/micro-inspector-attach.mjs`.
// Compares, does not assert: benchmarks compare.
import { spawn } from 'node:child_process';
import { Session } from 'node:inspector';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '../dist/lib/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REQUESTS = 20000;
const ROUNDS = 5;
const MODES = ['off', 'attached', 'debugger'];

const h = await serve({ app: path.join(root, 'test/fixtures/echo.mjs'), bind: ['127.0.0.1:0'], threads: 1, maxThreads: 1, logLevel: 'silent', env: {} });
const url = `http://127.0.0.1:${h.addresses[0].port}/hello`;

/** µs of this process's CPU per request for REQUESTS requests from 16 connections. */
function cpuPerRequest() {
  return new Promise((resolve, reject) => {
    const cpu = process.cpuUsage();
    const child = spawn(process.execPath, [path.join(root, 'node_modules/autocannon/autocannon.js'), '-j', '-c', '16', '-a', String(REQUESTS), url], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}`));
      const used = process.cpuUsage(cpu);
      resolve((used.user + used.system) / JSON.parse(out).requests.total);
    });
  });
}

async function enter(mode) {
  if (mode === 'off') return async () => {};
  const s = new Session();
  s.connect();
  const post = (method, params = {}) => new Promise((resolve) => s.post(method, params, (_err, r) => resolve(r)));
  const sessions = [];
  s.on('NodeWorker.attachedToWorker', (m) => sessions.push(m.params.sessionId));
  await post('NodeWorker.enable', { waitForDebuggerOnStart: false });
  await new Promise((r) => setTimeout(r, 100));
  if (mode === 'debugger') {
    for (const sessionId of sessions) await post('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id: 1, method: 'Debugger.enable' }) });
    await new Promise((r) => setTimeout(r, 200));
  }
  return async () => {
    await post('NodeWorker.disable');
    s.disconnect();
  };
}

await cpuPerRequest(); // warm-up
const results = Object.fromEntries(MODES.map((m) => [m, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const mode of MODES) {
    const leave = await enter(mode);
    results[mode].push(await cpuPerRequest());
    await leave();
  }
}
await h.close();
const median = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`node ${process.version}, ${REQUESTS} requests x ${ROUNDS} rounds, CPU µs per request (median; runs)`);
for (const mode of MODES) console.log(`${mode.padEnd(9)} ${median(results[mode]).toFixed(1).padStart(6)}   ${results[mode].map((x) => x.toFixed(1)).join(' ')}`);
