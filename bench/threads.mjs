#!/usr/bin/env node
// Thread benchmark: what a fixed pool of N worker threads costs and gives. For N in --threads
// (default 1, 2, 4, 8, 16, 32, 64, 128) greenserve runs `--threads N --max-threads N` (no elastic
// threads) on `hello` and on `io-sync` (a synchronous handler waiting 10 ms through `sleep` from
// greenserve/shims), and wrk drives it at each of --connections (100 and 1,000): req/s, p99,
// errors, the server's CPU per request (utime + stime of every thread, from /proc), its RSS at the
// end of the sample, and the RSS each added thread costs. On `io-sync` two more rows: `elastic`
// (greenserve's default --threads, one per core, with --max-threads 128) and the anchor, Debian's
// gunicorn `-k gevent -w 2` on the same 10 ms wait (bench/apps/io_sync_wsgi.py; the script
// installs python3-gunicorn and python3-gevent with apt-get when they are missing, --no-gunicorn
// to leave it out). Then the idle cost: greenserve with N threads (--idle-threads) and no traffic,
// CPU as % of one core over --idle-seconds, and RSS. The whole sweep repeats --rounds times and
// medians are reported, like bench/run.mjs, whose apps, server commands, /proc accounting, wrk
// runner and chart code it reuses. Writes bench/results/threads-<stamp>.json and, unless
// --no-docs, its section of docs/benchmarks.md and docs/benchmarks/threads.svg.
// Compares, does not assert. See bench/README.md ("Thread pool").
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSection } from './lib/docs.mjs';
import { describeMachine, ensureFdLimit, machineCpuS, networkLimits, treeCpuS, treeRssKb, treeThreads } from './lib/proc.mjs';
import { busyWarning, fmt, median, textTable } from './lib/report.mjs';
import { SCENARIOS, appFor, checkResponse, prepareScenarios, serverEnv } from './lib/scenarios.mjs';
import { SERVERS, freePort, gunicornVersions, killAll, probe, startServer, stopServer } from './lib/servers.mjs';
import { COLORS, barPanels } from './lib/svg.mjs';
import { ensureWrk, runWrk } from './lib/wrk.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CHART = 'docs/benchmarks/threads.svg';
const GUNICORN_APP = 'io_sync_wsgi:app';
const FD_HEADROOM = 1_000;
const DRAIN_FAST_MS = 100;
const DRAIN_LIMIT_MS = 120_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rel = (p) => relative(ROOT, p);

const WHAT = {
  hello: '`GET /hello` → `Hello, World!` (13 bytes, text/plain; `bench/apps/hello.mjs`).',
  'io-sync': '`GET /io-sync` → a synchronous handler that waits 10 ms, then answers `waited 10 ms`: greenserve through `sleep` from `greenserve/shims` (`bench/apps/io-sync.mjs`), gunicorn through `time.sleep` under gevent (`bench/apps/io_sync_wsgi.py`).',
};

const USAGE = `usage: node bench/threads.mjs [options]     (npm run bench:threads -- [options])

  --threads LIST        fixed pool sizes (default 1,2,4,8,16,32,64,128): --threads N --max-threads N
  --scenarios LIST      from hello, io-sync (default both)
  --connections LIST    wrk connections, each a sample (default 100,1000)
  --duration S          whole seconds per sample (default 5)
  --warmup S            whole seconds of wrk load before each sample, same connections (default 2; 0: none)
  --rounds N            repeats of the whole sweep, medians reported (default 3)
  --wrk-threads N       wrk -t (default 1, as bench/run.mjs)
  --elastic-max N       the io-sync elastic row: default --threads, --max-threads N (default 128; 0: leave out)
  --no-gunicorn         leave out the gunicorn -k gevent -w 2 anchor (default: run it on io-sync,
                        installing Debian's python3-gunicorn and python3-gevent if missing)
  --idle-threads LIST   pool sizes whose idle cost is measured (default 1,64,128)
  --idle-seconds S      seconds of no traffic measured per idle sample (default 5)
  --idle-settle S       seconds to wait after the server answers before measuring idle (default 2)
  --idle-only           only the idle measurement (no traffic at all)
  --no-idle             no idle measurement
  --no-docs             do not write the docs/benchmarks.md section and ${CHART}
  --from FILE           only rewrite the docs from an earlier bench/results/threads-*.json
  -h, --help            this text

Full sweep (about 25 min on 2 cores): npm run bench:threads
Smoke test:  node bench/threads.mjs --threads 1,2,64 --duration 1 --warmup 1 --rounds 1 --idle-threads 64 --no-docs`;

