// Micro-benchmark of the per-request log context (lib/request-context.ts): what the worker's
// runner adds to each call of the app when the context is on (an AsyncLocalStorage entered around
// the call, with a RequestContext) against a plain call, for a sync handler and for an async one
// with two awaits. ns per request, median of 5 rounds. Run after a build, with each Node to compare:
// `node bench/micro-request-context.mjs`. Compares, does not assert.
// The context is entered only once the thread needs it (docs/decisions/0008-app-logs.md), so a
// thread that never logs pays the "off" column.
import { RequestContext, enableRequestContext, requestContext } from '../dist/lib/request-context.js';

const N = 200_000;
const headers = { host: 'x', 'x-request-id': 'r-1' };
// eslint-disable-next-line no-unused-vars -- written by the handlers so their work is not optimized away
let sink = 0;
function syncHandler(req) { sink += req.n; }
async function asyncHandler(req) { await null; await Promise.resolve(); sink += req.n; }

// As in lib/worker/runner.ts request().
function call(fn, req) {
  const als = requestContext.als;
  return als === null ? fn(req) : als.run(new RequestContext(headers, 'x-request-id'), fn, req);
}

async function round(fn) {
  const t0 = process.hrtime.bigint();
  let pending = [];
  for (let i = 0; i < N; i++) {
    const p = call(fn, { n: i });
    if (p !== undefined) pending.push(p);
    if (pending.length >= 1000) { await Promise.all(pending); pending = []; }
  }
  await Promise.all(pending);
  return Number(process.hrtime.bigint() - t0) / N;
}

async function measure(fn) {
  const runs = [];
  for (let i = 0; i < 6; i++) runs.push(await round(fn));
  runs.shift(); // warm-up
  return runs.sort((a, b) => a - b)[2];
}

// "off" first: creating the AsyncLocalStorage turns on promise hooks (Node 20) for the rest of the run.
const off = { sync: await measure(syncHandler), async: await measure(asyncHandler) };
enableRequestContext();
const on = { sync: await measure(syncHandler), async: await measure(asyncHandler) };
console.log(`node ${process.version}, ${N} calls per round, ns per request (median of 5)`);
console.log('handler | context off | context on | added');
for (const k of ['sync', 'async']) console.log(`${k} | ${off[k].toFixed(0)} | ${on[k].toFixed(0)} | ${(on[k] - off[k]).toFixed(0)}`);
