#!/usr/bin/env node
// greenserve's benchmark: greenserve and its peers (node:http, node:cluster, fastify,
// fastify + piscina) in one run, each scenario's app in every server's own idiom, servers
// interleaved round by round, medians and ratios reported, docs/benchmarks.md and its SVG charts
// regenerated. Not part of `npm test`. See bench/README.md; `node bench/run.mjs --help`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAutocannon, autocannonVersion } from './lib/autocannon.mjs';
import { idleTest, startCpuHogs, startSlowClients } from './lib/clients.mjs';
import { parseOptions, USAGE } from './lib/options.mjs';
import { describeMachine, ensureFdLimit, machineCpuS, networkLimits, treeCpuS, watchTree } from './lib/proc.mjs';
import { writeDocs } from './lib/docs.mjs';
import { busyWarning, consoleReport, headline, summarize } from './lib/report.mjs';
import { SCENARIOS, appFor, checkResponse, cpuCalibration, prepareScenarios, serverEnv } from './lib/scenarios.mjs';
import { SERVERS, freePort, killAll, probe, startServer, stopServer } from './lib/servers.mjs';
import { STREAM_APPS, download, upload } from './lib/streaming.mjs';
import { ensureWrk, runWrk } from './lib/wrk.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RESULTS_DIR = `${ROOT}bench/results`;
const LOADERS = { wrk: runWrk, autocannon: runAutocannon };
const IDLE_SERVERS = ['greenserve', 'node-http', 'node-cluster', 'fastify'];
const STREAM_SERVERS = IDLE_SERVERS;
const rel = (p) => relative(ROOT, p);

/** The loads a scenario is measured under: always 'base', plus its extras if enabled. */
function loadsFor(scenario, opts) {
  // A scenario may set its own connection count (download-big: each response is 10 MiB).
  const base = SCENARIOS[scenario].connections ?? opts.connections;
  const loads = [{ name: `c${base}`, connections: base, slow: 0 }];
  const extra = SCENARIOS[scenario].loads;
  if (extra.includes('high') && opts.connectionsHigh > 0) {
    loads.push({ name: `c${opts.connectionsHigh}`, connections: opts.connectionsHigh, slow: 0 });
  }
  if (extra.includes('slow') && opts.slowClients > 0) {
    loads.push({ name: `c${opts.connections}+slow${opts.slowClients}`, connections: opts.connections, slow: opts.slowClients });
  }
  if (extra.includes('hog') && opts.cpuHogs > 0) {
    loads.push({ name: `c${opts.connections}+hog${opts.cpuHogs}`, connections: opts.connections, slow: 0, hogs: opts.cpuHogs });
  }
  return loads;
}

/** One sample: load from one tool while watching the server's CPU and memory. */
async function sample(tool, server, url, load, body, trickle, hogs, opts) {
  const watch = watchTree(server.pid);
  const cpu0 = treeCpuS(server.pid);
  const machine0 = machineCpuS();
  const trickle0 = trickle?.cpuS() ?? 0;
  const hogs0 = hogs?.cpuS() ?? 0;
  const t0 = performance.now();
  let s;
  let mem;
  try {
    s = await LOADERS[tool]({ url, connections: load.connections, duration: opts.duration, body });
  } finally {
    mem = watch.stop();
  }
  const wallS = (performance.now() - t0) / 1000;
  const serverCpuS = treeCpuS(server.pid) - cpu0;
  const trickleCpuS = trickle ? trickle.cpuS() - trickle0 : 0;
  const hogCpuS = hogs ? hogs.cpuS() - hogs0 : 0;
  const machine = machineCpuS();
  // Everything else the machine did meanwhile (other processes, the harness) plus steal:
  // a sample with a lot of it was measured on a busy machine.
  const otherCpuS = Math.max(0, machine.busyS - machine0.busyS - serverCpuS - s.loadgenCpuS - trickleCpuS - hogCpuS)
    + (machine.stealS - machine0.stealS);
  return {
    ...s, wallS, rssKb: mem.peakRssKb, procs: mem.procs, serverCpuS,
    serverCores: serverCpuS / wallS,
    serverUsPerReq: s.requests > 0 ? (serverCpuS * 1e6) / s.requests : null,
    loadgenCores: (s.loadgenCpuS + trickleCpuS) / wallS,
    trickleCores: trickleCpuS / wallS,
    hogCores: hogCpuS / wallS,
    otherCores: otherCpuS / wallS,
  };
}