// ---- options ---------------------------------------------------------------------------------

function parse(argv) {
  const { values: v } = parseArgs({
    args: argv, strict: true,
    options: {
      threads: { type: 'string', default: '1,2,4,8,16,32,64,128' }, scenarios: { type: 'string', default: 'hello,io-sync' },
      connections: { type: 'string', default: '100,1000' }, duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' }, rounds: { type: 'string', default: '3' },
      'wrk-threads': { type: 'string', default: '1' }, 'elastic-max': { type: 'string', default: '128' },
      'no-gunicorn': { type: 'boolean', default: false }, 'idle-threads': { type: 'string', default: '1,64,128' },
      'idle-seconds': { type: 'string', default: '5' }, 'idle-settle': { type: 'string', default: '2' },
      'idle-only': { type: 'boolean', default: false }, 'no-idle': { type: 'boolean', default: false },
      'no-docs': { type: 'boolean', default: false }, from: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
    },
  });
  // wrk takes whole seconds only (-d1s; -d0.5s is refused).
  const int = (name, x, min = 1) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected a whole number >= ${min}, got '${x}'`);
    return n;
  };
  const seconds = (name, x) => {
    const n = Number(x);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: expected seconds >= 0, got '${x}'`);
    return n;
  };
  const ints = (name, x) => x.split(',').map((c) => int(name, c.trim()));
  const scenarios = v.scenarios.split(',').map((s) => s.trim());
  for (const s of scenarios) if (!['hello', 'io-sync'].includes(s)) throw new Error(`--scenarios: '${s}' is not hello or io-sync`);
  if (v['idle-only'] && v['no-idle']) throw new Error('--idle-only and --no-idle exclude each other');
  return {
    help: v.help, from: v.from ?? null, docs: !v['no-docs'],
    threads: [...new Set(ints('threads', v.threads))].sort((a, b) => a - b),
    scenarios: v['idle-only'] ? [] : scenarios,
    connections: ints('connections', v.connections),
    duration: int('duration', v.duration), warmup: int('warmup', v.warmup, 0), rounds: int('rounds', v.rounds),
    wrkThreads: int('wrk-threads', v['wrk-threads']), elasticMax: int('elastic-max', v['elastic-max'], 0),
    gunicorn: !v['no-gunicorn'],
    idleThreads: v['no-idle'] ? [] : [...new Set(ints('idle-threads', v['idle-threads']))].sort((a, b) => a - b),
    idleSeconds: seconds('idle-seconds', v['idle-seconds']), idleSettle: seconds('idle-settle', v['idle-settle']),
  };
}

// ---- what runs -------------------------------------------------------------------------------

/**
 * The servers of one scenario, in run order: { key, server, threads, opts, app, label }. `key`
 * names the row ('N' for a fixed pool of N; 'elastic'; 'gunicorn').
 */
function configsFor(scenario, opts, anchors) {
  const fixed = opts.threads.map((n) => ({
    key: String(n), server: 'greenserve-fixed', threads: n, opts: { threads: n }, app: appFor(scenario, 'greenserve'),
    label: threadsLabel(n),
  }));
  if (scenario !== 'io-sync') return fixed;
  const cores = os.availableParallelism();
  const extra = [];
  if (opts.elasticMax > 0) {
    extra.push({
      key: 'elastic', server: 'greenserve-elastic', threads: null, opts: { threads: cores, maxThreads: opts.elasticMax },
      app: appFor(scenario, 'greenserve'), label: `elastic ${cores}–${opts.elasticMax}`,
    });
  }
  if (anchors.gunicorn) extra.push({ key: 'gunicorn', server: 'gunicorn-gevent', threads: null, opts: {}, app: GUNICORN_APP, label: 'gunicorn gevent' });
  return [...fixed, ...extra];
}

