// Apps that call listen() themselves, served as node:cluster serves them (decision 0016): in each
// worker the server the app listens with becomes the app, on greenserve's --bind; its own port
// is never opened, the log says so once, no worker dies of EADDRINUSE. A CommonJS app is
// require()d, so `if (!module.parent)` and `if (require.main === module)` skip their listen() and
// the export is used. Real express, koa, socket.io; --threads 4.
import t from 'tap';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { io } from 'socket.io-client';
import { fixture, runCli, startCli } from '../helpers.mjs';

/** A port nothing listens on now (the app is told to listen there; it must stay closed). */
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The TCP ports process `pid` listens on (Linux /proc), or null where that cannot be read. */
function listeningPorts(pid) {
  let fds;
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return null;
  }
  const inodes = new Set();
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  const ports = [];
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try { text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A' && inodes.has(cols[9])) ports.push(parseInt(cols[1].split(':')[1], 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

const refused = (port) => new Promise((resolve) => {
  const s = net.connect(port, '127.0.0.1');
  s.on('connect', () => { s.destroy(); resolve(false); });
  s.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
});

/** Start the CLI on the app with --threads 4, the app told to listen on a free port of its own. */
async function start(t, app, threads = 4) {
  const appPort = await freePort();
  const cli = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', String(threads), app], { env: { APP_PORT: String(appPort) } });
  await new Promise((r) => setTimeout(r, 100)); // a listen callback's output, if any
  return { ...cli, appPort };
}

/** GET / n times; the JSON bodies. */
async function gets(port, n = 16) {
  return Promise.all(Array.from({ length: n }, async () => (await fetch(`http://127.0.0.1:${port}/`)).json()));
}

/** The greenserve log records (JSON lines) on stderr. */
const records = (stderr) => stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

async function checkServed(t, s, hello) {
  const bodies = await gets(s.port);
  t.ok(bodies.every((b) => b.hello === hello), `served on --bind: ${hello}`);
  const ports = listeningPorts(s.child.pid);
  if (ports !== null) t.same(ports, [s.port], 'the process listens on --bind only');
  t.ok(await refused(s.appPort), `the app's own port ${s.appPort} is not open`);
  const log = records(s.stderr());
  t.notOk(log.some((r) => /crash|exited|EADDRINUSE/i.test(`${r.msg} ${r.err?.message ?? ''}`)), 'no worker died or restarted');
  t.match(log.find((r) => /greenserve .*: 4 threads/.test(r.msg))?.msg ?? '', /4 threads/, '4 threads booted');
  return { bodies, log };
}

t.test('Express and Koa hello worlds that listen: served on --bind', { timeout: 60000 }, async (t) => {
  for (const [app, hello, kind] of [['express-hello.js', 'express', /Express app/], ['koa-hello.js', 'koa', /function with 2 parameter/]]) {
    const s = await start(t, fixture(`listen/${app}`));
    const { bodies, log } = await checkServed(t, s, hello);
    t.ok(bodies.every((b) => b.parent === true), `${app}: module.parent is set (it is required)`);
    const notes = log.filter((r) => /^the app calls/.test(r.msg));
    t.equal(notes.length, 1, `${app}: the log says so once`);
    t.match(notes[0]?.msg, new RegExp(`^the app calls listen\\(${s.appPort}\\): its own address is ignored, greenserve serves it on --bind$`));
    t.match(notes[0]?.app, kind);
    s.child.kill('SIGKILL');
  }
});

t.test('the module.parent and require.main guards skip listen(): the export is served', { timeout: 60000 }, async (t) => {
  for (const [app, hello, detail] of [
    ['express-guard.js', 'express, guarded', /^default export: node request listener \(Express app\)$/],
    ['koa-guard.js', 'koa, guarded', /^default export: node request listener \(Koa app\)$/],
    ['require-main.js', 'node:http, require.main', /^default export: node request listener \(function with 2 parameter/],
  ]) {
    const s = await start(t, fixture(`listen/${app}`));
    const { bodies, log } = await checkServed(t, s, hello);
    if (app !== 'require-main.js') t.ok(bodies.every((b) => b.parent === true), `${app}: module.parent is set`);
    else t.ok(bodies.every((b) => b.main === false), `${app}: require.main is not the module`);
    t.notMatch(s.stderr(), /started on port|its own address is ignored/, `${app}: it did not listen`);
    const banner = log.find((r) => /greenserve .*: 4 threads/.test(r.msg));
    t.match(banner?.interface, detail, `${app}: ${banner?.interface}`);
    s.child.kill('SIGKILL');
  }
});

t.test('an ES module app that listens; server.address() gives --bind', { timeout: 30000 }, async (t) => {
  const s = await start(t, fixture('listen-esm.mjs'));
  const { bodies } = await checkServed(t, s, 'express, ES module');
  t.same(bodies[0].address, { address: '127.0.0.1', family: 'IPv4', port: 0 }, 'the address as --bind gives it');
});

t.test('an app that exports nothing and listens later', { timeout: 30000 }, async (t) => {
  const s = await start(t, fixture('listen/listens-later.js'));
  await checkServed(t, s, 'listened after connecting');
});

t.test('socket.io on the server that listens: WebSockets on every worker', { timeout: 60000 }, async (t) => {
  const s = await start(t, fixture('listen/socketio.js'));
  await checkServed(t, s, 'express beside socket.io');
  const clients = Array.from({ length: 8 }, () => io(`http://127.0.0.1:${s.port}`, { transports: ['websocket'], reconnection: false, timeout: 5000 }));
  t.teardown(() => clients.forEach((c) => c.close()));
  const acks = await Promise.all(clients.map(async (c, i) => {
    await new Promise((resolve, reject) => { c.once('connect', resolve); c.once('connect_error', reject); });
    return c.timeout(5000).emitWithAck('ping', `n${i}`);
  }));
  t.same(acks.map((a) => a.pong), clients.map((_, i) => `n${i}`), 'every client is answered over its WebSocket');
  t.ok(new Set(acks.map((a) => a.threadId)).size > 1, `served by ${new Set(acks.map((a) => a.threadId)).size} workers`);
});

t.test('socket.io with its default transports (long-polling first) on one worker', { timeout: 30000 }, async (t) => {
  const s = await start(t, fixture('listen/socketio.js'), 1);
  const c = io(`http://127.0.0.1:${s.port}`, { reconnection: false, timeout: 5000 });
  t.teardown(() => c.close());
  await new Promise((resolve, reject) => { c.once('connect', resolve); c.once('connect_error', reject); });
  t.same((await c.timeout(5000).emitWithAck('ping', 'polled')).pong, 'polled');
});

t.test('two servers that listen: a clear error, exit 3', { timeout: 20000 }, async (t) => {
  const r = await runCli(['--bind', '127.0.0.1:0', '--threads', '2', fixture('listen/two-servers.js')]);
  t.equal(r.code, 3);
  t.match(r.stderr, /GS_ERR_APP_SHAPE: app .*two-servers\.js: the app calls listen\(\) on two servers \(listen\(3000\), then listen\(3001\)\)/);
});
