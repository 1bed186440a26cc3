#!/usr/bin/env node
// Where a server spends its CPU in one scenario: starts it under `node --cpu-prof` (every thread,
// greenserve's acceptor and workers included, writes its own profile), drives it with wrk, stops
// it, and prints each thread's top functions by self time plus the share of idle, GC and
// "(program)" (native code outside JavaScript: syscalls, libuv, Atomics.wait). For the "reason
// measured" behind a gap in docs/benchmarks.md. Profiles land in bench/results/profiles/<stamp>/.
// Usage: node bench/profile.mjs SCENARIO [SERVER] [--seconds S] [--connections N] [--top N]
import { readdirSync, readFileSync, mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { SCENARIOS, appFor, prepareScenarios, serverEnv } from './lib/scenarios.mjs';
import { SERVERS, freePort, startServer, stopServer } from './lib/servers.mjs';
import { runWrk } from './lib/wrk.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values: v, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '100' },
    top: { type: 'string', default: '12' }, threads: { type: 'string', default: '2' },
  },
});
const [scenario, server = 'greenserve'] = positionals;
if (!SCENARIOS[scenario] || !SERVERS[server]) {
  console.error(`usage: node bench/profile.mjs SCENARIO [SERVER] [--seconds S] [--connections N] [--top N]\n  SCENARIO: ${Object.keys(SCENARIOS).join(', ')}\n  SERVER: ${Object.keys(SERVERS).join(', ')}`);
  process.exit(2);
}

/** Self time per function (ms) of one .cpuprofile, and the total sampled time. */
function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const n = byId.get(profile.samples[i]);
    const { functionName, url, lineNumber } = n.callFrame;
    const file = url ? url.replace(/^file:\/\//, '').replace(ROOT, '') : '';
    const key = `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0) / 1000);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  return { self, total };
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const dir = `${ROOT}bench/results/profiles/${stamp}`;
mkdirSync(dir, { recursive: true });
const prepared = await prepareScenarios([scenario]);
if (prepared.skipped.length) throw new Error(prepared.skipped[0].reason);
const port = await freePort();
const def = SCENARIOS[scenario];
const opts = { threads: Number(v.threads), clusterWorkers: 2 };
const s = await startServer(server, {
  app: appFor(scenario, server), port, opts, logFile: `${dir}/server.log`, env: serverEnv,
  nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
});
const w = await runWrk({ url: `http://127.0.0.1:${port}${def.path}`, connections: Number(v.connections), duration: Number(v.seconds), body: def.body });
await stopServer(s, 10_000);
prepared.cleanup();
console.log(`${server} / ${scenario}: ${w.rps.toFixed(0)} req/s, p99 ${w.p99Ms.toFixed(1)} ms under wrk -c${v.connections} -d${v.seconds}s; profiles in ${dir.replace(ROOT, '')}`);
for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()) {
  const { self, total } = selfTimes(JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')));
  const idle = self.get('(idle)') ?? 0;
  console.log(`\n${file}: ${(total / 1000).toFixed(2)} s sampled, busy ${((total - idle) / 1000).toFixed(2)} s`);
  const top = [...self.entries()].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, Number(v.top));
  for (const [name, ms] of top) console.log(`  ${(100 * ms / Math.max(1, total - idle)).toFixed(1).padStart(5)} %  ${ms.toFixed(0).padStart(6)} ms  ${name}`);
}
