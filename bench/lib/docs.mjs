// docs/benchmarks.md and its charts (docs/benchmarks/*.svg), generated from one results JSON.
// Pure functions of the results (and the summarized rows) except writeDocs, which writes them.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SCENARIOS } from './scenarios.mjs';
import { busyWarning, columns, fmt, headline, loadsOf, mainTool, median, rowsFor, serversOf } from './report.mjs';
import { COLORS, barPanels } from './svg.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOC = 'docs/benchmarks.md';
const CHART_DIR = 'docs/benchmarks';
const SCALING_DOC = 'docs/benchmarks/scaling.md';

function markdownTable(header, body, leftColumns = 1) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i < leftColumns ? '---' : '---:'))), ...body.map(line)].join('\n');
}

const label = (results, server) => results.serverLabels[server] ?? server;

// ---- sections --------------------------------------------------------------------------

function summaryTable(results, rows) {
  const tool = mainTool(results);
  const servers = results.options.servers;
  const header = ['scenario', 'load', ...servers.map((s) => `${label(results, s)} req/s`), 'greenserve × node:http', 'greenserve × best peer'];
  const body = [];
  for (const scenario of results.options.scenarios) {
    for (const load of loadsOf(results, scenario)) {
      const cells = rowsFor(rows, scenario, load.name, tool);
      const by = Object.fromEntries(cells.map((r) => [r.server, r]));
      const gs = by.greenserve;
      body.push([`\`${scenario}\``, load.name,
        ...servers.map((s) => (by[s] ? fmt.rps(by[s].rps) : '—')),
        gs ? fmt.ratio(gs.rpsRatio) : '-',
        gs && gs.bestRatio !== null ? `${fmt.ratio(gs.bestRatio)} (${label(results, gs.bestPeer)})` : '-']);
    }
  }
  return [
    `Requests per second under ${tool} (median of ${results.options.rounds} rounds; "—": that server does not run the scenario). Loads: \`c100\` = 100 connections, \`c1000\` = 1,000, \`+slow200\` = 200 header-trickling clients alongside, \`+hog1\` = one busy-looping process alongside.`,
    '',
    markdownTable(header, body, 2),
  ];
}

function machineLines(results) {
  const m = results.machine;
  const l = m.limits;
  return [
    `- **CPU:** ${m.cpuModel}, ${m.cores} cores available; ${m.memoryGiB} GiB RAM; ${m.kernel}`,
    `- **Node:** ${m.node}; **git commit:** ${m.gitCommit ?? 'none'}${m.gitDirty ? ' (with uncommitted changes)' : ''}; load average at start ${m.loadavgAtStart.join(' / ')}`,
    `- **Load tools:** ${results.tools.wrk ? `wrk ${results.tools.wrk}` : 'wrk not used'}, autocannon ${results.tools.autocannon}`,
    l ? `- **Limits:** open files ${l.openFiles.soft} (hard ${l.openFiles.hard}); net.core.somaxconn ${l.somaxconn}; ephemeral ports ${l.ipLocalPortRange}` : null,
  ].filter(Boolean);
}

