#!/usr/bin/env node
// greenserve's benchmark: greenserve and its peers (node:http, node:cluster) in one run,
// same app modules, servers interleaved round by round, medians and ratios reported.
// Not part of `npm test`. See bench/README.md; `node bench/run.mjs --help` for options.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAutocannon, autocannonVersion } from './lib/autocannon.mjs';
import { parseOptions, USAGE } from './lib/options.mjs';
import { describeMachine, machineCpuS, treeCpuS, watchTree } from './lib/proc.mjs';
import { busyWarning, consoleReport, headline, markdownReport, summarize } from './lib/report.mjs';
import { SCENARIOS, checkResponse, cpuCalibration, serverEnv } from './lib/scenarios.mjs';
import { SERVERS, freePort, killAll, probe, startServer, stopServer } from './lib/servers.mjs';
import { ensureWrk, runWrk } from './lib/wrk.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RESULTS_DIR = `${ROOT}bench/results`;
const DOCS = `${ROOT}docs/benchmarks.md`;
const LOADERS = { wrk: runWrk, autocannon: runAutocannon };
const rel = (p) => relative(ROOT, p);

/** One sample: load from one tool while watching the server's CPU and memory. */
async function sample(tool, server, url, opts) {
  const watch = watchTree(server.pid);
  const cpu0 = treeCpuS(server.pid);
  const machine0 = machineCpuS();
  const t0 = performance.now();
  let s;
  let mem;
  try {
    s = await LOADERS[tool]({ url, connections: opts.connections, duration: opts.duration });
  } finally {
    mem = watch.stop();
  }
  const wallS = (performance.now() - t0) / 1000;
  const serverCpuS = treeCpuS(server.pid) - cpu0;
  const machine = machineCpuS();
  // Everything else the machine did meanwhile (other processes, the harness) plus steal:
  // a sample with a lot of it was measured on a busy machine.
  const otherCpuS = Math.max(0, machine.busyS - machine0.busyS - serverCpuS - s.loadgenCpuS)
    + (machine.stealS - machine0.stealS);
  return {
    ...s, wallS, rssKb: mem.peakRssKb, procs: mem.procs, serverCpuS,
    serverCores: serverCpuS / wallS,
    serverUsPerReq: s.requests > 0 ? (serverCpuS * 1e6) / s.requests : null,
    loadgenCores: s.loadgenCpuS / wallS,
    otherCores: otherCpuS / wallS,
  };
}

function progress(cell, s) {
  const what = `${cell.scenario} r${cell.round} ${SERVERS[cell.server].label.padEnd(12)} ${(s.tool ?? '').padEnd(10)}`;
  if (s.error) return `  ${what} FAILED: ${s.error.split('\n')[0]}`;
  return `  ${what} ${s.rps.toFixed(0).padStart(7)} req/s  p50 ${s.p50Ms.toFixed(2)} ms  p99 ${s.p99Ms.toFixed(2)} ms`
    + `  err ${s.errors}  non2xx ${s.non2xx}  rss ${(s.rssKb / 1024).toFixed(0)} MB`
    + `  cores: server ${s.serverCores.toFixed(2)} load ${s.loadgenCores.toFixed(2)} other ${s.otherCores.toFixed(2)}`;
}

/** Start one server, check its answer, warm it up, sample it with every tool, stop it. */
async function measureCell(cell, opts, results, stamp) {
  const { scenario, server: name, round } = cell;
  const { app, path } = SCENARIOS[scenario];
  const port = await freePort();
  const url = `http://127.0.0.1:${port}${path}`;
  const logFile = `${RESULTS_DIR}/logs/${stamp}-${name}-${scenario}.log`;
  let server = null;
  const record = (s) => { results.samples.push({ ...cell, ...s }); console.log(progress(cell, s)); };
  try {
    server = await startServer(name, { app, port, opts, env: serverEnv, logFile });
    if (round === 1) {
      const problems = checkResponse(scenario, await probe(port, path));
      results.checks.push({ scenario, server: name, problems });
      if (problems.length) console.log(`  WARNING ${name} / ${scenario}: ${problems.join('; ')}`);
    }
    if (opts.warmup > 0) await runWrkOrAutocannon(opts, url);
    for (const tool of opts.tools) {
      try {
        record({ tool, ...(await sample(tool, server, url, opts)) });
      } catch (err) {
        record({ tool, error: err.message });
      }
    }
  } catch (err) {
    record({ tool: null, error: err.message });
  } finally {
    if (server) {
      const how = await stopServer(server);
      if (how !== 'SIGTERM') console.log(`  note: ${name} stopped: ${how}`);
    }
  }
}

