// Turns raw samples into per-cell medians and ratios, and renders them: a console table
// per scenario and docs/benchmarks.md. Everything here is a pure function of the results
// JSON, so the docs can be regenerated from any earlier run (run.mjs --from FILE).

const BASELINE = 'node-http';

export function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

function summarizeCell(samples) {
  const ok = samples.filter((s) => !s.error);
  const m = (key) => median(ok.map((s) => s[key]));
  const rps = ok.map((s) => s.rps);
  return {
    samples: ok.length,
    failed: samples.length - ok.length,
    rps: m('rps'),
    rpsMin: ok.length ? Math.min(...rps) : null,
    rpsMax: ok.length ? Math.max(...rps) : null,
    p50Ms: m('p50Ms'),
    p99Ms: m('p99Ms'),
    errors: sum(ok.map((s) => s.errors)),
    non2xx: sum(ok.map((s) => s.non2xx)),
    rssMb: ok.length ? m('rssKb') / 1024 : null,
    serverCores: m('serverCores'),
    serverUsPerReq: m('serverUsPerReq'),
    loadgenCores: m('loadgenCores'),
    otherCores: m('otherCores'),
  };
}

/** [{ scenario, tool, server, ...medians, rpsRatio }] in run order. */
export function summarize(results) {
  const { scenarios, tools, servers } = results.options;
  const rows = [];
  for (const scenario of scenarios) {
    for (const tool of tools) {
      const cells = servers.map((server) => ({
        scenario, tool, server,
        ...summarizeCell(results.samples.filter((s) => s.scenario === scenario && s.server === server
          && (s.tool === tool || (s.error && s.tool === null)))),
      }));
      const base = cells.find((c) => c.server === BASELINE)?.rps;
      for (const c of cells) rows.push({ ...c, rpsRatio: base && c.rps !== null ? c.rps / base : null });
    }
  }
  return rows;
}

// ---- formatting ------------------------------------------------------------------------

const fmt = {
  rps: (x) => (x === null ? '-' : x >= 10_000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0)),
  ms: (x) => (x === null ? '-' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)),
  ratio: (x) => (x === null ? '-' : `${x.toFixed(2)}×`),
  mb: (x) => (x === null ? '-' : x.toFixed(0)),
  cores: (x) => (x === null ? '-' : x.toFixed(2)),
  us: (x) => (x === null ? '-' : x.toFixed(0)),
  count: (x) => String(x),
};

/** Column definitions shared by the console table and the markdown tables. */
function columns(labels) {
  return [
    ['server', (r) => labels[r.server] ?? r.server],
    ['req/s', (r) => fmt.rps(r.rps)],
    ['× node:http', (r) => fmt.ratio(r.rpsRatio)],
    ['req/s min–max', (r) => (r.rps === null ? '-' : `${fmt.rps(r.rpsMin)}–${fmt.rps(r.rpsMax)}`)],
    ['p50 ms', (r) => fmt.ms(r.p50Ms)],
    ['p99 ms', (r) => fmt.ms(r.p99Ms)],
    ['errors', (r) => fmt.count(r.errors)],
    ['non-2xx', (r) => fmt.count(r.non2xx)],
    ['RSS MB', (r) => fmt.mb(r.rssMb)],
    ['server CPU (cores)', (r) => fmt.cores(r.serverCores)],
    ['server µs/req', (r) => fmt.us(r.serverUsPerReq)],
    ['load-gen CPU (cores)', (r) => fmt.cores(r.loadgenCores)],
    ['other CPU (cores)', (r) => fmt.cores(r.otherCores)],
    ['samples', (r) => `${r.samples}${r.failed ? ` (+${r.failed} failed)` : ''}`],
  ];
}

function textTable(header, body) {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function markdownTable(header, body, leftColumns = 1) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i < leftColumns ? '---' : '---:'))), ...body.map(line)].join('\n');
}