function methodLines(results) {
  const o = results.options;
  const c = results.cpuCalibration;
  const lines = [
    '- **Scenarios** (each server runs the app in its own idiom: `bench/apps/*.mjs` are `(req, res)` listeners loaded by greenserve, node:http and node:cluster; `bench/apps/fastify/*.mjs` are fastify plugins; the harness checks every server\'s answer before measuring, and the response sizes below show the bytes match):',
    ...o.scenarios.map((s) => `  - \`${s}\`: ${SCENARIOS[s]?.what ?? ''}`),
    `  - The \`cpu\` loop is ${c.iterations.toLocaleString('en-US')} iterations, measured at ${c.ms.toFixed(3)} ms here (${c.source}); every server and thread gets the same count through \`BENCH_CPU_ITERS\`.`,
    results.sqlite ? `  - The sqlite table (${results.sqlite.rows.toLocaleString('en-US')} rows) is created once per run in a temporary directory (${results.sqlite.createdInS.toFixed(1)} s here) and passed to every server as \`BENCH_SQLITE_DB\`.` : null,
    '- **Servers**, each a child process on a free port of 127.0.0.1, started, warmed up, measured and stopped (SIGTERM) in turn:',
    ...Object.entries(results.serverCommands).map(([name, cmd]) => `  - ${label(results, name)}: \`${cmd}\``),
    '  - greenserve runs with `--connections 11000` (above every load here; its default cap, 1,000, equals the high-connection load) and `--no-server-header` (so its responses carry the same headers as the others). The peers set `keepAliveTimeout` to 75 s, greenserve\'s default (node:http\'s is 5 s), so all send `Keep-Alive: timeout=75` and hold idle connections equally long. fastify + piscina runs only the scenarios with blocking work (`cpu`, `io-sync`, `sqlite`), where the handler hands that work to the pool (piscina\'s defaults: up to 1.5 × cores threads); elsewhere it would be plain fastify.',
    `- **Rounds:** per scenario, ${o.rounds} round(s); in each round every server in turn is started, warmed up with ${o.warmup} s of wrk load, then sampled for ${o.duration} s by each tool (${o.tools.join(', ')}) under each load, then stopped. Tables show medians over the rounds; errors and non-2xx are totals; "min–max" is the spread of req/s.`,
    `- **Loads:** ${o.connections} connections everywhere; ${o.connectionsHigh > 0 ? `${o.connectionsHigh.toLocaleString('en-US')} connections as well for \`hello\` and \`io-async\`` : 'no high-connection load'}; ${o.slowClients > 0 ? `for \`hello\`, one more load with ${o.slowClients} slow clients trickling header bytes alongside the ${o.connections} connections` : 'no slow clients'}; ${o.cpuHogs > 0 ? `and one with ${o.cpuHogs} busy-looping process(es) alongside` : 'no busy neighbour'}. wrk: \`wrk -t1 -cN -d${o.duration}s -s bench/lib/wrk-report.lua URL\` (\`upload\`: the same script POSTs the body, set by \`BENCH_WRK_BODY_BYTES\`); autocannon: its programmatic API in the harness process, same connections and duration, pipelining 1.`,
    '- **Columns:** errors = socket errors + timeouts; non-2xx: autocannon counts every non-2xx, wrk responses with status > 399; autocannon\'s latencies have 1 ms resolution. RSS: peak VmRSS summed over the server\'s process tree, polled every 250 ms. Server CPU: utime+stime of the tree (threads and children included) over the sample, in cores; µs/req is that CPU per completed request. Load-gen CPU: wrk (a child) or autocannon (the harness process), plus the slow clients\' process when they run. Other CPU: the rest of the machine\'s busy time from /proc/stat plus steal; a sample with much of it ran on a busy machine.',
    quietLine(results),
    `- **Open files:** the idle test and the 1,000-connection load need more descriptors than a default \`ulimit -n\` of 1,024. Node raises its soft limit to the hard one at startup and the servers and wrk inherit it from the harness; when that is still too low, \`bench/run.mjs\` re-runs itself once under \`sh -c 'ulimit -n N'\`, which raises the hard limit where allowed (root). ${results.fdLimit?.note ? `**This run:** ${results.fdLimit.note}.` : `This run had ${results.fdLimit?.soft ?? '?'} (needed ${results.fdLimit?.need ?? '?'}).`}`,
  ];
  return lines.filter(Boolean);
}

function quietLine(results) {
  const o = results.options;
  if (!o.quietWait && !o.retryBusy) return '- **Quiet machine:** no waiting (`--quiet-wait 0 --retry-busy 0`).';
  const q = results.quiet ?? [];
  const busy = q.filter((x) => !x.quiet);
  const discarded = (results.discarded ?? []).length;
  return `- **Quiet machine:** before starting each server the harness measures the rest of the machine for 1 s and waits, up to ${o.quietWait} s, until it uses under ${o.quietCores} cores; a sample during which other processes used ${o.quietCores} cores or more is set aside and retaken if the machine has gone quiet meanwhile, up to ${o.retryBusy} times. The run may spend at most ${o.busyBudget} s on this. This run spent ${Math.round(results.busy?.spentS ?? 0)} s; ${busy.length} of ${q.length} servers started on a machine still busy after the wait; ${discarded} samples were set aside and retaken (they stay in the JSON under \`discarded\`). Samples that stayed busy show it in the "other CPU" column.`;
}

