// The scenarios: the app module each kind of server loads, the request the load tools send,
// the answer every server must give, and the loads each scenario is measured under.
//
// Importing this module imports apps/shared/work.mjs, which calibrates the cpu loop (~1 ms) in
// this process; the figure goes to every server through BENCH_CPU_ITERS so they all do the same
// work. prepareScenarios() checks what optional scenarios need (greenserve's shims, better-sqlite3)
// and creates the sqlite database once per run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cpuWork from '../apps/shared/work.mjs';
import { DOC_BYTES } from '../apps/shared/doc.mjs';
import { IO_BODY } from '../apps/shared/io.mjs';
import { DOWNLOAD_BIG_BYTES } from '../apps/download-big.mjs';

export const UPLOAD_BYTES = 64 * 1024;

const TEXT = 'text/plain';
const OCTETS = 'application/octet-stream';
const JSON_TYPE = 'application/json; charset=utf-8';

/** A body check for JSON rows of the sqlite table: null when it looks right. */
function sqliteRow(body) {
  try {
    const row = JSON.parse(body);
    return Number.isInteger(row.id) && /^user-\d{6}$/.test(row.name) ? null : `not a users row: ${body.slice(0, 80)}`;
  } catch {
    return `not JSON: ${body.slice(0, 80)}`;
  }
}

/**
 * name -> {
 *   method, path, body (bytes of request body or 0),
 *   apps: { node, greenserve?, fastify, 'fastify-piscina'? }  (no entry: that server sits it out)
 *   expect: { status, contentType, body: string | (body) => problem|null },
 *   connections: the base load's connection count, when not --connections (optional),
 *   loads: extra loads besides 'base' ('high': --connections-high; 'slow': --slow-clients;
 *          'hog': --cpu-hogs busy processes alongside),
 *   needs: 'shims' | 'sqlite' | undefined,
 *   what: one line for the docs
 * }
 */
export const SCENARIOS = {
  hello: {
    method: 'GET', path: '/hello', body: 0,
    apps: { node: 'bench/apps/hello.mjs', fastify: 'bench/apps/fastify/hello.mjs' },
    expect: { status: 200, contentType: TEXT, body: 'Hello, World!' },
    loads: ['high', 'slow', 'hog'],
    what: '`GET /hello` → `Hello, World!` (13 bytes, text/plain).',
  },
  json: {
    method: 'GET', path: '/json', body: 0,
    apps: { node: 'bench/apps/json.mjs', fastify: 'bench/apps/fastify/json.mjs' },
    expect: { status: 200, contentType: JSON_TYPE, body: (b) => (Buffer.byteLength(b) === DOC_BYTES ? null : `${Buffer.byteLength(b)} bytes, not ${DOC_BYTES}`) },
    loads: [],
    what: `\`GET /json\` → a ${DOC_BYTES}-byte JSON document, \`JSON.stringify\`-ed per request (fastify: the route returns the object, no response schema).`,
  },
  cpu: {
    method: 'GET', path: '/cpu', body: 0,
    apps: {
      node: 'bench/apps/cpu.mjs', fastify: 'bench/apps/fastify/cpu.mjs',
      'fastify-piscina': 'bench/apps/fastify/cpu-piscina.mjs',
    },
    expect: { status: 200, contentType: TEXT, body: cpuWork.cpuBody() },
    loads: [],
    what: '`GET /cpu` → a synchronous ~1 ms integer-hash loop, answered as its hash (fastify + piscina: the loop runs on a piscina thread).',
  },
  'io-sync': {
    method: 'GET', path: '/io-sync', body: 0,
    apps: {
      greenserve: 'bench/apps/io-sync.mjs', node: 'bench/apps/io-sync-block.mjs',
      fastify: 'bench/apps/fastify/io-sync.mjs', 'fastify-piscina': 'bench/apps/fastify/io-sync-piscina.mjs',
    },
    expect: { status: 200, contentType: TEXT, body: IO_BODY },
    loads: [],
    needs: 'shims',
    what: '`GET /io-sync` → a synchronous handler that waits 10 ms: greenserve through `sleep` from `greenserve/shims` (parks the worker thread); node:http, node:cluster and fastify through `Atomics.wait` (blocks the process); fastify + piscina runs that `Atomics.wait` on a piscina thread.',
  },
  'io-async': {
    method: 'GET', path: '/io-async', body: 0,
    apps: { node: 'bench/apps/io-async.mjs', fastify: 'bench/apps/fastify/io-async.mjs' },
    expect: { status: 200, contentType: TEXT, body: IO_BODY },
    loads: ['high'],
    what: '`GET /io-async` → an async handler that awaits a 10 ms timer.',
  },
  sqlite: {
    method: 'GET', path: '/sqlite', body: 0,
    apps: {
      node: 'bench/apps/sqlite.mjs', fastify: 'bench/apps/fastify/sqlite.mjs',
      'fastify-piscina': 'bench/apps/fastify/sqlite-piscina.mjs',
    },
    expect: { status: 200, contentType: JSON_TYPE, body: sqliteRow },
    loads: [],
    needs: 'sqlite',
    what: '`GET /sqlite` → one row by random id from a 100,000-row table, read synchronously with better-sqlite3 (one read-only connection and prepared statement per process or thread), as JSON (fastify + piscina: the read runs on a piscina thread).',
  },
  upload: {
    method: 'POST', path: '/upload', body: UPLOAD_BYTES,
    apps: { node: 'bench/apps/upload.mjs', fastify: 'bench/apps/fastify/upload.mjs' },
    expect: { status: 200, contentType: TEXT, body: String(UPLOAD_BYTES) },
    loads: [],
    what: `\`POST /upload\` with a ${UPLOAD_BYTES / 1024} KiB \`application/octet-stream\` body → its length in bytes (node-style apps count the stream; fastify buffers it with a content-type parser).`,
  },
  'download-big': {
    method: 'GET', path: '/download-big', body: 0,
    apps: { node: 'bench/apps/download-big.mjs', fastify: 'bench/apps/fastify/download-big.mjs' },
    expect: {
      status: 200, contentType: OCTETS,
      body: (b) => (b.length === DOWNLOAD_BIG_BYTES ? null : `${b.length} bytes, not ${DOWNLOAD_BIG_BYTES}`),
    },
    loads: [],
    // 10 connections, not --connections: 100 would each wait for 1 GiB in flight to drain.
    connections: 10,
    what: `\`GET /download-big\` → ${DOWNLOAD_BIG_BYTES / 1048576} MiB of \`application/octet-stream\` written with one \`res.end(buffer)\` (fastify: \`reply.send(buffer)\`); the buffer is made once, at load.`,
  },
};