function rowsFor(rows, scenario, tool) {
  return rows.filter((r) => r.scenario === scenario && r.tool === tool);
}

/** Console output: one table per scenario and tool. */
export function consoleReport(results, rows) {
  const cols = columns(results.serverLabels);
  const out = [];
  for (const scenario of results.options.scenarios) {
    for (const tool of results.options.tools) {
      out.push(`\n${scenario} — ${tool} (medians of ${results.options.rounds} rounds; errors and non-2xx are totals)`);
      out.push(textTable(cols.map(([h]) => h), rowsFor(rows, scenario, tool).map((r) => cols.map(([, f]) => f(r)))));
    }
  }
  return out.join('\n');
}

/** greenserve / node:http req/s ratio per scenario under one tool, e.g. "hello 1.32×, cpu 1.85×". */
export function headline(rows, tool, server = 'greenserve') {
  return rows.filter((r) => r.tool === tool && r.server === server && r.rpsRatio !== null)
    .map((r) => `${r.scenario} ${fmt.ratio(r.rpsRatio)}`).join(', ');
}

function machineLines(results) {
  const m = results.machine;
  return [
    `- **CPU:** ${m.cpuModel}, ${m.cores} cores available; ${m.memoryGiB} GiB RAM; ${m.kernel}`,
    `- **Node:** ${m.node}; **git commit:** ${m.gitCommit ?? 'none (no commit yet)'}; load average at start ${m.loadavgAtStart.join(' / ')}`,
    `- **Load tools:** ${results.tools.wrk ? `wrk ${results.tools.wrk}` : 'wrk not used'}, autocannon ${results.tools.autocannon}`,
  ];
}

function methodLines(results) {
  const o = results.options;
  const lines = [
    `- Servers, each a child process on a free port of 127.0.0.1, all loading the same app module from \`bench/apps/\`:`,
    ...Object.entries(results.serverCommands).map(([name, cmd]) => `  - ${results.serverLabels[name]}: \`${cmd}\``),
    `- Per scenario, ${o.rounds} rounds; in each round every server in turn (${o.servers.join(', ')}) is started, warmed up with ${o.warmup} s of wrk load, sampled for ${o.duration} s by each tool (${o.tools.join(', ')}), then stopped (SIGTERM). Tables show medians over the rounds; errors and non-2xx are totals; "min–max" shows the spread of req/s.`,
    `- ${o.connections} connections. wrk: \`wrk -t1 -c${o.connections} -d${o.duration}s\`; autocannon: programmatic API, same connections and duration, pipelining 1.`,
    `- errors = socket errors + timeouts. non-2xx: autocannon counts every non-2xx; wrk counts responses with status > 399. autocannon's latencies have 1 ms resolution.`,
    `- RSS: peak of VmRSS summed over the server's process tree, polled every 250 ms during the sample. CPU: utime+stime of the server's process tree (threads and children included) over the sample, in cores (1.00 = one core busy); µs/req is that CPU time per completed request. Load-gen CPU likewise for wrk (a child) or autocannon (in the harness process). Other CPU: the rest of the machine's busy time from /proc/stat (other processes, the harness) plus steal; a sample with much of it ran on a busy machine.`,
  ];
  if (o.scenarios.includes('cpu')) {
    const c = results.cpuCalibration;
    lines.push(`- \`cpu\` scenario: a synchronous integer-hash loop of ${c.iterations.toLocaleString('en-US')} iterations per request, measured at ${c.ms.toFixed(3)} ms here (${c.source}; every server got the same count through BENCH_CPU_ITERS).`);
  }
  return lines;
}

/** The best single sample per tool in one scenario: shows where autocannon tops out. */
function bestSamples(results, scenario) {
  const best = (tool) => results.samples.filter((s) => !s.error && s.scenario === scenario && s.tool === tool)
    .reduce((a, s) => (a && a.rps >= s.rps ? a : s), null);
  return { wrk: best('wrk'), autocannon: best('autocannon') };
}

