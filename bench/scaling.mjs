#!/usr/bin/env node
// Multi-core scaling: `hello` and `cpu` against greenserve --threads N and node:cluster with N
// processes, for N in --counts (default 1,2,4,8,14: on a 16-core machine that leaves two cores to
// wrk). Rounds interleaved, medians reported, like bench/run.mjs (whose app modules, server
// commands and wrk runner it reuses). Writes bench/results/scaling-<stamp>.json and, unless
// --no-docs, docs/benchmarks/scaling.md with docs/benchmarks/scaling.svg.
// Meant for a machine with many cores; see bench/README.md ("Multi-core scaling").
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeMachine, machineCpuS, networkLimits, treeCpuS, watchTree } from './lib/proc.mjs';
import { fmt, median, textTable } from './lib/report.mjs';
import { SCENARIOS, appFor, checkResponse, cpuCalibration, serverEnv } from './lib/scenarios.mjs';
import { SERVERS, freePort, killAll, probe, startServer, stopServer } from './lib/servers.mjs';
import { COLORS, barPanels } from './lib/svg.mjs';
import { ensureWrk, runWrk } from './lib/wrk.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SERVER_NAMES = ['greenserve', 'node-cluster'];
const USAGE = `usage: node bench/scaling.mjs [options]

  --counts LIST        threads / processes to measure (default 1,2,4,8,14)
  --scenarios LIST     from hello, cpu (default both)
  --duration S         seconds per sample (default 5)
  --warmup S           seconds of wrk load before each sample (default 2)
  --rounds N           rounds, servers and counts interleaved (default 3)
  --connections N      wrk connections (default 256)
  --wrk-threads N      wrk threads (default 2)
  --no-docs            do not write docs/benchmarks/scaling.md and scaling.svg
  --from FILE          only rewrite the docs from an earlier scaling JSON
  -h, --help           this text`;