/** The command lines of the run, as the docs show them: { fixed, elastic?, gunicorn? }. */
function commandsOf(configs) {
  const line = (server, app, opts) => `${SERVERS[server].command ?? 'node'} ${SERVERS[server].args(app, 'PORT', opts).join(' ')}`;
  const out = { fixed: line('greenserve-fixed', 'bench/apps/SCENARIO.mjs', { threads: 'N' }) };
  for (const c of Object.values(configs).flat()) if (c.threads === null) out[c.key] = line(c.server, c.app, c.opts);
  return out;
}

/** Debian's gunicorn and gevent, installed with apt-get if missing: { versions } or { reason }. */
function ensureGunicorn() {
  const found = gunicornVersions();
  if (found) return { versions: found };
  console.log('gunicorn/gevent not found: installing them with `apt-get update && apt-get install -y python3-gunicorn python3-gevent`');
  spawnSync('sh', ['-c', 'apt-get update && apt-get install -y python3-gunicorn python3-gevent'], { stdio: 'inherit', timeout: 300_000 });
  const installed = gunicornVersions();
  return installed ? { versions: installed } : { reason: SERVERS['gunicorn-gevent'].missing() ?? 'could not install python3-gunicorn and python3-gevent' };
}

const threadsLabel = (n) => `${n} thread${n === 1 ? '' : 's'}`;

function logFile(stamp, what) {
  return `${ROOT}bench/results/logs/${stamp}-threads-${what}.log`;
}

/** greenserve boots every worker before it listens: allow the large pools time on a small machine. */
const readyTimeoutMs = (c) => 20_000 + 300 * (c.threads ?? c.opts.maxThreads ?? 0);

// ---- measuring -------------------------------------------------------------------------------

/**
 * Waits until the requests left over from the last wrk run are done, so that their work does
 * not count against the next sample. wrk closes its connections when it stops, but a server may
 * still run the requests queued on them: greenserve does (a 1-thread `io-sync` pool answers a
 * new request about 1 s after 100 connections went away). Probes on a fresh connection until
 * one is answered within DRAIN_FAST_MS; returns the seconds it took.
 */
async function drain(port, def) {
  const t0 = performance.now();
  for (;;) {
    const t = performance.now();
    await probe(port, def, DRAIN_LIMIT_MS);
    const now = performance.now();
    if (now - t < DRAIN_FAST_MS) return (now - t0) / 1000;
    if (now - t0 > DRAIN_LIMIT_MS) throw new Error(`still draining after ${DRAIN_LIMIT_MS / 1000} s (the last probe took ${Math.round(now - t)} ms)`);
  }
}

/** One wrk sample of a running server, after its warm-up: the figures of one point. */
async function sample(server, url, def, connections, opts) {
  const load = { url, connections, threads: opts.wrkThreads };
  if (opts.warmup > 0) await runWrk({ ...load, duration: opts.warmup });
  const drainS = await drain(server.port, def);
  const cpu0 = treeCpuS(server.pid);
  const m0 = machineCpuS();
  const t0 = performance.now();
  const s = await runWrk({ ...load, duration: opts.duration });
  const wallS = (performance.now() - t0) / 1000;
  // Read at the end of the measured window: CPU of every thread (and process) of the server.
  const serverCpuS = treeCpuS(server.pid) - cpu0;
  const rssKb = treeRssKb(server.pid);
  const osThreads = treeThreads(server.pid);
  const m = machineCpuS();
  return {
    ...s, raw: undefined, drainS, wallS, serverCpuS, rssKb, osThreads,
    usPerReq: s.requests > 0 ? (serverCpuS * 1e6) / s.requests : null,
    serverCores: serverCpuS / wallS,
    loadgenCores: s.loadgenCpuS / wallS,
    otherCores: (Math.max(0, m.busyS - m0.busyS - serverCpuS - s.loadgenCpuS) + (m.stealS - m0.stealS)) / wallS,
  };
}

