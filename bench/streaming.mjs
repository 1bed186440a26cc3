// Streaming figures (docs/decisions/0012-streaming-and-upgrades.md): a 100 MiB
// streamed download and a 100 MiB upload through greenserve and through node:http on the same
// machine (each server a child process, the client this process; 3 runs each, alternating
// between the servers, median MiB/s and the ratio), and the RSS of a greenserve server holding
// 1,000 open WebSockets (`ws`, 4 threads).
// Benchmarks compare, they don't assert. Usage:
//   node bench/streaming.mjs [--mib 100] [--runs 3] [--sockets 1000] [--threads 4]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { STREAM_APPS, download, upload } from './lib/streaming.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = Object.fromEntries(process.argv.slice(2).join(' ').split('--').filter(Boolean).map((a) => a.trim().split(/\s+/)));
const MIB = Number(args.mib ?? 100);
const RUNS = Number(args.runs ?? 3);
const SOCKETS = Number(args.sockets ?? 1000);
const THREADS = Number(args.threads ?? 4);

// One app for both servers, bench/apps/stream.mjs: GET /stream?mib=N streams N MiB in 64 KiB
// writes honouring backpressure; POST /stream counts the body's bytes. The transfers are
// bench/lib/streaming.mjs's, the same that bench/run.mjs times for its "Streaming" section.
const appPath = path.join(root, STREAM_APPS.node);
const appUrl = pathToFileURL(appPath).href;

function startChild(argv, pattern) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
    let out = '';
    const onData = (c) => {
      out += c;
      const m = pattern.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
}

const greenserve = (extra = []) =>
  startChild([path.join(root, 'dist/lib/cli.js'), '--bind', '127.0.0.1:0', '--threads', String(THREADS), '--limit-request-body', String(2 * MIB * 1048576), ...extra, appPath], /listening on http:\/\/127\.0\.0\.1:(\d+)/);
const nodeHttp = () =>
  startChild(['--input-type=module', '-e', `import http from 'node:http'; const { default: app } = await import(${JSON.stringify(appUrl)}); const s = http.createServer(app).listen(0, '127.0.0.1', () => console.log('port ' + s.address().port));`], /port (\d+)/);

function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.once('exit', resolve);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10000).unref();
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

// Both servers run side by side and the runs alternate between them (the order flips each
// round), so a burst of load from elsewhere on a shared machine hits both alike: the ratio is
// steadier than the absolute figures.
async function throughput() {
  const servers = [{ name: 'greenserve', ...(await greenserve()) }, { name: 'node:http', ...(await nodeHttp()) }];
  try {
    const runs = servers.map(() => ({ down: [], up: [] }));
    for (let r = 0; r < RUNS; r++) {
      for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
        runs[i].down.push(await download(servers[i].port, MIB));
        runs[i].up.push(await upload(servers[i].port, MIB));
      }
    }
    return servers.map((s, i) => ({ name: s.name, down: median(runs[i].down), up: median(runs[i].up), downRuns: runs[i].down, upRuns: runs[i].up }));
  } finally {
    await Promise.all(servers.map((s) => stop(s.child)));
  }
}

async function websockets() {
  const argv = [path.join(root, 'dist/lib/cli.js'), '--bind', '127.0.0.1:0', '--threads', String(THREADS), '--thread-concurrency', String(SOCKETS), '--connections', String(SOCKETS + 100), path.join(root, 'test/fixtures/websocket.mjs')];
  const { child, port } = await startChild(argv, /listening on http:\/\/127\.0\.0\.1:(\d+)/);
  try {
    await new Promise((r) => setTimeout(r, 500));
    const before = rssMb(child.pid);
    const socks = await Promise.all(Array.from({ length: SOCKETS }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })));
    // One echo each, so every socket has carried a message both ways.
    await Promise.all(socks.map((ws, i) => new Promise((resolve) => {
      ws.once('message', resolve);
      ws.send(`hello ${i}`);
    })));
    await new Promise((r) => setTimeout(r, 500));
    const open = rssMb(child.pid);
    await Promise.all(socks.map((ws) => new Promise((resolve) => {
      ws.once('close', resolve);
      ws.close(1000);
    })));
    return { before, open, sockets: SOCKETS };
  } finally {
    await stop(child);
  }
}

const rows = await throughput();
const ws = await websockets();
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`\n${os.cpus().length} x ${cpu}, node ${process.version}; ${MIB} MiB each way, ${RUNS} runs (median), greenserve --threads ${THREADS}`);
console.log('| server | download MiB/s | upload MiB/s |\n|---|---:|---:|');
for (const r of rows) console.log(`| ${r.name} | ${r.down.toFixed(0)} | ${r.up.toFixed(0)} |`);
console.log(`| greenserve / node:http | ${(rows[0].down / rows[1].down).toFixed(2)} | ${(rows[0].up / rows[1].up).toFixed(2)} |`);
console.log(`runs: ${rows.map((r) => `${r.name} down [${r.downRuns.map((x) => x.toFixed(0)).join(', ')}] up [${r.upRuns.map((x) => x.toFixed(0)).join(', ')}]`).join('; ')}`);
console.log(`\nWebSockets: greenserve RSS ${ws.before.toFixed(1)} MiB idle, ${ws.open.toFixed(1)} MiB with ${ws.sockets} open sockets (+${((ws.open - ws.before) * 1024 / ws.sockets).toFixed(1)} KiB per socket)`);