function parse(argv) {
  const { values: v } = parseArgs({
    args: argv, strict: true,
    options: {
      counts: { type: 'string', default: '1,2,4,8,14' }, scenarios: { type: 'string', default: 'hello,cpu' },
      duration: { type: 'string', default: '5' }, warmup: { type: 'string', default: '2' }, rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '256' }, 'wrk-threads': { type: 'string', default: '2' },
      'no-docs': { type: 'boolean', default: false }, from: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const int = (name, x, min = 1) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected a whole number >= ${min}, got '${x}'`);
    return n;
  };
  const scenarios = v.scenarios.split(',').map((s) => s.trim());
  for (const s of scenarios) if (!['hello', 'cpu'].includes(s)) throw new Error(`--scenarios: '${s}' is not hello or cpu`);
  return {
    help: v.help, from: v.from ?? null, docs: !v['no-docs'], scenarios,
    counts: v.counts.split(',').map((c) => int('counts', c.trim())),
    duration: int('duration', v.duration), warmup: int('warmup', v.warmup, 0), rounds: int('rounds', v.rounds),
    connections: int('connections', v.connections), wrkThreads: int('wrk-threads', v['wrk-threads']),
  };
}

async function measure({ scenario, server: name, count, round }, opts, results, stamp) {
  const port = await freePort();
  const def = SCENARIOS[scenario];
  const url = `http://127.0.0.1:${port}${def.path}`;
  const serverOpts = { threads: count, clusterWorkers: count };
  const cell = { scenario, server: name, count, round };
  let server = null;
  try {
    server = await startServer(name, {
      app: appFor(scenario, name), port, opts: serverOpts, env: serverEnv,
      logFile: `${ROOT}bench/results/logs/${stamp}-scaling-${name}-${scenario}-${count}.log`,
    });
    if (round === 1) {
      const problems = checkResponse(scenario, await probe(port, def));
      if (problems.length) results.problems.push(`${name} ${count} / ${scenario}: ${problems.join('; ')}`);
    }
    const load = { url, connections: opts.connections, threads: opts.wrkThreads };
    if (opts.warmup > 0) await runWrk({ ...load, duration: opts.warmup });
    const watch = watchTree(server.pid);
    const cpu0 = treeCpuS(server.pid);
    const m0 = machineCpuS();
    const t0 = performance.now();
    const s = await runWrk({ ...load, duration: opts.duration });
    const mem = watch.stop();
    const wallS = (performance.now() - t0) / 1000;
    const serverCpuS = treeCpuS(server.pid) - cpu0;
    const m = machineCpuS();
    const sample = {
      ...cell, ...s, raw: undefined, rssKb: mem.peakRssKb, serverCores: serverCpuS / wallS,
      loadgenCores: s.loadgenCpuS / wallS,
      otherCores: Math.max(0, m.busyS - m0.busyS - serverCpuS - s.loadgenCpuS) / wallS,
    };
    results.samples.push(sample);
    console.log(`  ${scenario.padEnd(6)} r${round} ${SERVERS[name].label.padEnd(13)} N=${String(count).padEnd(3)} ${s.rps.toFixed(0).padStart(7)} req/s  p99 ${s.p99Ms.toFixed(1)} ms  err ${s.errors}  server ${sample.serverCores.toFixed(2)} cores  wrk ${sample.loadgenCores.toFixed(2)}  other ${sample.otherCores.toFixed(2)}`);
  } catch (err) {
    results.samples.push({ ...cell, error: err.message });
    console.log(`  ${scenario} r${round} ${name} N=${count} FAILED: ${err.message.split('\n')[0]}`);
  } finally {
    if (server) await stopServer(server);
  }
}

function summarize(results) {
  const rows = [];
  for (const scenario of results.options.scenarios) {
    for (const count of results.options.counts) {
      for (const server of SERVER_NAMES) {
        const ok = results.samples.filter((s) => !s.error && s.scenario === scenario && s.count === count && s.server === server);
        const m = (k) => median(ok.map((s) => s[k]));
        rows.push({ scenario, count, server, samples: ok.length, rps: m('rps'), p99Ms: m('p99Ms'), rssMb: ok.length ? m('rssKb') / 1024 : null, serverCores: m('serverCores'), otherCores: m('otherCores'), errors: ok.reduce((n, s) => n + s.errors, 0) });
      }
    }
  }
  for (const r of rows) {
    const one = rows.find((x) => x.scenario === r.scenario && x.server === r.server && x.count === results.options.counts[0]);
    const peer = rows.find((x) => x.scenario === r.scenario && x.count === r.count && x.server === 'node-cluster');
    r.speedup = one?.rps && r.rps !== null ? r.rps / one.rps : null;
    r.vsCluster = peer?.rps && r.rps !== null ? r.rps / peer.rps : null;
  }
  return rows;
}

const HEADER = ['scenario', 'N', 'server', 'req/s', `× N=first`, '× node:cluster', 'p99 ms', 'errors', 'RSS MB', 'server CPU (cores)', 'other CPU (cores)', 'samples'];
const cellsOf = (r, labels) => [r.scenario, String(r.count), labels[r.server], fmt.rps(r.rps), fmt.ratio(r.speedup), fmt.ratio(r.vsCluster),
  fmt.ms(r.p99Ms), String(r.errors), fmt.mb(r.rssMb), fmt.cores(r.serverCores), fmt.cores(r.otherCores), String(r.samples)];

function markdown(results, rows, jsonPath) {
  const m = results.machine;
  const o = results.options;
  const labels = results.serverLabels;
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [
    '# Multi-core scaling',
    '',
    `<!-- Generated by bench/scaling.mjs from ${jsonPath}; do not edit by hand. Regenerate: node bench/scaling.mjs --from ${jsonPath} -->`,
    '',
    `Command: \`${results.command}\` — run ${results.startedAt}, took ${Math.round(results.elapsedS)} s, on ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.kernel}, Node ${m.node}, commit ${m.gitCommit ?? 'none'}${m.gitDirty ? ' (with uncommitted changes)' : ''}.`,
    '',
    `greenserve \`--threads N\` against node:cluster with N processes, the same \`bench/apps/\` modules as docs/benchmarks.md; wrk \`-t${o.wrkThreads} -c${o.connections} -d${o.duration}s\` after ${o.warmup} s of warm-up, on the same machine (so it takes cores from the servers); ${o.rounds} rounds, servers and counts interleaved, medians. The \`cpu\` loop: ${results.cpuCalibration.iterations.toLocaleString('en-US')} iterations, ${results.cpuCalibration.ms.toFixed(3)} ms there. "× N=first": req/s over the same server's at N = ${o.counts[0]}.`,
    '',
    '![req/s by threads or processes](scaling.svg)',
    '',
    line(HEADER), line(HEADER.map((_, i) => (i < 3 ? '---' : '---:'))),
    ...rows.map((r) => line(cellsOf(r, labels))),
    '',
    ...(results.problems.length ? ['## Problems in this run', '', ...results.problems.map((p) => `- ${p}`), ''] : []),
  ].join('\n');
}

function chart(results, rows) {
  const panels = results.options.scenarios.map((scenario) => ({
    title: scenario,
    bars: rows.filter((r) => r.scenario === scenario).map((r) => ({ label: `${results.serverLabels[r.server]} ×${r.count}`, value: r.rps, color: COLORS[r.server] })),
  }));
  return barPanels({ title: 'Requests per second by threads / processes (wrk)', subtitle: `${results.machine.cores} cores, ${results.machine.cpuModel}, Node ${results.machine.node}; ${results.startedAt.slice(0, 10)}`, panels, columns: 2, format: fmt.rps });
}

function writeOutputs(results, jsonPath, docs) {
  const rows = summarize(results);
  console.log(textTable(HEADER, rows.map((r) => cellsOf(r, results.serverLabels))));
  if (!docs) return;
  mkdirSync(`${ROOT}docs/benchmarks`, { recursive: true });
  writeFileSync(`${ROOT}docs/benchmarks/scaling.md`, `${markdown(results, rows, jsonPath)}\n`);
  writeFileSync(`${ROOT}docs/benchmarks/scaling.svg`, chart(results, rows));
  console.log('wrote docs/benchmarks/scaling.md, docs/benchmarks/scaling.svg');
}

async function main() {
  const opts = parse(process.argv.slice(2));
  if (opts.help) return console.log(USAGE);
  if (opts.from) {
    const results = JSON.parse(readFileSync(opts.from, 'utf8'));
    return writeOutputs(results, opts.from, true);
  }
  const wrk = ensureWrk();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(`${ROOT}bench/results/logs`, { recursive: true });
  const jsonPath = `bench/results/scaling-${stamp}.json`;
  const results = {
    command: ['node', 'bench/scaling.mjs', ...process.argv.slice(2)].join(' '),
    startedAt: new Date().toISOString(), options: opts,
    machine: { ...describeMachine(), limits: networkLimits() }, tools: { wrk },
    cpuCalibration, serverLabels: Object.fromEntries(Object.entries(SERVERS).map(([k, v]) => [k, v.label])),
    problems: [], samples: [],
  };
  const cores = os.availableParallelism();
  if (Math.max(...opts.counts) > cores) console.log(`note: counts up to ${Math.max(...opts.counts)} on ${cores} cores: the larger ones oversubscribe the CPU`);
  console.log(`${results.machine.cpuModel}, ${cores} cores, Node ${results.machine.node}; cpu loop ${cpuCalibration.iterations} iterations = ${cpuCalibration.ms.toFixed(3)} ms`);
  const t0 = performance.now();
  for (const scenario of opts.scenarios) {
    for (let round = 1; round <= opts.rounds; round++) {
      for (const count of opts.counts) {
        for (const server of SERVER_NAMES) await measure({ scenario, server, count, round }, opts, results, stamp);
      }
    }
  }
  results.elapsedS = (performance.now() - t0) / 1000;
  writeFileSync(`${ROOT}${jsonPath}`, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`wrote ${relative(process.cwd(), `${ROOT}${jsonPath}`)}`);
  writeOutputs(results, jsonPath, opts.docs);
}

for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => { killAll(); process.exit(130); });
main().catch((err) => {
  killAll();
  console.error(`bench/scaling: ${err.stack ?? err.message}`);
  process.exit(1);
});
