// Load generator: wrk (https://github.com/wg/wrk), run as a child process. Its summary
// comes back as JSON from wrk-report.lua; its CPU time is what this process gains in
// reaped-children CPU while wrk runs (nothing else is reaped during a sample).
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { reapedChildrenCpuS } from './proc.mjs';

const SCRIPT = fileURLToPath(new URL('./wrk-report.lua', import.meta.url));

function wrkVersion() {
  const r = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (r.error) return null;
  return /^wrk (\S+)/m.exec(`${r.stdout}${r.stderr}`)?.[1] ?? 'unknown';
}

/** Returns wrk's version, installing the Debian package first if wrk is missing. */
export function ensureWrk() {
  const found = wrkVersion();
  if (found) return found;
  console.log('wrk not found: installing it with `apt-get update && apt-get install -y wrk`');
  const r = spawnSync('sh', ['-c', 'apt-get update && apt-get install -y wrk'], { stdio: 'inherit', timeout: 300_000 });
  const installed = r.status === 0 ? wrkVersion() : null;
  if (!installed) throw new Error('could not install wrk; install it yourself or pass --tools autocannon');
  return installed;
}

function runChild(args, env, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { out += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`wrk ${signal ? `killed (${signal})` : `exited ${code}`}: ${out.trim().slice(-500)}`));
    });
  });
}

/**
 * One wrk run; resolves to a sample in the harness's common shape. `body` > 0 makes every
 * request a POST of that many bytes (application/octet-stream), set up by wrk-report.lua from
 * BENCH_WRK_BODY_BYTES.
 */
export async function runWrk({ url, connections, duration, body = 0, threads = 1 }) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${duration}s`, '-s', SCRIPT, url];
  const env = body > 0 ? { BENCH_WRK_BODY_BYTES: String(body) } : {};
  const cpu0 = reapedChildrenCpuS();
  const out = await runChild(args, env, (duration + 15) * 1000);
  const loadgenCpuS = reapedChildrenCpuS() - cpu0;
  const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (!line) throw new Error(`wrk printed no summary: ${out.trim().slice(-500)}`);
  const w = JSON.parse(line.slice('WRK_JSON '.length));
  const seconds = w.durationUs / 1e6;
  return {
    command: `${body > 0 ? `BENCH_WRK_BODY_BYTES=${body} ` : ''}wrk ${args.join(' ')}`.replace(SCRIPT, 'bench/lib/wrk-report.lua'),
    seconds,
    requests: w.requests,
    rps: w.requests / seconds,
    p50Ms: w.p50Us / 1000,
    p99Ms: w.p99Us / 1000,
    errors: w.connect + w.read + w.write + w.timeout,
    timeouts: w.timeout,
    non2xx: w.status,
    loadgenCpuS,
    raw: w,
  };
}