function progress(cell, s) {
  const what = `${cell.scenario.padEnd(7)} r${cell.round} ${cell.label.padEnd(16)} c${String(cell.connections).padEnd(5)}`;
  if (s.error) return `  ${what} FAILED: ${s.error.split('\n')[0]}`;
  const ms = (x) => (s.requests > 0 ? x.toFixed(1) : '-');
  return `  ${what} ${s.rps.toFixed(0).padStart(7)} req/s  p99 ${ms(s.p99Ms)} ms  err ${s.errors}  non2xx ${s.non2xx}`
    + `  ${s.usPerReq === null ? '-' : s.usPerReq.toFixed(0)} µs/req  rss ${(s.rssKb / 1024).toFixed(0)} MB  ${s.osThreads} OS threads`
    + `  cores: server ${s.serverCores.toFixed(2)} wrk ${s.loadgenCores.toFixed(2)} other ${s.otherCores.toFixed(2)}`;
}

/** Start one server, check its answer (round 1), sample it at every connection count, stop it. */
async function measureConfig(scenario, c, round, opts, results, stamp) {
  const port = await freePort();
  const def = SCENARIOS[scenario];
  const url = `http://127.0.0.1:${port}${def.path}`;
  const base = { scenario, key: c.key, label: c.label, threads: c.threads, round };
  let server = null;
  try {
    server = await startServer(c.server, {
      app: c.app, port, opts: c.opts, env: serverEnv, readyTimeoutMs: readyTimeoutMs(c),
      logFile: logFile(stamp, `${scenario}-${c.key}`),
    });
    if (round === 1) {
      const got = await probe(port, def);
      const problems = checkResponse(scenario, got);
      if (problems.length) results.problems.push(`${c.label} / ${scenario}: ${problems.join('; ')}`);
    }
    for (const connections of opts.connections) {
      const cell = { ...base, connections };
      try {
        const s = await sample(server, url, def, connections, opts);
        results.samples.push({ ...cell, ...s });
        console.log(progress(cell, s));
      } catch (err) {
        results.samples.push({ ...cell, error: err.message });
        console.log(progress(cell, { error: err.message }));
      }
    }
  } catch (err) {
    for (const connections of opts.connections) {
      results.samples.push({ ...base, connections, error: err.message });
      console.log(progress({ ...base, connections }, { error: err.message }));
    }
  } finally {
    if (server) {
      const how = await stopServer(server);
      if (how !== 'SIGTERM') console.log(`  note: ${c.label} stopped: ${how}`);
    }
  }
}

/** The idle cost of a fixed pool of n threads: CPU (% of one core) and RSS with no traffic. */
async function measureIdle(n, round, opts, results, stamp) {
  const port = await freePort();
  const c = { threads: n, opts: { threads: n } };
  let server = null;
  try {
    server = await startServer('greenserve-fixed', {
      app: appFor('hello', 'greenserve'), port, opts: c.opts, env: serverEnv, readyTimeoutMs: readyTimeoutMs(c),
      logFile: logFile(stamp, `idle-${n}`),
    });
    const problems = checkResponse('hello', await probe(port, SCENARIOS.hello));
    if (problems.length) throw new Error(`hello check: ${problems.join('; ')}`);
    await sleep(opts.idleSettle * 1000);
    const cpu0 = treeCpuS(server.pid);
    const m0 = machineCpuS();
    const t0 = performance.now();
    await sleep(opts.idleSeconds * 1000);
    const wallS = (performance.now() - t0) / 1000;
    const cpuS = treeCpuS(server.pid) - cpu0;
    const m = machineCpuS();
    const r = {
      threads: n, round, wallS, cpuS, cpuPct: (cpuS / wallS) * 100, rssKb: treeRssKb(server.pid), osThreads: treeThreads(server.pid),
      otherCores: (Math.max(0, m.busyS - m0.busyS - cpuS) + (m.stealS - m0.stealS)) / wallS,
    };
    results.idle.push(r);
    console.log(`  idle    r${round} ${threadsLabel(n).padEnd(16)} ${r.cpuPct.toFixed(2)} % of a core over ${wallS.toFixed(1)} s  rss ${(r.rssKb / 1024).toFixed(0)} MB  ${r.osThreads} OS threads  other ${r.otherCores.toFixed(2)} cores`);
  } catch (err) {
    results.idle.push({ threads: n, round, error: err.message });
    console.log(`  idle    r${round} ${threadsLabel(n)} FAILED: ${err.message.split('\n')[0]}`);
  } finally {
    if (server) await stopServer(server);
  }
}

