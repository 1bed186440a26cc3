// Load generator: autocannon's programmatic API, run in this process (no workers), so
// its CPU time is this process's CPU time during the run. Latencies are whole ms.
import autocannon from 'autocannon';
import { createRequire } from 'node:module';

export const autocannonVersion = createRequire(import.meta.url)('autocannon/package.json').version;

function run(opts, timeoutMs) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(result);
    });
    const timer = setTimeout(() => instance.stop(), timeoutMs);
  });
}

/** One autocannon run; resolves to a sample in the harness's common shape. */
export async function runAutocannon({ url, connections, duration, body = 0 }) {
  const post = body > 0
    ? { method: 'POST', body: Buffer.alloc(body, 'x'), headers: { 'content-type': 'application/octet-stream' } }
    : {};
  const cpu0 = process.cpuUsage();
  const r = await run({ url, connections, duration, pipelining: 1, ...post }, (duration + 15) * 1000);
  const cpu = process.cpuUsage(cpu0);
  return {
    command: `autocannon({ url: '${url}', connections: ${connections}, duration: ${duration}${body > 0 ? `, method: 'POST', body: <${body} bytes>` : ''} })`,
    seconds: r.duration,
    requests: r.requests.total,
    rps: r.requests.total / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    errors: r.errors, // autocannon counts timeouts among errors too
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    loadgenCpuS: (cpu.user + cpu.system) / 1e6,
  };
}
