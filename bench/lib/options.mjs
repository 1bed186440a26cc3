// Command-line options of bench/run.mjs.
import os from 'node:os';
import { parseArgs } from 'node:util';

const DEFAULTS = {
  duration: 3, warmup: 1, rounds: 3, connections: 100, connectionsHigh: 1000, slowClients: 200, cpuHogs: 1,
  idle: 10_000, streamMib: 100, threads: 2, quietCores: 0.3, quietWait: 15, retryBusy: 2, busyBudget: 300,
};
const QUICK = { duration: 1, warmup: 0, rounds: 1, quietWait: 0, retryBusy: 0, busyBudget: 0, tools: ['wrk'] };
export const ALL = {
  scenarios: ['hello', 'json', 'cpu', 'io-sync', 'io-async', 'sqlite', 'upload', 'download-big'],
  servers: ['greenserve', 'node-http', 'node-cluster', 'fastify', 'fastify-piscina'],
  tools: ['wrk', 'autocannon'],
};
/** Servers that --servers accepts besides the default list: greenserve variants, for ratios to it. */
const VARIANTS = ['greenserve-access-log', 'greenserve-elastic'];

export const USAGE = `usage: node bench/run.mjs [options]     (npm run bench -- [options])

  --duration S          seconds per sample, per tool and load (default ${DEFAULTS.duration}; --quick ${QUICK.duration})
  --warmup S            seconds of wrk load before each server's samples (default ${DEFAULTS.warmup}; --quick ${QUICK.warmup}: none)
  --rounds N            samples per cell, servers interleaved round by round (default ${DEFAULTS.rounds}; --quick ${QUICK.rounds})
  --connections N       concurrent connections for both tools (default ${DEFAULTS.connections})
  --connections-high N  the second connection count, for hello and io-async (default ${DEFAULTS.connectionsHigh}; 0: skip)
  --slow-clients N      header-trickling clients alongside hello's extra sample (default ${DEFAULTS.slowClients}; 0: skip)
  --cpu-hogs N          busy-looping processes alongside hello's extra sample (default ${DEFAULTS.cpuHogs}; 0: skip)
  --idle N              idle keep-alive connections whose server RSS is measured (default ${DEFAULTS.idle}; 0: skip)
  --stream-mib N        MiB of the streamed download and upload each server is timed on (default ${DEFAULTS.streamMib}; 0: skip)
  --scenarios LIST      comma-separated, from: ${ALL.scenarios.join(', ')} (default: all);
                        'none': no scenario, only the idle test and the streaming transfers
  --servers LIST        comma-separated, from: ${ALL.servers.join(', ')} (default: all),
                        and the greenserve variants ${VARIANTS.join(', ')}
  --tools LIST          comma-separated, from: ${ALL.tools.join(', ')} (default: all; --quick: wrk)
  --quiet-cores C       before each server starts, wait until other processes use under C cores (default ${DEFAULTS.quietCores})
  --quiet-wait S        ... for at most S seconds per server (default ${DEFAULTS.quietWait}; --quick ${QUICK.quietWait}: no waiting)
  --retry-busy N        retake a sample in which other processes used over --quiet-cores cores, once the machine
                        is quiet again, up to N times (default ${DEFAULTS.retryBusy}; --quick ${QUICK.retryBusy})
  --busy-budget S       seconds the whole run may spend on such waits and retakes (default ${DEFAULTS.busyBudget}; --quick ${QUICK.busyBudget})
  --threads N           greenserve --threads (default ${DEFAULTS.threads})
  --cluster-workers N   node:cluster processes (default: cores, ${os.availableParallelism()} here)
  --quick               shorter: ${QUICK.rounds} round of ${QUICK.duration} s per sample, wrk only (about 3 min in all)
  --no-docs             do not regenerate docs/benchmarks.md and its charts
  --from FILE           only regenerate docs/benchmarks.md and the charts from an earlier results JSON
  -h, --help            this text`;

function positiveInt(name, value, { allowZero = false } = {}) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new Error(`--${name} must be a whole number${allowZero ? '' : ' > 0'}, got '${value}'`);
  return n;
}

function nonNegative(name, value) {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number >= 0, got '${value}'`);
  return n;
}

function list(name, value) {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const allowed = name === 'servers' ? [...ALL.servers, ...VARIANTS] : ALL[name];
  const unknown = items.filter((s) => !allowed.includes(s));
  if (unknown.length > 0 || items.length === 0) {
    throw new Error(`--${name}: unknown '${unknown.join(',')}'; choose from ${allowed.join(', ')}`);
  }
  return allowed.filter((s) => items.includes(s)); // keep the canonical order
}

const NUMBERS = {
  duration: {}, warmup: { allowZero: true }, rounds: {}, connections: {},
  'connections-high': { allowZero: true }, 'slow-clients': { allowZero: true }, 'cpu-hogs': { allowZero: true }, idle: { allowZero: true }, 'stream-mib': { allowZero: true },
  threads: {}, 'cluster-workers': {}, 'quiet-wait': { allowZero: true }, 'retry-busy': { allowZero: true }, 'busy-budget': { allowZero: true },
};
const camel = (s) => s.replace(/-(.)/g, (_, c) => c.toUpperCase());

export function parseOptions(argv) {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      ...Object.fromEntries(Object.keys(NUMBERS).map((k) => [k, { type: 'string' }])),
      scenarios: { type: 'string' }, servers: { type: 'string' }, tools: { type: 'string' }, 'quiet-cores': { type: 'string' },
      quick: { type: 'boolean', default: false }, 'no-docs': { type: 'boolean', default: false },
      from: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const base = { ...DEFAULTS, clusterWorkers: os.availableParallelism(), ...(v.quick ? QUICK : {}) };
  const nums = Object.fromEntries(Object.entries(NUMBERS).map(([flag, o]) => [camel(flag),
    v[flag] === undefined ? base[camel(flag)] : positiveInt(flag, v[flag], o)]));
  return {
    help: v.help,
    from: v.from ?? null,
    quick: v.quick,
    docs: !v['no-docs'],
    ...nums,
    quietCores: v['quiet-cores'] === undefined ? base.quietCores : nonNegative('quiet-cores', v['quiet-cores']),
    scenarios: v.scenarios === 'none' ? [] : v.scenarios ? list('scenarios', v.scenarios) : ALL.scenarios,
    servers: v.servers ? list('servers', v.servers) : ALL.servers,
    tools: v.tools ? list('tools', v.tools) : (v.quick ? QUICK.tools : ALL.tools),
  };
}
