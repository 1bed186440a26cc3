// Command-line options of bench/run.mjs.
import os from 'node:os';
import { parseArgs } from 'node:util';

const DEFAULTS = { duration: 5, warmup: 2, rounds: 3, connections: 100, threads: 2 };
const QUICK = { duration: 2, warmup: 1, rounds: 2 };
const ALL = {
  scenarios: ['hello', 'cpu'],
  servers: ['greenserve', 'node-http', 'node-cluster'],
  tools: ['wrk', 'autocannon'],
};

export const USAGE = `usage: node bench/run.mjs [options]     (npm run bench -- [options])

  --duration S        seconds per sample, per tool (default ${DEFAULTS.duration}; --quick ${QUICK.duration})
  --warmup S          seconds of wrk load before each server's samples (default ${DEFAULTS.warmup}; --quick ${QUICK.warmup})
  --rounds N          samples per cell, servers interleaved round by round (default ${DEFAULTS.rounds}; --quick ${QUICK.rounds})
  --connections N     concurrent connections for both tools (default ${DEFAULTS.connections})
  --scenarios LIST    comma-separated, from: ${ALL.scenarios.join(', ')} (default: all)
  --servers LIST      comma-separated, from: ${ALL.servers.join(', ')} (default: all)
  --tools LIST        comma-separated, from: ${ALL.tools.join(', ')} (default: all)
  --threads N         greenserve --threads (default ${DEFAULTS.threads})
  --cluster-workers N node:cluster processes (default: cores, ${os.availableParallelism()} here)
  --quick             shorter defaults: ${QUICK.rounds} rounds of ${QUICK.duration} s, ${QUICK.warmup} s warm-up
  --no-docs           do not regenerate docs/benchmarks.md
  --from FILE         only regenerate docs/benchmarks.md from an earlier results JSON
  -h, --help          this text`;

function positiveInt(name, value, { allowZero = false } = {}) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new Error(`--${name} must be a whole number${allowZero ? '' : ' > 0'}, got '${value}'`);
  return n;
}

function list(name, value) {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = items.filter((s) => !ALL[name].includes(s));
  if (unknown.length > 0 || items.length === 0) {
    throw new Error(`--${name}: unknown '${unknown.join(',')}'; choose from ${ALL[name].join(', ')}`);
  }
  return ALL[name].filter((s) => items.includes(s)); // keep the canonical order
}

export function parseOptions(argv) {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      duration: { type: 'string' }, warmup: { type: 'string' }, rounds: { type: 'string' },
      connections: { type: 'string' }, scenarios: { type: 'string' }, servers: { type: 'string' },
      tools: { type: 'string' }, threads: { type: 'string' }, 'cluster-workers': { type: 'string' },
      quick: { type: 'boolean', default: false }, 'no-docs': { type: 'boolean', default: false },
      from: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const base = { ...DEFAULTS, ...(v.quick ? QUICK : {}) };
  const num = (name, opts) => (v[name] === undefined ? base[name] : positiveInt(name, v[name], opts));
  return {
    help: v.help,
    from: v.from ?? null,
    quick: v.quick,
    docs: !v['no-docs'],
    duration: num('duration'),
    warmup: num('warmup', { allowZero: true }),
    rounds: num('rounds'),
    connections: num('connections'),
    threads: num('threads'),
    clusterWorkers: v['cluster-workers'] === undefined
      ? os.availableParallelism() : positiveInt('cluster-workers', v['cluster-workers']),
    scenarios: v.scenarios ? list('scenarios', v.scenarios) : ALL.scenarios,
    servers: v.servers ? list('servers', v.servers) : ALL.servers,
    tools: v.tools ? list('tools', v.tools) : ALL.tools,
  };
}