// ---- summary ---------------------------------------------------------------------------------

/** One row of medians per scenario, connection count and server. */
function summarizeRow(results, scenario, connections, c) {
  const all = results.samples.filter((s) => s.scenario === scenario && s.connections === connections && s.key === c.key);
  const ok = all.filter((s) => !s.error);
  const m = (k) => median(ok.map((s) => s[k]).filter((x) => x !== null && x !== undefined));
  const total = (k) => ok.reduce((n, s) => n + s[k], 0);
  return {
    scenario, connections, key: c.key, label: c.label, threads: c.threads, samples: ok.length, failed: all.length - ok.length,
    rps: m('rps'), p99Ms: median(ok.filter((s) => s.requests > 0).map((s) => s.p99Ms)),
    errors: total('errors'), timeouts: total('timeouts'), non2xx: total('non2xx'),
    usPerReq: m('usPerReq'), serverCores: m('serverCores'), otherCores: m('otherCores'),
    rssMb: ok.length ? m('rssKb') / 1024 : null, osThreads: m('osThreads'), rssPerThreadMb: null,
  };
}

/**
 * { rows, slopes }: rows of medians (fixed pools with the RSS per added thread since the previous
 * size), and per scenario and connection count the slope from the smallest pool to the largest.
 */
function summarize(results) {
  const rows = [];
  const slopes = [];
  for (const scenario of results.options.scenarios) {
    for (const connections of results.options.connections) {
      const group = results.configs[scenario].map((c) => summarizeRow(results, scenario, connections, c));
      const fixed = group.filter((r) => r.threads !== null && r.rssMb !== null);
      const slope = (a, b) => (b.rssMb - a.rssMb) / (b.threads - a.threads);
      for (let i = 1; i < fixed.length; i++) fixed[i].rssPerThreadMb = slope(fixed[i - 1], fixed[i]);
      if (fixed.length > 1) slopes.push({ scenario, connections, from: fixed[0].threads, to: fixed.at(-1).threads, mbPerThread: slope(fixed[0], fixed.at(-1)) });
      rows.push(...group);
    }
  }
  return { rows, slopes };
}

function summarizeIdle(results) {
  return results.options.idleThreads.map((threads) => {
    const ok = results.idle.filter((r) => r.threads === threads && !r.error);
    const m = (k) => median(ok.map((r) => r[k]));
    return { threads, samples: ok.length, failed: results.idle.filter((r) => r.threads === threads && r.error).length, cpuPct: m('cpuPct'), rssMb: ok.length ? m('rssKb') / 1024 : null, osThreads: m('osThreads'), otherCores: m('otherCores') };
  });
}

const HEADER = ['server', 'connections', 'req/s', 'p99 ms', 'errors (timeouts)', 'non-2xx', 'CPU µs/req', 'server CPU (cores)', 'RSS MB', 'RSS MB per added thread', 'OS threads', 'other CPU (cores)', 'samples'];
const cellsOf = (r) => [r.label, String(r.connections), fmt.rps(r.rps), fmt.ms(r.p99Ms), `${r.errors} (${r.timeouts})`, String(r.non2xx),
  fmt.us(r.usPerReq), fmt.cores(r.serverCores), fmt.mb(r.rssMb), r.rssPerThreadMb === null ? '-' : r.rssPerThreadMb.toFixed(1),
  r.osThreads === null ? '-' : String(r.osThreads), fmt.cores(r.otherCores), `${r.samples}${r.failed ? ` (+${r.failed} failed)` : ''}`];
