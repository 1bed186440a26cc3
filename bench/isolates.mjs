#!/usr/bin/env node
// Isolate rotation: what node's own request and response code costs when consecutive requests run
// in different worker threads, as they do when synchronous handlers park many threads at once
// (bench/threads.mjs, `io-sync`). No sockets, no rings, no greenserve code: N worker threads each
// keep one stub socket; the main thread wakes them one after the other (Atomics.notify, then waits
// for the answer), and each wake runs one request the way a greenserve worker's direct path does
// (Runner.direct in lib/worker/runner.ts): node's IncomingMessage and ServerResponse, the `hello`
// handler (writeHead + end), and the response's 'finish' a tick later. The `wake` row does the same
// round trip with no request, which is the cost of switching threads alone.
//
// For each N in --threads it reports CPU per request (user + system time of the whole process, all
// threads, from process.cpuUsage), over two windows: the first --cold requests each thread runs,
// and --warm requests each after those. With one thread the request code is hot in the caches and
// soon optimised; with many, each thread's isolate (its own compiled code, feedback and objects)
// is evicted by the others before its next request, and it reaches V8's optimising tier after
// thousands of its own requests, not the pool's. Compares, does not assert.
//
//   node bench/isolates.mjs [--threads 1,8,32,128] [--cold 50] [--warm 1000] [--rounds 3]
//
// Prints a markdown table (medians over the rounds; each round starts fresh threads) and writes
// bench/results/isolates-<stamp>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { describeMachine } from './lib/proc.mjs';
import { median } from './lib/report.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SLOTS = 16; // Int32 slots per thread in the shared control block: one cache line each, apart

const { values: v } = parseArgs({
  options: {
    threads: { type: 'string', default: '1,8,32,128' },
    cold: { type: 'string', default: '50' },
    warm: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (v.help) {
  console.log('usage: node bench/isolates.mjs [--threads 1,8,32,128] [--cold 50] [--warm 1000] [--rounds 3]');
  process.exit(0);
}
const positive = (name, s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench/isolates.mjs: --${name} must be a positive integer, got ${JSON.stringify(s)}`);
    process.exit(2);
  }
  return n;
};
const counts = v.threads.split(',').map((s) => positive('threads', s.trim()));
const cold = positive('cold', v.cold);
const warm = positive('warm', v.warm);
const rounds = positive('rounds', v.rounds);

// The worker: wait for a wake, run one request (or none), answer once the response finished.
const WORKER = `
const { workerData } = require('node:worker_threads');
const { IncomingMessage, ServerResponse } = require('node:http');
const { Duplex } = require('node:stream');
const ctl = new Int32Array(workerData.sab);
const at = workerData.slot * ${SLOTS};
class StubSocket extends Duplex {
  _write(chunk, enc, cb) { cb(); }
  _writev(chunks, cb) { cb(); }
  _read() {}
}
const socket = new StubSocket();
function hello(req, res) {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '12' });
  res.end('hello world\\n');
}
function answer() {
  Atomics.store(ctl, at + 1, 1);
  Atomics.notify(ctl, at + 1);
  setImmediate(next);
}
function request() {
  const req = new IncomingMessage(socket);
  req.httpVersionMajor = 1; req.httpVersionMinor = 1; req.httpVersion = '1.1';
  req.url = '/hello';
  req._addHeaderLines(['Host', '127.0.0.1:8080', 'User-Agent', 'wrk', 'Accept', '*/*'], 6);
  req.method = 'GET';
  const res = new ServerResponse(req);
  res.shouldKeepAlive = true;
  res.assignSocket(socket);
  res.on('finish', () => { res.detachSocket(socket); answer(); });
  hello(req, res);
  req.complete = true;
  req.push(null);
}
function next() {
  Atomics.wait(ctl, at, 0);
  Atomics.store(ctl, at, 0);
  if (workerData.request) request();
  else answer();
}
next();
`;

/** Start n threads; resolves once each has run its first turn. */
async function startThreads(n, request) {
  const sab = new SharedArrayBuffer(4 * SLOTS * (n + 1));
  const ctl = new Int32Array(sab);
  const threads = [];
  for (let i = 1; i <= n; i++) threads.push(new Worker(WORKER, { eval: true, workerData: { sab, slot: i, request } }));
  await Promise.all(threads.map((t) => new Promise((resolve, reject) => {
    t.once('online', resolve);
    t.once('error', reject);
  })));
  return { ctl, threads };
}

/** Run `rounds` requests on each of the n threads, one thread after the other, round-robin; CPU µs per request. */
function rotate(ctl, n, perThread) {
  const before = process.cpuUsage();
  for (let k = 0; k < perThread; k++) {
    for (let i = 1; i <= n; i++) {
      const at = i * SLOTS;
      Atomics.store(ctl, at + 1, 0);
      Atomics.store(ctl, at, 1);
      Atomics.notify(ctl, at);
      while (Atomics.load(ctl, at + 1) === 0) Atomics.wait(ctl, at + 1, 0, 1000);
    }
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / (n * perThread);
}

const results = [];
const started = new Date();
for (let round = 1; round <= rounds; round++) {
  for (const n of counts) {
    for (const request of [true, false]) {
      const { ctl, threads } = await startThreads(n, request);
      // Give the threads' start-up (module loading, their first GC) time to settle.
      await new Promise((r) => setTimeout(r, 200 + 5 * n));
      const coldUs = rotate(ctl, n, cold);
      const warmUs = rotate(ctl, n, warm);
      await Promise.all(threads.map((t) => t.terminate()));
      results.push({ round, threads: n, row: request ? 'request' : 'wake', coldUs, warmUs });
      console.error(`round ${round}: ${n} thread(s), ${request ? 'request' : 'wake'}: first ${cold}/thread ${coldUs.toFixed(1)} µs, next ${warm}/thread ${warmUs.toFixed(1)} µs`);
    }
  }
}

const cell = (n, row, key) => median(results.filter((r) => r.threads === n && r.row === row).map((r) => r[key]));
const lines = [
  `| threads | request, first ${cold} per thread | request, next ${warm} per thread | wake only, first ${cold} | wake only, next ${warm} |`,
  '|---:|---:|---:|---:|---:|',
];
for (const n of counts) {
  lines.push(`| ${n} | ${cell(n, 'request', 'coldUs').toFixed(1)} | ${cell(n, 'request', 'warmUs').toFixed(1)} | ${cell(n, 'wake', 'coldUs').toFixed(1)} | ${cell(n, 'wake', 'warmUs').toFixed(1)} |`);
}
const machine = describeMachine();
console.log(`CPU µs per request, all threads (medians of ${rounds} round(s)); ${machine.cpuModel}, ${machine.cores} cores, Node ${process.versions.node}\n`);
console.log(lines.join('\n'));
mkdirSync(`${ROOT}bench/results`, { recursive: true });
const file = `bench/results/isolates-${started.toISOString().replace(/[:.]/g, '-')}.json`;
writeFileSync(`${ROOT}${file}`, JSON.stringify({ command: `node bench/isolates.mjs ${process.argv.slice(2).join(' ')}`.trim(), machine, cold, warm, rounds, results }, null, 2));
console.log(`\nwrote ${file}`);
