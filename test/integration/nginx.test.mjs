// Scale-out behind nginx: examples/deploy/nginx.conf (ports and paths replaced) on loopback in
// front of two greenserve instances (the CLI, serving examples/notes on one SQLite file), with
// load through nginx: reads and writes from 16 keep-alive clients. One test stops an instance
// with SIGTERM mid-run: no request may fail, and the other instance then serves everything. The
// other restarts both instances one at a time under load (a rolling restart): no request may
// fail. Skips, saying why, where nginx is not installed (.ci/run installs Debian's package).
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { example, startCli, until } from '../helpers.mjs';

function findNginx() {
  for (const bin of ['nginx', '/usr/sbin/nginx', '/usr/local/sbin/nginx']) {
    const r = spawnSync(bin, ['-v'], { encoding: 'utf8' });
    if (r.status === 0) return { bin, version: r.stderr.trim() };
  }
  return null;
}
const nginx = findNginx();
const skip = nginx === null ? 'nginx is not installed (Debian: apt-get install nginx; .ci/run installs it)' : false;

const CLIENTS = 16;
/** greenserve's --graceful-timeout for these instances (the deploy examples use 30 s). */
const GRACEFUL_S = 10;

/** A port free on 127.0.0.1 now (nginx needs concrete upstream ports, not 0). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** examples/deploy/nginx.conf with this test's ports, in a main config whose files all live in `dir`. */
function nginxConfig(dir, listen, upstreams) {
  const replace = (text, from, to) => {
    if (text.split(from).length !== 2) throw new Error(`examples/deploy/nginx.conf: expected "${from}" once`);
    return text.replace(from, to);
  };
  let site = readFileSync(example('deploy/nginx.conf'), 'utf8');
  site = replace(site, 'server 127.0.0.1:8001 ', `server 127.0.0.1:${upstreams[0]} `);
  site = replace(site, 'server 127.0.0.1:8002 ', `server 127.0.0.1:${upstreams[1]} `);
  site = replace(site, 'listen 80;', `listen 127.0.0.1:${listen};`);
  // Which instance answered (a retried request lists every one tried: "A, B").
  site = replace(site, 'proxy_pass http://greenserve;', 'proxy_pass http://greenserve;\n        add_header X-Upstream $upstream_addr always;');
  const tmp = path.join(dir, 'tmp');
  mkdirSync(tmp);
  return [
    // As root, nginx would run its workers as "nobody", which cannot read this test's directory.
    process.getuid?.() === 0 ? 'user root;' : '',
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log info;`,
    'events { worker_connections 1024; }',
    'http {',
    `  access_log ${dir}/access.log;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${tmp}/${k};`),
    site,
    '}',
  ].join('\n');
}

async function startNginx(t, dir, listen, upstreams) {
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, listen, upstreams));
  const child = spawn(nginx.bin, ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM'); // nginx: fast shutdown
      await exited;
    }
  });
  const up = await until(async () => child.exitCode === null && (await canConnect(listen)), 10000);
  if (!up) throw new Error(`nginx did not start: ${stderr}${readLog(dir)}`);
  return child;
}

function readLog(dir) {
  try {
    return readFileSync(path.join(dir, 'error.log'), 'utf8');
  } catch {
    return '';
  }
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/** One greenserve instance through the CLI, on a fixed port (nginx's upstream). */
async function startInstance(t, port, db) {
  const args = ['--bind', `127.0.0.1:${port}`, '--threads', '2', '--graceful-timeout', String(GRACEFUL_S), example('notes/app.mjs')];
  const srv = await startCli(t, args, { env: { NOTES_DB: db } });
  srv.exited = new Promise((resolve) => srv.child.on('exit', (code, signal) => resolve({ code, signal })));
  return srv;
}

/**
 * Load through nginx: CLIENTS loops, each sending its next request when the previous one is
 * answered, on keep-alive connections; 3 of 4 requests read (GET), 1 writes (POST). Every answer
 * is recorded with the instance that gave it; any error or non-2xx status is a failure.
 */
function startLoad(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const results = [];
  let stopped = false;
  let n = 0;
  const one = () => new Promise((resolve) => {
    const i = n++;
    const write = i % 4 === 3;
    const body = write ? JSON.stringify({ title: `load ${i}`, body: 'written through nginx' }) : undefined;
    const started = Date.now();
    const req = http.request({
      host: '127.0.0.1', port, agent, method: write ? 'POST' : 'GET', path: write ? '/api/notes' : '/api/notes?limit=5', timeout: 15000,
      headers: write ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ i, started, ended: Date.now(), status: res.statusCode, upstream: res.headers['x-upstream'] ?? '', write }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 15 s')));
    req.on('error', (err) => resolve({ i, started, ended: Date.now(), status: 0, error: err.message, upstream: '', write }));
    req.end(body);
  });
  const loops = Array.from({ length: CLIENTS }, async () => {
    while (!stopped) results.push(await one());
  });
  return {
    results,
    /** Answers whose last instance tried was `port` (a retried request counts for the one that answered). */
    servedBy: (upstreamPort, since = 0) => results.filter((r) => r.ended >= since && r.status !== 0 && r.upstream.endsWith(`:${upstreamPort}`)).length,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

const failuresOf = (results) => results.filter((r) => r.status < 200 || r.status > 299);

/** On a failure: what nginx logged about the instances, and what the instances logged above info. */
function diagnose(t, dir, instances) {
  const nginxLines = readLog(dir).split('\n').filter((l) => /\[(error|warn)\].*upstream/.test(l)).slice(0, 20);
  t.comment(`nginx error log:\n${nginxLines.join('\n')}`);
  for (const srv of instances) t.comment(srv.stderr().split('\n').filter((l) => l !== '' && !/"level":30/.test(l)).slice(-10).join('\n'));
}

/** What nginx met on the instances: refused connections (retried for any method) and connections reset or closed under a sent request. */
function upstreamEvents(dir) {
  const log = readLog(dir);
  const count = (re) => log.split('\n').filter((l) => re.test(l)).length;
  return `nginx saw ${count(/\[error\].*Connection refused/)} refused connections and ${count(/\[error\].*(reset by peer|prematurely closed)/)} connections reset or closed under a request`;
}

/** An instance's exit after SIGTERM: within its graceful timeout, with a margin for a loaded machine. */
async function stopInstance(t, srv, label) {
  srv.child.kill('SIGTERM');
  const timeout = new Promise((resolve) => setTimeout(resolve, (GRACEFUL_S + 20) * 1000, 'still running'));
  const exit = await Promise.race([srv.exited, timeout]);
  t.same(exit, { code: 0, signal: null }, `${label} stopped: exit 0 within --graceful-timeout`);
  if (exit === 'still running') t.comment(srv.stderr().split('\n').slice(-15).join('\n'));
}
const describeFailures = (failed) => failed.slice(0, 5).map((r) => `#${r.i} ${r.write ? 'POST' : 'GET'}: ${r.status || r.error} via ${r.upstream || '-'}`).join('; ');

async function setup(t) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-nginx-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [listen, a, b] = [await freePort(), await freePort(), await freePort()];
  const db = path.join(dir, 'notes.db');
  const instances = [await startInstance(t, a, db), await startInstance(t, b, db)];
  await startNginx(t, dir, listen, [a, b]);
  return { dir, listen, ports: [a, b], db, instances };
}

t.test(`SIGTERM to one instance under load: no request fails, the other serves everything (${nginx?.version ?? 'no nginx'})`, { timeout: 120000, skip }, async (t) => {
  const { dir, listen, ports: [a, b], instances } = await setup(t);
  const [first] = instances;
  const load = startLoad(listen);
  t.teardown(() => load.stop());
  t.ok(await until(() => load.servedBy(a) >= 100 && load.servedBy(b) >= 100, 30000), 'both instances serve through nginx');

  await stopInstance(t, first, 'instance 1');
  const gone = Date.now();
  const after = () => load.results.filter((r) => r.started > gone);
  t.ok(await until(() => after().length >= 500, 30000), 'the load goes on');
  await load.stop();

  const failed = failuresOf(load.results);
  t.equal(failed.length, 0, `failed requests: ${failed.length} of ${load.results.length} (${describeFailures(failed)})`);
  if (failed.length > 0) diagnose(t, dir, instances);
  const later = after();
  t.ok(later.length >= 500, `${later.length} requests sent after the instance stopped`);
  t.equal(later.filter((r) => !r.upstream.endsWith(`:${b}`)).length, 0, 'every one of them answered by the remaining instance');
  const retried = load.results.filter((r) => r.upstream.includes(','));
  t.comment(`${load.results.length} requests, ${load.results.filter((r) => r.write).length} writes, ${retried.length} retried by nginx on the other instance, ${failed.length} failed; ${upstreamEvents(dir)}`);
});

t.test('rolling restart of both instances under load: no request fails', { timeout: 180000, skip }, async (t) => {
  const { dir, listen, ports, db, instances } = await setup(t);
  const load = startLoad(listen);
  t.teardown(() => load.stop());
  t.ok(await until(() => load.servedBy(ports[0]) >= 100 && load.servedBy(ports[1]) >= 100, 30000), 'both instances serve through nginx');

  for (const k of [0, 1]) {
    await stopInstance(t, instances[k], `instance ${k + 1}`);
    instances[k] = await startInstance(t, ports[k], db);
    const back = Date.now();
    // nginx skips a failed instance for fail_timeout (5 s), then tries it again: wait until the
    // new process takes requests before stopping the next one, as a rolling restart must.
    t.ok(await until(() => load.servedBy(ports[k], back) >= 50, 30000), `instance ${k + 1} restarted and serving again`);
  }
  await load.stop();

  const failed = failuresOf(load.results);
  t.equal(failed.length, 0, `failed requests: ${failed.length} of ${load.results.length} (${describeFailures(failed)})`);
  if (failed.length > 0) diagnose(t, dir, instances);
  const retried = load.results.filter((r) => r.upstream.includes(','));
  t.comment(`${load.results.length} requests, ${load.results.filter((r) => r.write).length} writes, ${retried.length} retried by nginx on the other instance, ${failed.length} failed; ${upstreamEvents(dir)}`);
});