function runWrkOrAutocannon(opts, url) {
  const tool = opts.tools.includes('wrk') ? 'wrk' : 'autocannon';
  return LOADERS[tool]({ url, connections: opts.connections, duration: opts.warmup });
}

function estimateS(opts, servers) {
  const perCell = 1 + opts.warmup + opts.tools.length * (opts.duration + 0.5);
  return Math.round(opts.scenarios.length * opts.rounds * servers.length * perCell);
}

function preflight(opts) {
  const tools = { wrk: opts.tools.includes('wrk') ? ensureWrk() : null, autocannon: autocannonVersion };
  const skipped = [];
  const servers = opts.servers.filter((name) => {
    const reason = SERVERS[name].missing();
    if (reason) {
      skipped.push({ server: name, reason });
      console.log(`skipping ${SERVERS[name].label}: ${reason}`);
    }
    return !reason;
  });
  return { tools, skipped, servers };
}

function serverCommands(opts, servers) {
  return Object.fromEntries(servers.map((name) => [name,
    `node ${SERVERS[name].args('bench/apps/SCENARIO.mjs', 'PORT', opts).join(' ')}`]));
}

function writeOutputs(results, jsonPath, opts) {
  const rows = summarize(results);
  console.log(consoleReport(results, rows));
  if (opts.tools.includes('wrk') && results.options.servers.includes('greenserve')) {
    console.log(`\ngreenserve / node:http req/s under wrk: ${headline(rows, 'wrk') || 'n/a'}`);
  }
  const warning = busyWarning(results);
  if (warning) console.log(`WARNING: ${warning}`);
  if (opts.docs) {
    writeFileSync(DOCS, `${markdownReport(results, rows, rel(jsonPath))}\n`);
    console.log(`wrote ${rel(DOCS)}`);
  }
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.help) return console.log(USAGE);
  if (opts.from) {
    const results = JSON.parse(readFileSync(opts.from, 'utf8'));
    return writeOutputs(results, opts.from, { ...results.options, docs: true });
  }
  const { tools, skipped, servers } = preflight(opts);
  if (servers.length === 0) throw new Error('no server left to measure');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const jsonPath = `${RESULTS_DIR}/${stamp}.json`;
  mkdirSync(`${RESULTS_DIR}/logs`, { recursive: true });
  const results = {
    command: ['node', 'bench/run.mjs', ...process.argv.slice(2)].join(' '),
    startedAt: new Date().toISOString(),
    options: { ...opts, servers },
    machine: describeMachine(),
    tools,
    cpuCalibration,
    serverLabels: Object.fromEntries(Object.entries(SERVERS).map(([k, v]) => [k, v.label])),
    serverCommands: serverCommands(opts, servers),
    skipped, checks: [], samples: [],
  };
  console.log(`${results.machine.cpuModel}, ${results.machine.cores} cores, Node ${results.machine.node}; `
    + `cpu loop: ${cpuCalibration.iterations} iterations = ${cpuCalibration.ms.toFixed(3)} ms (${cpuCalibration.source})`);
  console.log(`servers: ${servers.join(', ')}; tools: ${opts.tools.join(', ')}; about ${estimateS(opts, servers)} s`);
  const t0 = performance.now();
  for (const scenario of opts.scenarios) {
    for (let round = 1; round <= opts.rounds; round++) {
      for (const server of servers) await measureCell({ scenario, server, round }, opts, results, stamp);
    }
  }
  results.elapsedS = (performance.now() - t0) / 1000;
  results.finishedAt = new Date().toISOString();
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${rel(jsonPath)}`);
  writeOutputs(results, rel(jsonPath), opts);
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => { killAll(); process.exit(130); });
}
main().catch((err) => {
  killAll();
  console.error(`bench: ${err.message}`);
  process.exit(1);
});
