// Reload and recycle under load: greenserve (CLI, a child process) serves
// bench/apps/hello.mjs while autocannon (programmatic API) runs 100 connections. Two runs, side by
// side (compare, don't assert):
//   baseline  no reload, no recycling
//   reload    SIGHUP (a real signal) at 1/3 and 2/3 of the run, and --max-requests so that
//             workers recycle during it
// Prints, per run: requests, req/s, errors, timeouts, non-2xx, p50/p99/max latency, and what the
// server logged (reloads done, recycles).
//
//   node bench/reload-under-load.mjs [--duration 12] [--connections 100] [--threads 2] [--max-requests 40000]
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '12' },
    connections: { type: 'string', default: '100' },
    threads: { type: 'string', default: '2' },
    'max-requests': { type: 'string', default: '40000' },
  },
});
const duration = Number(args.duration);

function startServer(extra) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'dist/lib/cli.js'), '--bind', '127.0.0.1:0', '--threads', args.threads,
      '--log-level', 'info', ...extra, path.join(root, 'bench/apps/hello.mjs')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (c) => {
      log += c;
      const m = /listening on (http:\/\/[^\s"]+)/.exec(log);
      if (m && !child.url) {
        child.url = m[1];
        resolve(child);
      }
    });
    child.log = () => log;
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${log}`)));
  });
}

async function run(name, extra, during) {
  const server = await startServer(extra);
  const timers = during(server);
  const result = await autocannon({ url: `${server.url}/hello`, connections: Number(args.connections), duration });
  for (const t of timers) clearTimeout(t);
  const log = server.log();
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  return {
    name,
    requests: result.requests.total,
    rps: Math.round(result.requests.average),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    resets: result.resets ?? 0,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    reloads: (log.match(/reload done/g) ?? []).length,
    recycles: (log.match(/will be recycled/g) ?? []).length,
    workerErrors: (log.match(/"level":50/g) ?? []).length,
  };
}

const hup = (server) => [1 / 3, 2 / 3].map((f) => setTimeout(() => server.kill('SIGHUP'), duration * 1000 * f));
const rows = [
  await run('baseline', [], () => []),
  await run('reload + recycle', ['--max-requests', args['max-requests'], '--max-requests-jitter', '2000'], hup),
];
console.log(`greenserve reload-under-load: node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), ` +
  `autocannon ${args.connections} connections x ${duration} s, --threads ${args.threads}`);
console.table(rows);