const IDLE_HEADER = ['threads', 'CPU, % of one core', 'RSS MB', 'OS threads', 'other CPU (cores)', 'samples'];
const idleCells = (r) => [String(r.threads), r.cpuPct === null ? '-' : r.cpuPct.toFixed(2), fmt.mb(r.rssMb), r.osThreads === null ? '-' : String(r.osThreads),
  fmt.cores(r.otherCores), `${r.samples}${r.failed ? ` (+${r.failed} failed)` : ''}`];

// ---- outputs ---------------------------------------------------------------------------------

function markdownTable(header, body) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i < 1 ? '---' : '---:'))), ...body.map(line)].join('\n');
}

function markdown(results, { rows, slopes }, idleRows, jsonPath) {
  const m = results.machine;
  const o = results.options;
  const g = results.gunicorn;
  const warning = busyWarning(results);
  const out = [
    '## Thread pool',
    '',
    `<!-- Generated by bench/threads.mjs from ${jsonPath}; do not edit by hand. Regenerate: node bench/threads.mjs --from ${jsonPath} -->`,
    '',
    `Command: \`${results.command}\` — run ${results.startedAt}, took ${Math.round(results.elapsedS)} s, on ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.kernel}, Node ${m.node}, commit ${m.gitCommit ?? 'none'}${m.gitDirty ? ' (with uncommitted changes)' : ''}; load average (\`uptime\`) ${m.loadavgAtStart.join(' / ')} at the start, ${results.loadavgAtEnd.join(' / ')} at the end; wrk ${results.tools.wrk ?? 'not used'}${g?.versions ? `, gunicorn ${g.versions.gunicorn} with gevent ${g.versions.gevent} (Debian)` : ''}.`,
    '',
  ];
  if (warning) out.push(`> **Warning.** ${warning}`, '');
  if (o.scenarios.length) {
    out.push(
      `greenserve with a fixed pool, \`--threads N --max-threads N\` (no elastic threads), for N = ${o.threads.join(', ')}, on \`hello\` and \`io-sync\` (the apps of the tables above: \`io-sync\` waits 10 ms in \`sleep\` from \`greenserve/shims\`, which parks the worker thread). \`io-sync\` also runs \`elastic\` (greenserve's default \`--threads\`, ${m.cores} here, with \`--max-threads ${o.elasticMax}\`)${o.gunicorn ? ` and the anchor, gunicorn \`-k gevent -w 2\` on the same 10 ms wait (\`bench/apps/io_sync_wsgi.py\`: \`time.sleep(0.01)\`, which gevent's monkey-patching turns into a greenlet switch)` : ''}. Each server is started and checked, then for each connection count ${o.warmup > 0 ? `warmed up with ${o.warmup} s of wrk, drained (below)` : 'drained (below; no warm-up)'} and sampled for ${o.duration} s: \`wrk -t${o.wrkThreads} -cC -d${o.duration}s -s bench/lib/wrk-report.lua\`, on the same machine (it takes CPU from the server). The whole sweep ran ${o.rounds} time(s), one round after the other; the tables give medians, and errors are totals.`,
      '',
      '- **CPU µs/req:** utime + stime of the server\'s process tree (every thread: acceptor, workers, helpers; for gunicorn the master and its workers) from `/proc/PID/stat` over the sample, divided by the requests completed in it. **Server CPU:** the same time in cores. **Other CPU:** the rest of the machine\'s busy time (`/proc/stat`) plus steal, in cores: a sample with much of it ran on a busy machine.',
      '- **RSS:** VmRSS of the process tree from `/proc/PID/status`, read when the sample ends. **RSS MB per added thread:** (RSS(N) − RSS(previous N)) / (N − previous N), in MB. **OS threads:** the Threads: count of the tree at the same moment (workers plus Node\'s own threads and the I/O helper; it shows how far the elastic pool grew).',
      '- **Errors:** wrk\'s socket errors plus timeouts (in brackets: wrk\'s timeout is 2 s, so a pool that cannot keep up with 1,000 connections shows them); non-2xx: status > 399. An `io-sync` pool of N threads can serve at most N × 100 req/s.',
      `- **Drain:** wrk closes its connections when it stops, but greenserve still runs the requests queued on them; so before each sample the harness sends single requests on a new connection until one is answered within ${DRAIN_FAST_MS} ms (the wait is \`drainS\` in the JSON).`,
      '',
      `![req/s and CPU µs per request by threads](benchmarks/threads.svg)`,
      '',
    );
    if (slopes.length) out.push(`RSS per added thread from ${slopes[0].from} to ${slopes[0].to} threads, (RSS(${slopes[0].to}) − RSS(${slopes[0].from})) / ${slopes[0].to - slopes[0].from}: ${slopes.map((s) => `\`${s.scenario}\` c${s.connections} ${s.mbPerThread.toFixed(1)} MB`).join(', ')}.`, '');
    for (const scenario of o.scenarios) {
      out.push(`### \`${scenario}\``, '', WHAT[scenario], '', markdownTable(HEADER, rows.filter((r) => r.scenario === scenario).map(cellsOf)), '');
    }
  }
  if (idleRows.length) {
    out.push('### Idle threads', '',
      `greenserve \`--threads N --max-threads N\` with the \`hello\` app and no traffic: after it answered one request and ${o.idleSettle} s more, the CPU its process tree used over ${o.idleSeconds} s (utime + stime from \`/proc\`, as % of one core; \`/proc\` counts clock ticks, usually 10 ms, so over ${o.idleSeconds} s one tick is ${((0.01 / o.idleSeconds) * 100).toFixed(1)} %) and its RSS. Medians over ${o.rounds} round(s).`,
      '', markdownTable(IDLE_HEADER, idleRows.map(idleCells)), '');
  }
  const serverLabel = { fixed: 'fixed pool of N', elastic: 'elastic', gunicorn: 'gunicorn gevent' };
  out.push('### Servers', '', ...Object.entries(results.commands).map(([k, cmd]) => `- ${serverLabel[k]}: \`${cmd}\``), '');
  if (results.problems.length) out.push('### Problems in this run', '', ...results.problems.map((p) => `- ${p}`), '');
  return out.join('\n');
}

