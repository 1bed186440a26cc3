// Micro-benchmark of the access log (lib/acceptor/access-log.ts) on the acceptor: CPU per line
// (the process's, so the file writes on libuv's threads count too) for 64 lines per event-loop
// turn, as under load. "per-line write" is the previous way, kept here as the baseline: the same
// line handed to sonic-boom one by one; "batched" is AccessLog as it is (the turn's lines joined
// and written once, the ISO time built once per millisecond). Interleaved rounds, medians.
// Run after a build: `node bench/micro-access-log.mjs`. Compares, does not assert.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { AccessLog } from '../dist/lib/acceptor/access-log.js';
import { RequestRecord } from '../dist/lib/acceptor/request-record.js';

const PER_TURN = 64;
const TURNS = 2000;
const ROUNDS = 7;
const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-bench-accesslog-'));

const rec = new RequestRecord(0);
rec.method = 'GET';
rec.target = '/hello?name=world';
rec.status = 200;
rec.bytes = 142;
rec.requestId = '98b093ac-61d3-4b1f-9a6a-de17c6b0eb38';
const conn = { remote: '127.0.0.1' };

/** The previous AccessLog.end (json): one sonic-boom write per line. */
class PerLineWrite {
  constructor(file) {
    this.dest = pino.destination({ dest: file, sync: false, minLength: 0, mkdir: true, append: true });
  }
  end(r, ms, c, slot) {
    const worker = slot < 0 ? null : slot;
    this.dest.write(
      `{"time":"${new Date().toISOString()}","remote":"${c.remote}","method":"${r.method}",` +
      `"target":${JSON.stringify(r.target)},"status":${r.status},"bytes":${r.bytes},` +
      `"duration_ms":${Math.round(ms * 1000) / 1000},"worker":${worker},` +
      `"request_id":${r.requestId === '' ? 'null' : `"${r.requestId}"`}}\n`,
    );
  }
  close() {
    return new Promise((resolve) => {
      this.dest.flushSync();
      this.dest.once('close', resolve);
      this.dest.end();
    });
  }
}

async function round(log) {
  const c0 = process.cpuUsage();
  for (let t = 0; t < TURNS; t++) {
    for (let i = 0; i < PER_TURN; i++) log.end(rec, 0.412, conn, 0);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await log.close();
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / (PER_TURN * TURNS);
}

const kinds = {
  'per-line write (json)': (f) => new PerLineWrite(f),
  'batched (json)': (f) => new AccessLog(f, 'json'),
  'batched (combined)': (f) => new AccessLog(f, 'combined'),
};
const results = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
let n = 0;
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, make] of Object.entries(kinds)) results[name].push(await round(make(path.join(dir, `${++n}.log`))));
}
rmSync(dir, { recursive: true, force: true });
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
console.log(`node ${process.version}, ${PER_TURN} lines per turn, ${TURNS} turns per round, ${ROUNDS} rounds`);
console.log('variant | CPU ns per line (median)');
for (const [name, xs] of Object.entries(results)) console.log(`${name} | ${median(xs).toFixed(0)}`);