function notes(results) {
  const best = (tool) => results.samples.filter((s) => !s.error && s.scenario === 'hello' && s.tool === tool)
    .reduce((a, s) => (a && a.rps >= s.rps ? a : s), null);
  const wrk = best('wrk');
  const ac = best('autocannon');
  const seen = wrk && ac
    ? ` In this run the best \`hello\` sample was ${fmt.rps(ac.rps)} req/s under autocannon (itself using ${fmt.cores(ac.loadgenCores)} cores) against ${fmt.rps(wrk.rps)} under wrk (${fmt.cores(wrk.loadgenCores)} cores).`
    : '';
  return [
    `- **Quote wrk for fast scenarios.** autocannon tops out near 30k req/s on this 2-core machine (nginx served 113k req/s under wrk and 31k under autocannon when the design was written): one JavaScript event loop generates the load, with more CPU per request than wrk.${seen} Its numbers are a cross-check.`,
    '- **The load generator shares the cores with the server.** Every core a load generator burns is one the server cannot use, so absolute req/s are lower than with a separate client machine, and a server that needs fewer µs per request gains twice. Compare ratios measured in the same run, not absolute numbers across runs.',
    `- **Bounds to keep in mind:** \`io-sync\` can reach at most (threads or processes that can wait at once) × 100 req/s: greenserve --threads ${results.options.threads} → ${results.options.threads * 100}, node:http and fastify → 100, node:cluster → ${results.options.clusterWorkers * 100}, fastify + piscina → piscina's thread count × 100. \`io-async\` at ${results.options.connections} connections is bounded near ${results.options.connections} / 10 ms = ${(results.options.connections * 100).toLocaleString('en-US')} req/s.`,
    '- The machine is noisy: speed drifts by up to 2× over minutes, which is why servers are interleaved round by round and medians are reported; look at the min–max spread before reading much into a ratio within ±20 %.',
  ];
}

function scenarioSection(results, rows, scenario) {
  const cols = columns(results.serverLabels);
  const header = ['tool', 'load', ...cols.map(([h]) => h)];
  const body = [];
  for (const load of loadsOf(results, scenario)) {
    for (const tool of results.options.tools) {
      for (const r of rowsFor(rows, scenario, load.name, tool)) body.push([tool, load.name, ...cols.map(([, f]) => f(r))]);
    }
  }
  return [`### \`${scenario}\``, '', SCENARIOS[scenario]?.what ?? '', '', markdownTable(header, body, 3), ''];
}

function slowSection(results, rows) {
  const tool = mainTool(results);
  const loads = loadsOf(results, 'hello');
  const slow = loads.find((l) => l.slow > 0);
  if (!slow) return [];
  const base = loads[0];
  const header = ['server', `req/s ${base.name}`, `req/s ${slow.name}`, 'change', `p99 ms ${base.name}`, `p99 ms ${slow.name}`, 'slow connections closed by the server', 'their status codes', 'slow clients open at the end'];
  const body = serversOf(results, 'hello').map((server) => {
    const a = rowsFor(rows, 'hello', base.name, tool).find((r) => r.server === server);
    const b = rowsFor(rows, 'hello', slow.name, tool).find((r) => r.server === server);
    const stats = results.slowClients.filter((s) => s.server === server && !s.error);
    const closed = stats.reduce((n, s) => n + s.closedByServer, 0);
    const codes = {};
    for (const s of stats) for (const [k, v] of Object.entries(s.responses ?? {})) codes[k] = (codes[k] ?? 0) + v;
    const open = median(stats.map((s) => s.openAtStop));
    return [label(results, server), fmt.rps(a?.rps ?? null), fmt.rps(b?.rps ?? null),
      a?.rps && b?.rps ? `${(((b.rps / a.rps) - 1) * 100).toFixed(0)} %` : '-',
      fmt.ms(a?.p99Ms ?? null), fmt.ms(b?.p99Ms ?? null),
      String(closed), Object.entries(codes).map(([k, v]) => `${k} ×${v}`).join(', ') || 'none',
      open === null ? '-' : `${open} / ${slow.slow}`];
  });
  const interval = results.slowClients.find((s) => s.intervalMs)?.intervalMs ?? 500;
  return [
    '## Slow clients',
    '',
    `\`hello\` under ${tool} with ${base.connections} connections, alone and with ${slow.slow} slow clients alongside (\`bench/lib/slow-clients.mjs\`, a separate process): each sends a request line, \`Host\` and the start of one more header field, then one byte every ${interval} ms, never finishing the head; when the server closes one, it reconnects 100 ms later. Counts are totals over all of that server's slow-client samples (${results.options.tools.length} tool(s) × ${results.options.rounds} round(s), ${results.options.duration} s each).`,
    '',
    markdownTable(header, body),
    '',
  ];
}