function chart(results, rows) {
  const o = results.options;
  const panelsFor = (key, what, format) => o.scenarios.flatMap((scenario) => o.connections.map((connections) => ({
    title: `${what} — ${scenario} c${connections}`, format,
    bars: rows.filter((r) => r.scenario === scenario && r.connections === connections)
      .map((r) => ({ label: r.label, value: r[key], color: COLORS[results.configs[scenario].find((c) => c.key === r.key).server] ?? COLORS.greenserve })),
  })));
  const panels = [...panelsFor('rps', 'req/s', fmt.rps), ...panelsFor('usPerReq', 'CPU µs/req', fmt.us)];
  return barPanels({
    title: 'Thread pools: req/s (higher is better), server CPU µs per request (lower is better)',
    subtitle: `${results.machine.cores} cores, ${results.machine.cpuModel}, Node ${results.machine.node}; wrk, median of ${o.rounds} round(s); ${results.startedAt.slice(0, 10)}`,
    panels, columns: o.scenarios.length * o.connections.length, format: fmt.rps,
  });
}

function writeOutputs(results, jsonPath, docs) {
  const summary = summarize(results);
  const { rows, slopes } = summary;
  const idleRows = summarizeIdle(results);
  for (const scenario of results.options.scenarios) {
    console.log(`\n${scenario} (medians of ${results.options.rounds} rounds; errors are totals)`);
    console.log(textTable(HEADER, rows.filter((r) => r.scenario === scenario).map(cellsOf)));
  }
  for (const s of slopes) console.log(`RSS per added thread ${s.scenario} c${s.connections}, ${s.from} -> ${s.to} threads: ${s.mbPerThread.toFixed(1)} MB`);
  if (idleRows.length) console.log(`\nidle (no traffic, ${results.options.idleSeconds} s)\n${textTable(IDLE_HEADER, idleRows.map(idleCells))}`);
  const warning = busyWarning(results);
  if (warning) console.log(`WARNING: ${warning}`);
  for (const p of results.problems) console.log(`problem: ${p}`);
  if (!docs) return;
  if (results.options.scenarios.length) {
    mkdirSync(`${ROOT}docs/benchmarks`, { recursive: true });
    writeFileSync(`${ROOT}${CHART}`, chart(results, rows));
    console.log(`wrote ${CHART}`);
  }
  console.log(`wrote ${writeSection('threads', markdown(results, summary, idleRows, jsonPath))} (section "Thread pool")`);
}

