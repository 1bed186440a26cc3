// The scenarios: which app module each server loads, the path the load tools request,
// and the exact body every server must answer with. Importing this module imports
// apps/cpu.mjs, which calibrates its loop (~1 ms) in this process; the figure is passed
// to every server through BENCH_CPU_ITERS so they all do the same work.
import * as cpuApp from '../apps/cpu.mjs';

export const SCENARIOS = {
  hello: {
    app: 'bench/apps/hello.mjs',
    path: '/hello',
    expect: { status: 200, contentType: 'text/plain', body: 'Hello, World!' },
  },
  cpu: {
    app: 'bench/apps/cpu.mjs',
    path: '/cpu',
    expect: {
      status: 200,
      contentType: 'text/plain',
      body: `${cpuApp.work(cpuApp.iterations).toString(16).padStart(8, '0')}\n`,
    },
  },
};

/** The ~1 ms loop as calibrated (or given by BENCH_CPU_ITERS) and timed here. */
export const cpuCalibration = {
  iterations: cpuApp.iterations,
  ms: cpuApp.calibration.ms ?? cpuApp.medianMs(cpuApp.iterations, 51),
  source: cpuApp.calibration.ms === null ? 'BENCH_CPU_ITERS' : 'calibrated at start',
};
export const serverEnv = { BENCH_CPU_ITERS: String(cpuApp.iterations) };

/** Differences between a probe's answer and what the scenario expects ([] when it matches). */
export function checkResponse(scenario, got) {
  const { expect } = SCENARIOS[scenario];
  return Object.keys(expect)
    .filter((key) => got[key] !== expect[key])
    .map((key) => `${key}: expected ${JSON.stringify(expect[key])}, got ${JSON.stringify(got[key])}`);
}
