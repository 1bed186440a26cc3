// Turns raw samples into per-cell medians and ratios, and renders the console tables. Everything
// here is a pure function of the results JSON, so the report can be regenerated from any earlier
// run (run.mjs --from FILE). docs.mjs renders docs/benchmarks.md from the same rows.

export const BASELINE = 'node-http';
const GREENSERVE = 'greenserve';

export function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

function summarizeCell(samples) {
  const ok = samples.filter((s) => !s.error);
  const m = (key) => median(ok.map((s) => s[key]).filter((x) => x !== null && x !== undefined));
  // A sample that completed no request has no latency (wrk and autocannon print 0).
  const lat = (key) => median(ok.filter((s) => s.requests > 0).map((s) => s[key]));
  const rps = ok.map((s) => s.rps);
  return {
    samples: ok.length,
    failed: samples.length - ok.length,
    rps: m('rps'),
    rpsMin: ok.length ? Math.min(...rps) : null,
    rpsMax: ok.length ? Math.max(...rps) : null,
    p50Ms: lat('p50Ms'),
    p99Ms: lat('p99Ms'),
    errors: sum(ok.map((s) => s.errors)),
    non2xx: sum(ok.map((s) => s.non2xx)),
    rssMb: ok.length ? m('rssKb') / 1024 : null,
    serverCores: m('serverCores'),
    serverUsPerReq: m('serverUsPerReq'),
    loadgenCores: m('loadgenCores'),
    otherCores: m('otherCores'),
  };
}

/** The loads of a scenario in run order (results of older runs had only one, unnamed). */
export function loadsOf(results, scenario) {
  return results.scenarioLoads?.[scenario] ?? [{ name: `c${results.options.connections}`, connections: results.options.connections, slow: 0 }];
}

export function serversOf(results, scenario) {
  return results.scenarioServers?.[scenario] ?? results.options.servers;
}

/**
 * [{ scenario, load, tool, server, ...medians, rpsRatio (÷ node:http), bestPeer, bestRatio
 * (÷ the fastest server other than greenserve) }] in run order.
 */
export function summarize(results) {
  const rows = [];
  for (const scenario of results.options.scenarios) {
    for (const load of loadsOf(results, scenario)) {
      for (const tool of results.options.tools) {
        const cells = serversOf(results, scenario).map((server) => ({
          scenario, load: load.name, tool, server,
          ...summarizeCell(results.samples.filter((s) => s.scenario === scenario && s.server === server
            && (s.load ?? load.name) === load.name && (s.tool === tool || (s.error && s.tool === null)))),
        }));
        const base = cells.find((c) => c.server === BASELINE)?.rps ?? null;
        const best = cells.filter((c) => !c.server.startsWith(GREENSERVE) && c.rps > 0)
          .reduce((a, c) => (a && a.rps >= c.rps ? a : c), null);
        for (const c of cells) {
          rows.push({
            ...c,
            rpsRatio: base && c.rps !== null ? c.rps / base : null,
            bestPeer: best?.server ?? null,
            bestRatio: best && c.rps !== null ? c.rps / best.rps : null,
          });
        }
      }
    }
  }
  return rows;
}

// ---- formatting ------------------------------------------------------------------------

export const fmt = {
  rps: (x) => (x === null ? '-' : x >= 10_000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0)),
  ms: (x) => (x === null ? '-' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)),
  ratio: (x) => (x === null ? '-' : `${x.toFixed(2)}×`),
  mb: (x) => (x === null ? '-' : x.toFixed(0)),
  cores: (x) => (x === null ? '-' : x.toFixed(2)),
  us: (x) => (x === null ? '-' : x.toFixed(0)),
  count: (x) => String(x),
};

/** Column definitions shared by the console table and the markdown tables. */
export function columns(labels) {
  return [
    ['server', (r) => labels[r.server] ?? r.server],
    ['req/s', (r) => fmt.rps(r.rps)],
    ['× node:http', (r) => fmt.ratio(r.rpsRatio)],
    ['× best peer', (r) => (r.server === r.bestPeer ? '1.00× (best)' : fmt.ratio(r.bestRatio))],
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

export function textTable(header, body) {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

export function rowsFor(rows, scenario, load, tool) {
  return rows.filter((r) => r.scenario === scenario && r.load === load && r.tool === tool);
}

/** The tool whose numbers the summary quotes: wrk when it ran (autocannon saturates first). */
export function mainTool(results) {
  return results.options.tools.includes('wrk') ? 'wrk' : results.options.tools[0];
}

/** Console output: one table per scenario, load and tool. */
export function consoleReport(results, rows) {
  const cols = columns(results.serverLabels);
  const out = [];
  for (const scenario of results.options.scenarios) {
    for (const load of loadsOf(results, scenario)) {
      for (const tool of results.options.tools) {
        out.push(`\n${scenario} ${load.name} — ${tool} (medians of ${results.options.rounds} rounds; errors and non-2xx are totals)`);
        out.push(textTable(cols.map(([h]) => h), rowsFor(rows, scenario, load.name, tool).map((r) => cols.map(([, f]) => f(r)))));
      }
    }
  }
  return out.join('\n');
}

/** greenserve / node:http req/s ratio per scenario and load under one tool, e.g. "hello 1.32×, cpu 1.85×". */
export function headline(rows, tool, server = GREENSERVE) {
  const first = new Map();
  for (const r of rows) if (!first.has(r.scenario)) first.set(r.scenario, r.load);
  return rows.filter((r) => r.tool === tool && r.server === server && r.rpsRatio !== null && first.get(r.scenario) === r.load)
    .map((r) => `${r.scenario} ${fmt.ratio(r.rpsRatio)}`).join(', ');
}

/** A warning when other work shared the machine during the samples, else null. */
export function busyWarning(results) {
  const other = median(results.samples.filter((s) => !s.error && !s.cpuHogs).map((s) => s.otherCores));
  if (other === null || other < 0.25) return null;
  return `This run shared the machine with other work: in the median sample ${fmt.cores(other)} of the ${results.machine.cores} cores were busy with neither the server nor the load generator (see "other CPU"). Treat its ratios as rough and rerun on a quiet machine before quoting them.`;
}