function notes(results) {
  const { wrk, autocannon } = bestSamples(results, 'hello');
  const seen = wrk && autocannon
    ? ` In this run the best \`hello\` sample was ${fmt.rps(autocannon.rps)} req/s under autocannon (itself using ${fmt.cores(autocannon.loadgenCores)} cores) against ${fmt.rps(wrk.rps)} under wrk (${fmt.cores(wrk.loadgenCores)} cores).`
    : '';
  return [
    `- **Quote wrk for fast scenarios.** autocannon tops out near 30k req/s on this 2-core machine (measured when the design was written: nginx served 113k req/s under wrk and 31k under autocannon): a single JavaScript event loop generates the load, and it needs more CPU per request than wrk (compare the load-gen CPU columns), so for \`hello\` its req/s say as much about autocannon as about the server.${seen} Its numbers are kept as a cross-check and for the heavier \`cpu\` scenario.`,
    ...NOTES,
  ];
}

const NOTES = [
  '- **The load generator shares the 2 cores with the server.** Every core a load generator burns is a core the server cannot use, so absolute req/s are lower than on a machine with a separate client, and a server that needs fewer µs per request gains twice. Compare ratios measured in the same run, not absolute numbers across runs.',
  '- The machine is noisy: speed drifts by up to 2× over minutes, which is why servers are interleaved round by round and medians are reported; look at the min–max spread before reading much into a ratio within ±20 %.',
];

/** A warning when other work shared the machine during the samples, else null. */
export function busyWarning(results) {
  const other = median(results.samples.filter((s) => !s.error).map((s) => s.otherCores));
  if (other === null || other < 0.25) return null;
  return `This run shared the machine with other work: in the median sample ${fmt.cores(other)} of the ${results.machine.cores} cores were busy with neither the server nor the load generator (see "other CPU"). Treat its ratios as rough and rerun on a quiet machine before quoting them.`;
}

/** docs/benchmarks.md, generated from one results JSON. */
export function markdownReport(results, rows, jsonPath) {
  const cols = columns(results.serverLabels);
  const out = [
    '# Benchmarks',
    '',
    `<!-- Generated by bench/run.mjs from ${jsonPath}; do not edit by hand. Regenerate: node bench/run.mjs --from ${jsonPath} -->`,
    '',
    `Command: \`${results.command}\` — run ${results.startedAt}, took ${Math.round(results.elapsedS)} s. See \`bench/README.md\`.`,
    '',
  ];
  if (results.options.tools.includes('wrk') && results.options.servers.includes('greenserve')) {
    out.push(`**greenserve / node:http, req/s under wrk:** ${headline(rows, 'wrk') || 'n/a'}.`, '');
  }
  const warning = busyWarning(results);
  if (warning) out.push(`> **Warning.** ${warning}`, '');
  out.push('## Machine', '', ...machineLines(results), '', '## Method', '', ...methodLines(results), '', '## Notes', '', ...notes(results), '');
  for (const scenario of results.options.scenarios) {
    out.push(`## \`${scenario}\``, '');
    const header = ['tool', ...cols.map(([h]) => h)];
    const body = results.options.tools.flatMap((tool) => rowsFor(rows, scenario, tool)
      .map((r) => [tool, ...cols.map(([, f]) => f(r))]));
    out.push(markdownTable(header, body, 2), '');
  }
  const problems = [...results.skipped.map((s) => `- skipped ${s.server}: ${s.reason}`),
    ...results.checks.filter((c) => c.problems.length).map((c) => `- ${c.server} / ${c.scenario}: response check failed: ${c.problems.join('; ')}`),
    ...results.samples.filter((s) => s.error).map((s) => `- ${s.server} / ${s.scenario} round ${s.round}: ${s.error.split('\n')[0]}`)];
  if (problems.length) out.push('## Problems in this run', '', ...problems, '');
  return out.join('\n');
}
