// The `cpu` scenario's work: a deterministic integer-hash loop of ~1 ms, so the response body
// (the hash) is the same on every server.
//
// The iteration count is calibrated to ~1 ms when this module is first imported, unless
// BENCH_CPU_ITERS is set. bench/run.mjs imports this module once (calibrating in its own, still
// idle, process) and passes BENCH_CPU_ITERS to every server it starts, so all servers,
// processes and threads (piscina's included) do exactly the same work.

const TARGET_MS = 1;

/** FNV-1a-style mixing loop; returns an unsigned 32-bit hash of 0..n-1. */
export function work(n) {
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) {
    h ^= i;
    h = Math.imul(h, 0x01000193);
    h ^= h >>> 13;
  }
  return h >>> 0;
}

function timeMs(n) {
  const t0 = process.hrtime.bigint();
  work(n);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Median wall time of `runs` calls of work(n), in ms. */
export function medianMs(n, runs) {
  const times = Array.from({ length: runs }, () => timeMs(n)).sort((a, b) => a - b);
  return times[runs >> 1];
}

/** Find the iteration count that takes ~targetMs here (JIT-warm, median of runs). */
export function calibrate(targetMs = TARGET_MS) {
  let n = 10_000;
  for (let i = 0; i < 20; i++) work(n); // warm the JIT before timing anything
  while (medianMs(n, 5) < targetMs * 4) n *= 2;
  n = Math.round((n * targetMs) / medianMs(n, 9));
  n = Math.round((n * targetMs) / medianMs(n, 21)); // one correction pass
  return { iterations: n, ms: medianMs(n, 51) };
}

const fromEnv = Number.parseInt(process.env.BENCH_CPU_ITERS ?? '', 10);
export const calibration = fromEnv > 0 ? { iterations: fromEnv, ms: null } : calibrate();
export const iterations = calibration.iterations;

/** The response body: the hash as 8 hex digits and a newline (9 bytes). */
export function cpuBody() {
  return `${work(iterations).toString(16).padStart(8, '0')}\n`;
}