function hogSection(results, rows) {
  const tool = mainTool(results);
  const loads = loadsOf(results, 'hello');
  const hog = loads.find((l) => l.hogs > 0);
  if (!hog) return [];
  const base = loads[0];
  const header = ['server', `req/s ${base.name}`, `req/s ${hog.name}`, 'change', `p99 ms ${base.name}`, `p99 ms ${hog.name}`, `server CPU ${base.name}`, `server CPU ${hog.name}`, 'hog CPU (cores)'];
  const body = serversOf(results, 'hello').map((server) => {
    const a = rowsFor(rows, 'hello', base.name, tool).find((r) => r.server === server);
    const b = rowsFor(rows, 'hello', hog.name, tool).find((r) => r.server === server);
    const hogCores = median(results.samples.filter((x) => !x.error && x.server === server && x.load === hog.name && x.tool === tool).map((x) => x.hogCores));
    return [label(results, server), fmt.rps(a?.rps ?? null), fmt.rps(b?.rps ?? null),
      a?.rps && b?.rps ? `${(((b.rps / a.rps) - 1) * 100).toFixed(0)} %` : '-',
      fmt.ms(a?.p99Ms ?? null), fmt.ms(b?.p99Ms ?? null), fmt.cores(a?.serverCores ?? null), fmt.cores(b?.serverCores ?? null), fmt.cores(hogCores)];
  });
  return [
    '## A busy neighbour',
    '',
    `\`hello\` under ${tool} with ${base.connections} connections, alone and with ${hog.hogs} process(es) spinning a core each (\`node -e 'for (;;) {}'\`, started before the sample): another service, a build or a test run sharing the machine. A server that hands each request between threads needs the scheduler to run the woken thread promptly; with every core busy it waits for a time slice instead.`,
    '',
    markdownTable(header, body),
    '',
  ];
}

function idleSection(results) {
  if (!results.idle?.length) return [];
  const servers = [...new Set(results.idle.map((r) => r.server))];
  const header = ['server', 'connections open when measured', 'failed to open', 'closed by the server while held', 'RSS before MB', 'RSS holding them MB', 'kB per connection', 'one more request ms', 'time to open them s'];
  const body = servers.map((server) => {
    const ok = results.idle.filter((r) => r.server === server && !r.error);
    const m = (k) => median(ok.map((r) => r[k]).filter((x) => x !== null && x !== undefined));
    if (!ok.length) return [label(results, server), 'failed', '-', '-', '-', '-', '-', '-', '-'];
    return [label(results, server), `${m('openAtMeasure')} / ${ok[0].target}`, String(m('failed')), String(m('closedByServer')),
      fmt.mb(m('rssBeforeKb') / 1024), fmt.mb(m('rssHeldKb') / 1024), m('kbPerConn') === null ? '-' : m('kbPerConn').toFixed(1),
      fmt.ms(m('probeMs')), (m('openMs') / 1000).toFixed(1)];
  });
  const target = results.idle.find((r) => r.target)?.target ?? results.options.idle;
  return [
    '## Idle keep-alive connections',
    '',
    `Each server (the \`hello\` app) is started, its RSS read, then \`bench/lib/idle-clients.mjs\` (a separate process) opens ${target.toLocaleString('en-US')} connections, at most 200 at a time, sends one \`GET /hello\` on each and reads the answer, and leaves them all open and idle. One second later the RSS is read again (the larger of two reads a second apart is shown), one more request on a new connection is timed, and the clients count how many of their connections the server has closed. Medians over ${Math.max(...results.idle.map((r) => r.round))} round(s); RSS is summed over the process tree.`,
    '',
    markdownTable(header, body),
    '',
  ];
}

function bytesSection(results) {
  if (!results.checks?.length) return [];
  const servers = results.options.servers;
  const body = results.options.scenarios.map((s) => [`\`${s}\``, ...servers.map((name) => {
    const c = results.checks.find((x) => x.scenario === s && x.server === name);
    return c ? `${c.responseBytes ?? '?'}${c.problems.length ? ' ⚠' : ''}` : '—';
  })]);
  return [
    '## Response sizes',
    '',
    'Bytes of one response (status line, headers and body) to the check request each server answered before it was measured, sent with `Connection: close` (under load every server adds `Connection: keep-alive` and `Keep-Alive: timeout=75` instead). `sqlite` bodies vary by a few bytes with the row. ⚠: the answer did not match; see the problems below.',
    '',
    markdownTable(['scenario', ...servers.map((s) => label(results, s))], body),
    '',
  ];
}

function problemLines(results) {
  return [
    ...results.skipped.map((s) => `- skipped server ${s.server}: ${s.reason}`),
    ...(results.skippedScenarios ?? []).map((s) => `- **skipped scenario \`${s.scenario}\`:** ${s.reason}`),
    ...results.checks.filter((c) => c.problems.length).map((c) => `- ${c.server} / ${c.scenario}: response check failed: ${c.problems.join('; ')}`),
    ...results.samples.filter((s) => s.error).map((s) => `- ${s.server} / ${s.scenario} ${s.load ?? ''} round ${s.round}${s.tool ? ` (${s.tool})` : ''}: ${s.error.split('\n')[0]}`),
    ...(results.idle ?? []).filter((r) => r.error).map((r) => `- idle test, ${r.server} round ${r.round}: ${r.error.split('\n')[0]}`),
    ...(results.slowClients ?? []).filter((r) => r.error).map((r) => `- slow clients, ${r.server} round ${r.round}: ${r.error}`),
  ];
}