// ---- run -------------------------------------------------------------------------------------

async function main() {
  const opts = parse(process.argv.slice(2));
  if (opts.help) return console.log(USAGE);
  if (opts.from) {
    const results = JSON.parse(readFileSync(opts.from, 'utf8'));
    return writeOutputs(results, opts.from, true);
  }
  // Every wrk connection is a descriptor in wrk and one in the server (both inherit our limit).
  const need = opts.scenarios.length ? Math.max(...opts.connections) + FD_HEADROOM : 0;
  const fd = ensureFdLimit(need, fileURLToPath(import.meta.url));
  if (fd.note) console.log(`note: ${fd.note}: samples with more connections than that will fail to open some`);
  const greenserveMissing = SERVERS.greenserve.missing();
  if (greenserveMissing) throw new Error(greenserveMissing);
  const problems = [];
  const prepared = await prepareScenarios(opts.scenarios);
  prepared.cleanup();
  for (const s of prepared.skipped) problems.push(`skipped scenario \`${s.scenario}\`: ${s.reason}`);
  opts.scenarios = opts.scenarios.filter((sc) => !prepared.skipped.some((s) => s.scenario === sc));
  const gunicorn = opts.gunicorn && opts.scenarios.includes('io-sync') ? ensureGunicorn() : null;
  if (gunicorn?.reason) problems.push(`gunicorn gevent left out: ${gunicorn.reason}`);
  const anchors = { gunicorn: Boolean(gunicorn?.versions) };
  const configs = Object.fromEntries(opts.scenarios.map((s) => [s, configsFor(s, opts, anchors)]));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(`${ROOT}bench/results/logs`, { recursive: true });
  const jsonPath = `${ROOT}bench/results/threads-${stamp}.json`;
  const results = {
    command: ['node', 'bench/threads.mjs', ...process.argv.slice(2)].join(' '),
    startedAt: new Date().toISOString(), options: opts,
    machine: { ...describeMachine(), limits: networkLimits() }, fdLimit: fd,
    tools: { wrk: opts.scenarios.length ? ensureWrk() : null }, gunicorn,
    configs, commands: commandsOf(configs),
    problems, samples: [], idle: [],
  };
  console.log(`${results.machine.cpuModel}, ${results.machine.cores} cores, Node ${results.machine.node}; load average ${results.machine.loadavgAtStart.join(' ')}; open files ${fd.soft}`);
  const sweep = opts.scenarios.length ? `${opts.scenarios.join(', ')} at threads ${opts.threads.join(',')}, connections ${opts.connections.join(',')}` : 'none';
  console.log(`sweep: ${sweep}; idle: ${opts.idleThreads.join(',') || 'none'}; ${opts.rounds} round(s)`);
  for (const p of problems) console.log(`note: ${p}`);
  const t0 = performance.now();
  for (let round = 1; round <= opts.rounds; round++) {
    for (const scenario of opts.scenarios) {
      for (const c of configs[scenario]) await measureConfig(scenario, c, round, opts, results, stamp);
    }
    for (const n of opts.idleThreads) await measureIdle(n, round, opts, results, stamp);
  }
  results.elapsedS = (performance.now() - t0) / 1000;
  results.loadavgAtEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${rel(jsonPath)} (${Math.round(results.elapsedS)} s)`);
  writeOutputs(results, rel(jsonPath), opts.docs);
}

for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => { killAll(); process.exit(130); });
main().catch((err) => {
  killAll();
  console.error(`bench/threads: ${err.stack ?? err.message}`);
  process.exit(1);
});