/** The cpu loop as calibrated (or given by BENCH_CPU_ITERS) and timed here. */
export const cpuCalibration = {
  iterations: cpuWork.iterations,
  ms: cpuWork.calibration.ms ?? cpuWork.medianMs(cpuWork.iterations, 51),
  source: cpuWork.calibration.ms === null ? 'BENCH_CPU_ITERS' : 'calibrated at start',
};

/** Environment every server gets (the sqlite path is added by prepareScenarios). */
export const serverEnv = { BENCH_CPU_ITERS: String(cpuWork.iterations) };

/** The app module `server` loads for `scenario`, or null when that server sits it out. */
export function appFor(scenario, server) {
  const { apps } = SCENARIOS[scenario];
  if (server.startsWith('greenserve')) return apps.greenserve ?? apps.node;
  if (server === 'node-http' || server === 'node-cluster') return apps.node;
  return apps[server] ?? null;
}

async function shimsMissing() {
  try {
    const shims = await import('greenserve/shims');
    return typeof shims.sleep === 'function' ? null : '`greenserve/shims` has no `sleep` export';
  } catch (err) {
    return `\`import { sleep } from 'greenserve/shims'\` failed (${err.code ?? 'error'}: ${err.message.split('\n')[0]}): greenserve's native shims are not built or not exported yet`;
  }
}

/**
 * Checks what the chosen scenarios need. Returns { skipped: [{ scenario, reason }], sqlite,
 * cleanup() }; creates the sqlite database and sets BENCH_SQLITE_DB in serverEnv.
 */
export async function prepareScenarios(scenarios) {
  const skipped = [];
  let sqlite = null;
  let dir = null;
  if (scenarios.includes('io-sync')) {
    const reason = await shimsMissing();
    if (reason) skipped.push({ scenario: 'io-sync', reason });
  }
  if (scenarios.includes('sqlite')) {
    try {
      const { createDb, ROWS } = await import('../apps/shared/db.mjs');
      dir = mkdtempSync(join(tmpdir(), 'greenserve-bench-'));
      const path = join(dir, 'bench.db');
      const seconds = createDb(path);
      serverEnv.BENCH_SQLITE_DB = path;
      sqlite = { rows: ROWS, createdInS: seconds };
    } catch (err) {
      skipped.push({ scenario: 'sqlite', reason: err.message.split('\n')[0] });
    }
  }
  return {
    skipped,
    sqlite,
    cleanup: () => { if (dir) rmSync(dir, { recursive: true, force: true }); },
  };
}

/** Differences between a probe's answer and what the scenario expects ([] when it matches). */
export function checkResponse(scenario, got) {
  const { expect } = SCENARIOS[scenario];
  const problems = [];
  if (got.status !== expect.status) problems.push(`status: expected ${expect.status}, got ${got.status}`);
  if ((got.contentType ?? '').toLowerCase() !== expect.contentType) {
    problems.push(`content-type: expected ${JSON.stringify(expect.contentType)}, got ${JSON.stringify(got.contentType)}`);
  }
  if (typeof expect.body === 'function') {
    const p = expect.body(got.body);
    if (p) problems.push(`body: ${p}`);
  } else if (got.body !== expect.body) {
    problems.push(`body: expected ${JSON.stringify(expect.body.slice(0, 80))}, got ${JSON.stringify(got.body.slice(0, 80))}`);
  }
  return problems;
}