function progress(cell, s) {
  const what = `${cell.scenario.padEnd(8)} ${(cell.load ?? '').padEnd(14)} r${cell.round} ${SERVERS[cell.server].label.padEnd(15)} ${(s.tool ?? '').padEnd(10)}`;
  if (s.error) return `  ${what} FAILED: ${s.error.split('\n')[0]}`;
  const ms = (x) => (s.requests > 0 ? x.toFixed(2) : '-');
  return `  ${what} ${s.rps.toFixed(0).padStart(7)} req/s  p50 ${ms(s.p50Ms)} ms  p99 ${ms(s.p99Ms)} ms`
    + `  err ${s.errors}  non2xx ${s.non2xx}  rss ${(s.rssKb / 1024).toFixed(0)} MB`
    + `  cores: server ${s.serverCores.toFixed(2)} load ${s.loadgenCores.toFixed(2)} other ${s.otherCores.toFixed(2)}`;
}

function logFile(stamp, name, what) {
  return `${RESULTS_DIR}/logs/${stamp}-${name}-${what}.log`;
}

/** The samples of one load: starts the trickling clients or CPU hogs if the load has them. */
async function measureLoad(cell, server, url, load, results, opts) {
  const { body } = SCENARIOS[cell.scenario];
  const record = (s) => { results.samples.push({ ...cell, ...s }); console.log(progress(cell, s)); };
  let trickle = null;
  try {
    if (load.slow > 0) trickle = await startSlowClients(server.port, load.slow, SCENARIOS[cell.scenario].path);
  } catch (err) {
    for (const tool of opts.tools) record({ tool, error: `slow clients: ${err.message}` });
    return;
  }
  const hogs = load.hogs > 0 ? await startCpuHogs(load.hogs) : null;
  try {
    for (const tool of opts.tools) {
      try {
        // A sample taken while other processes used the machine is set aside (kept in the JSON
        // as discarded) and taken again once it is quiet, up to --retry-busy times.
        for (let attempt = 0; ; attempt++) {
          const t0 = performance.now();
          const s = { tool, connections: load.connections, slowClients: load.slow, cpuHogs: load.hogs ?? 0, ...(await sample(tool, server, url, load, body, trickle, hogs, opts)) };
          const busy = s.otherCores >= opts.quietCores && attempt < opts.retryBusy && results.busy.spentS < opts.busyBudget;
          // Retake only if the machine has gone quiet meanwhile: under a lasting load a retake
          // would be just as busy, so the sample stands (and its "other CPU" says so).
          const q = busy ? await waitForQuiet(opts, results.busy) : null;
          if (!q?.quiet) {
            record({ ...s, attempts: attempt + 1 });
            break;
          }
          results.busy.spentS += (performance.now() - t0) / 1000 - q.waitedS;
          results.discarded.push({ ...cell, ...s });
          console.log(`  ${progress(cell, s).trim()}  (busy machine, quiet now: retaking)`);
        }
      } catch (err) {
        record({ tool, error: err.message });
      }
    }
  } finally {
    hogs?.stop();
    if (trickle) {
      const stats = await trickle.stop().catch((err) => ({ error: err.message }));
      results.slowClients.push({ ...cell, connectedAtStart: trickle.connected, ...stats });
    }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the rest of the machine uses under --quiet-cores cores, measured over one second
 * with nothing of ours under load, for at most --quiet-wait s and only while the run's waiting
 * budget (--busy-budget s, shared by every wait and retake of the run) lasts.
 * Returns { waitedS, otherCores, quiet }.
 */
async function waitForQuiet(opts, budget) {
  const t0 = performance.now();
  for (;;) {
    const a = machineCpuS();
    await sleep(1_000);
    const b = machineCpuS();
    const otherCores = (b.busyS - a.busyS) + (b.stealS - a.stealS);
    const waitedS = (performance.now() - t0) / 1000;
    const quiet = otherCores < opts.quietCores;
    if (quiet || waitedS >= opts.quietWait || budget.spentS + waitedS >= opts.busyBudget) {
      budget.spentS += waitedS;
      return { waitedS, otherCores, quiet };
    }
    await sleep(1_000);
  }
}

/** Start one server, check its answer, warm it up, sample it under every load and tool, stop it. */
async function measureCell(cell, opts, results, stamp) {
  const { scenario, server: name, round } = cell;
  if (opts.quietWait > 0 && results.busy.spentS < opts.busyBudget) {
    const q = await waitForQuiet(opts, results.busy);
    results.quiet.push({ ...cell, ...q });
    if (q.waitedS > 1.5) console.log(`  (waited ${q.waitedS.toFixed(0)} s for a quieter machine: other CPU ${q.otherCores.toFixed(2)} cores)`);
  }
  const def = SCENARIOS[scenario];
  const port = await freePort();
  const url = `http://127.0.0.1:${port}${def.path}`;
  const loads = loadsFor(scenario, opts);
  let server = null;
  try {
    server = await startServer(name, { app: appFor(scenario, name), port, opts, env: serverEnv, logFile: logFile(stamp, name, scenario) });
    if (round === 1) {
      const got = await probe(port, def);
      const problems = checkResponse(scenario, got);
      results.checks.push({ scenario, server: name, problems, responseBytes: got.responseBytes, head: got.head });
      if (problems.length) console.log(`  WARNING ${name} / ${scenario}: ${problems.join('; ')}`);
    }
    if (opts.warmup > 0) {
      const tool = opts.tools.includes('wrk') ? 'wrk' : 'autocannon';
      await LOADERS[tool]({ url, connections: loads[0].connections, duration: opts.warmup, body: def.body });
    }
    for (const load of loads) await measureLoad({ ...cell, load: load.name }, server, url, load, results, opts);
  } catch (err) {
    for (const load of loads) {
      const c = { ...cell, load: load.name };
      results.samples.push({ ...c, tool: null, error: err.message });
      console.log(progress(c, { error: err.message }));
    }
  } finally {
    if (server) {
      const how = await stopServer(server);
      if (how !== 'SIGTERM') console.log(`  note: ${name} stopped: ${how}`);
    }
  }
}

/** The idle keep-alive test on one server (hello app). */
async function measureIdle(name, round, opts, results, stamp) {
  const port = await freePort();
  let server = null;
  try {
    server = await startServer(name, { app: appFor('hello', name), port, opts, env: serverEnv, logFile: logFile(stamp, name, 'idle') });
    const r = await idleTest(server, opts.idleCount, SCENARIOS.hello.path);
    results.idle.push({ server: name, round, ...r });
    console.log(`  idle     r${round} ${SERVERS[name].label.padEnd(15)} ${r.openAtMeasure}/${r.target} open (${r.failed} failed, ${r.closedByServer} closed by server)`
      + `  RSS ${(r.rssBeforeKb / 1024).toFixed(0)} -> ${(r.rssHeldKb / 1024).toFixed(0)} MB`
      + `  ${r.kbPerConn?.toFixed(1) ?? '-'} kB/conn  threads ${r.threadsBefore} -> ${r.threadsHeld}  one more request: ${r.probeMs.toFixed(1)} ms`);
  } catch (err) {
    results.idle.push({ server: name, round, error: err.message });
    console.log(`  idle     r${round} ${SERVERS[name].label.padEnd(15)} FAILED: ${err.message.split('\n')[0]}`);
  } finally {
    if (server) await stopServer(server);
  }
}

/**
 * The streaming transfers on one server (bench/apps/stream.mjs): a streamed download and an upload
 * of --stream-mib MiB, one connection each, timed; with the server's CPU time and peak RSS.
 */
async function measureStreaming(name, round, opts, results, stamp) {
  const port = await freePort();
  const app = name === 'fastify' ? STREAM_APPS.fastify : STREAM_APPS.node;
  // greenserve refuses bodies over --limit-request-body (1 MiB by default): allow the upload.
  const greenserveArgs = ['--limit-request-body', String(2 * opts.streamMib * 1048576)];
  let server = null;
  try {
    server = await startServer(name, { app, port, opts: { ...opts, greenserveArgs }, env: serverEnv, logFile: logFile(stamp, name, 'stream') });
    const r = { server: name, round, mib: opts.streamMib };
    // Warm-up, as every scenario gets one (--warmup): one untimed transfer each way, so that the
    // timed ones measure a running server, not the first code to run on a fresh one.
    await download(port, opts.streamMib);
    await upload(port, opts.streamMib);
    for (const [dir, transfer] of [['down', download], ['up', upload]]) {
      const watch = watchTree(server.pid);
      const cpu0 = treeCpuS(server.pid);
      try {
        r[`${dir}MiBs`] = await transfer(port, opts.streamMib);
      } finally {
        r[`${dir}RssKb`] = watch.stop().peakRssKb;
      }
      r[`${dir}CpuS`] = treeCpuS(server.pid) - cpu0;
    }
    results.streaming.push(r);
    console.log(`  stream   r${round} ${SERVERS[name].label.padEnd(15)} ${opts.streamMib} MiB  download ${r.downMiBs.toFixed(0)} MiB/s (cpu ${r.downCpuS.toFixed(2)} s, rss ${(r.downRssKb / 1024).toFixed(0)} MB)`
      + `  upload ${r.upMiBs.toFixed(0)} MiB/s (cpu ${r.upCpuS.toFixed(2)} s, rss ${(r.upRssKb / 1024).toFixed(0)} MB)`);
  } catch (err) {
    results.streaming.push({ server: name, round, mib: opts.streamMib, error: err.message });
    console.log(`  stream   r${round} ${SERVERS[name].label.padEnd(15)} FAILED: ${err.message.split('\n')[0]}`);
  } finally {
    if (server) await stopServer(server);
  }
}

// ---- open-file limit -------------------------------------------------------------------------

const FD_HEADROOM = 1_000;

/** Raises the open-file limit to what the idle test and the loads need (lib/proc.mjs, ensureFdLimit). */
function fdLimit(opts) {
  const need = Math.max(opts.idle, opts.connectionsHigh, opts.connections + opts.slowClients) + FD_HEADROOM;
  return ensureFdLimit(need, fileURLToPath(import.meta.url));
}

// ---- run -------------------------------------------------------------------------------------

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
    `node ${SERVERS[name].args(name.startsWith('fastify') ? 'bench/apps/fastify/SCENARIO.mjs' : 'bench/apps/SCENARIO.mjs', 'PORT', opts).join(' ')}`]));
}