// ---- charts ----------------------------------------------------------------------------

function chartPanels(results, rows, key) {
  const tool = mainTool(results);
  const panels = [];
  for (const scenario of results.options.scenarios) {
    for (const load of loadsOf(results, scenario)) {
      panels.push({
        title: `${scenario} — ${load.name}`,
        bars: rowsFor(rows, scenario, load.name, tool).map((r) => ({ label: label(results, r.server), value: r[key], color: COLORS[r.server] })),
      });
    }
  }
  return panels;
}

export function charts(results, rows) {
  const tool = mainTool(results);
  const when = `${results.machine.cores} cores, ${results.machine.cpuModel}, Node ${results.machine.node}; ${tool}, median of ${results.options.rounds} round(s); ${results.startedAt.slice(0, 10)}`;
  return {
    'rps.svg': barPanels({
      title: 'Requests per second (higher is better)', subtitle: when,
      panels: chartPanels(results, rows, 'rps'), format: fmt.rps,
    }),
    'p99.svg': barPanels({
      title: 'p99 latency in ms (lower is better)', subtitle: when,
      panels: chartPanels(results, rows, 'p99Ms'), format: fmt.ms,
    }),
  };
}

// ---- the document ----------------------------------------------------------------------

export function markdownReport(results, rows, jsonPath) {
  const out = [
    '# Benchmarks',
    '',
    `<!-- Generated by bench/run.mjs from ${jsonPath}; do not edit by hand. Regenerate: node bench/run.mjs --from ${jsonPath} -->`,
    '',
    `Command: \`${results.command}\` — run ${results.startedAt}, took ${Math.round(results.elapsedS)} s. How to run it and what each part does: \`bench/README.md\`.`,
    '',
  ];
  const tool = mainTool(results);
  if (results.options.servers.includes('greenserve')) out.push(`**greenserve ÷ node:http, req/s under ${tool}:** ${headline(rows, tool) || 'n/a'}.`, '');
  const warning = busyWarning(results);
  if (warning) out.push(`> **Warning.** ${warning}`, '');
  if (results.options.quick) out.push('> **Quick run** (`--quick`: one short round per cell): for development, not for quoting.', '');
  out.push('## Summary', '', ...summaryTable(results, rows), '',
    '![Requests per second per server and scenario](benchmarks/rps.svg)', '',
    '![p99 latency per server and scenario](benchmarks/p99.svg)', '');
  out.push(...slowSection(results, rows), ...hogSection(results, rows), ...idleSection(results));
  out.push('## Machine', '', ...machineLines(results), '', '## Method', '', ...methodLines(results), '', '## Notes', '', ...notes(results), '');
  out.push('## Scenarios in detail', '');
  for (const scenario of results.options.scenarios) out.push(...scenarioSection(results, rows, scenario));
  out.push(...bytesSection(results));
  out.push('## Multi-core scaling', '', existsSync(`${ROOT}${SCALING_DOC}`)
    ? 'See [benchmarks/scaling.md](benchmarks/scaling.md) (`node bench/scaling.mjs`).'
    : 'Not measured yet: `node bench/scaling.mjs` runs `hello` and `cpu` against greenserve `--threads N` and node:cluster with N processes for N = 1, 2, 4, 8, 14 on a machine with many cores and writes `docs/benchmarks/scaling.md` (see `bench/README.md`).', '');
  const problems = problemLines(results);
  if (problems.length) out.push('## Problems in this run', '', ...problems, '');
  return out.join('\n');
}

/** Writes docs/benchmarks.md and the charts; returns the paths written. */
export function writeDocs(results, rows, jsonPath) {
  mkdirSync(`${ROOT}${CHART_DIR}`, { recursive: true });
  const written = [];
  for (const [name, svg] of Object.entries(charts(results, rows))) {
    writeFileSync(`${ROOT}${CHART_DIR}/${name}`, svg);
    written.push(`${CHART_DIR}/${name}`);
  }
  writeFileSync(`${ROOT}${DOC}`, `${markdownReport(results, rows, jsonPath)}\n`);
  written.push(DOC);
  return written;
}