function estimateS(opts, plan) {
  const perSample = opts.duration + 0.4;
  let s = 0;
  for (const { scenario, servers } of plan) {
    s += opts.rounds * servers.length * (1.5 + opts.warmup + loadsFor(scenario, opts).length * opts.tools.length * perSample);
  }
  const streamS = opts.streamMib > 0 ? opts.streamMib / 50 + 2 : 0; // a guess: 100 MiB each way at ~100 MiB/s or more
  return Math.round(s + opts.idleRounds * opts.idleServers.length * 9 + opts.streamRounds * opts.streamServers.length * streamS);
}

function writeOutputs(results, jsonPath, docs) {
  const rows = summarize(results);
  console.log(consoleReport(results, rows));
  if (results.options.tools.includes('wrk') && results.options.servers.includes('greenserve')) {
    console.log(`\ngreenserve / node:http req/s under wrk: ${headline(rows, 'wrk') || 'n/a'}`);
  }
  const warning = busyWarning(results);
  if (warning) console.log(`WARNING: ${warning}`);
  if (docs) for (const file of writeDocs(results, rows, rel(jsonPath))) console.log(`wrote ${file}`);
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.help) return console.log(USAGE);
  if (opts.from) {
    const results = JSON.parse(readFileSync(opts.from, 'utf8'));
    return writeOutputs(results, opts.from, true);
  }
  const fd = fdLimit(opts);
  opts.idleCount = fd.note ? Math.max(0, Math.min(opts.idle, fd.soft - FD_HEADROOM)) : opts.idle;
  const { tools, skipped, servers } = preflight(opts);
  if (servers.length === 0) throw new Error('no server left to measure');
  const prepared = await prepareScenarios(opts.scenarios);
  for (const s of prepared.skipped) console.log(`skipping scenario ${s.scenario}: ${s.reason}`);
  const plan = opts.scenarios.filter((sc) => !prepared.skipped.some((s) => s.scenario === sc))
    .map((scenario) => ({ scenario, servers: servers.filter((name) => appFor(scenario, name)) }));
  opts.idleServers = opts.idleCount > 0 ? servers.filter((s) => IDLE_SERVERS.includes(s)) : [];
  opts.idleRounds = Math.min(opts.rounds, 2);
  opts.streamServers = opts.streamMib > 0 ? servers.filter((s) => STREAM_SERVERS.includes(s)) : [];
  opts.streamRounds = opts.rounds;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const jsonPath = `${RESULTS_DIR}/${stamp}.json`;
  mkdirSync(`${RESULTS_DIR}/logs`, { recursive: true });
  const results = {
    command: ['node', 'bench/run.mjs', ...process.argv.slice(2)].join(' '),
    startedAt: new Date().toISOString(),
    options: { ...opts, servers, scenarios: plan.map((p) => p.scenario) },
    machine: { ...describeMachine(), limits: networkLimits() },
    fdLimit: fd,
    tools,
    cpuCalibration,
    sqlite: prepared.sqlite,
    serverLabels: Object.fromEntries(Object.entries(SERVERS).map(([k, v]) => [k, v.label])),
    serverCommands: serverCommands(opts, servers),
    scenarioServers: Object.fromEntries(plan.map((p) => [p.scenario, p.servers])),
    scenarioLoads: Object.fromEntries(plan.map((p) => [p.scenario, loadsFor(p.scenario, opts)])),
    skipped, skippedScenarios: prepared.skipped,
    checks: [], samples: [], discarded: [], busy: { spentS: 0 }, slowClients: [], idle: [], streaming: [], quiet: [],
  };
  if (fd.note) console.log(`note: ${fd.note}; the idle test opens ${opts.idleCount}`);
  console.log(`${results.machine.cpuModel}, ${results.machine.cores} cores, Node ${results.machine.node}; `
    + `cpu loop: ${cpuCalibration.iterations} iterations = ${cpuCalibration.ms.toFixed(3)} ms (${cpuCalibration.source})`);
  console.log(`scenarios: ${results.options.scenarios.join(', ')}; servers: ${servers.join(', ')}; tools: ${opts.tools.join(', ')}; about ${estimateS(opts, plan)} s`);
  const t0 = performance.now();
  try {
    for (const { scenario, servers: names } of plan) {
      for (let round = 1; round <= opts.rounds; round++) {
        for (const server of names) await measureCell({ scenario, server, round }, opts, results, stamp);
      }
    }
    for (let round = 1; round <= opts.idleRounds && opts.idleServers.length > 0; round++) {
      for (const name of opts.idleServers) await measureIdle(name, round, opts, results, stamp);
    }
    for (let round = 1; round <= opts.streamRounds && opts.streamServers.length > 0; round++) {
      // The order flips each round, so that a burst of load from elsewhere does not always hit the same server.
      const order = round % 2 === 1 ? opts.streamServers : [...opts.streamServers].reverse();
      for (const name of order) await measureStreaming(name, round, opts, results, stamp);
    }
  } finally {
    prepared.cleanup();
  }
  results.elapsedS = (performance.now() - t0) / 1000;
  results.finishedAt = new Date().toISOString();
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${rel(jsonPath)} (${Math.round(results.elapsedS)} s)`);
  writeOutputs(results, jsonPath, opts.docs);
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => { killAll(); process.exit(130); });
}
main().catch((err) => {
  killAll();
  console.error(`bench: ${err.stack ?? err.message}`);
  process.exit(1);
});
