// Harness side of the connection tests: the header-trickling clients that run alongside a
// `hello` sample, and the idle keep-alive test. Both client sets run in a child process
// (slow-clients.mjs, idle-clients.mjs) so their sockets and timers stay off the harness's event
// loop; their CPU time is read from /proc and reported with the load generator's.
import { fork, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readStat, treeRssKb, treeThreads } from './proc.mjs';
import { probe } from './servers.mjs';

const SLOW = fileURLToPath(new URL('./slow-clients.mjs', import.meta.url));
const IDLE = fileURLToPath(new URL('./idle-clients.mjs', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The next IPC message of `type` from child, or rejects after ms (or if the child exits). */
function nextMessage(child, type, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no '${type}' from ${child.spawnargs[1]} in ${ms} ms`)), ms);
    const onMessage = (m) => { if (m?.type === type) done(null, m); };
    const onExit = (code) => done(new Error(`${child.spawnargs[1]} exited (${code}) before '${type}'`));
    function done(err, m) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err); else resolve(m);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

const TRICKLE_INTERVAL_MS = 500;

/**
 * Starts `count` header-trickling clients against port and waits until they are connected.
 * Returns { connected, cpuS(), stop() -> stats }.
 */
export async function startSlowClients(port, count, path) {
  const child = fork(SLOW, [String(port), String(count), String(TRICKLE_INTERVAL_MS), path], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { connected } = await nextMessage(child, 'ready', 10_000);
  await sleep(200); // let the first bytes of every client arrive
  return {
    connected,
    cpuS: () => readStat(child.pid)?.cpuS ?? 0,
    async stop() {
      const stats = nextMessage(child, 'stats', 5_000);
      child.send('stop');
      try {
        return await stats;
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  };
}

/**
 * The idle-connection test on a started server: its RSS before, then while holding `count`
 * keep-alive connections that each made one request, and how long one more request takes then.
 */
export async function idleTest(server, count, path) {
  await probe(server.port, { path });
  await sleep(500);
  const rssBeforeKb = treeRssKb(server.pid);
  const threadsBefore = treeThreads(server.pid);
  const child = fork(IDLE, [String(server.port), String(count), path], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const ready = await nextMessage(child, 'ready', 120_000);
    await sleep(1_000);
    const rssA = treeRssKb(server.pid);
    const t0 = performance.now();
    const answer = await probe(server.port, { path });
    const probeMs = performance.now() - t0;
    await sleep(1_000);
    const rssHeldKb = Math.max(rssA, treeRssKb(server.pid));
    // More threads while holding them (greenserve's elastic workers, started by the burst of
    // requests) show in the RSS too: not memory the connections themselves hold.
    const threadsHeld = treeThreads(server.pid);
    child.send('check');
    const status = await nextMessage(child, 'status', 5_000);
    return {
      target: count, opened: ready.opened, failed: ready.failed, openMs: ready.ms,
      openAtMeasure: status.open, closedByServer: status.closedByServer,
      rssBeforeKb, rssHeldKb, threadsBefore, threadsHeld,
      kbPerConn: status.open > 0 ? (rssHeldKb - rssBeforeKb) / status.open : null,
      probeMs, probeStatus: answer.status,
    };
  } finally {
    child.send('stop');
    await sleep(200);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/**
 * `count` processes that each spin one core (a busy neighbour: another service, a build, a test
 * run on the same machine). Returns { cpuS(), stop() }.
 */
export async function startCpuHogs(count) {
  const hogs = Array.from({ length: count }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  await sleep(300);
  return {
    cpuS: () => hogs.reduce((n, h) => n + (readStat(h.pid)?.cpuS ?? 0), 0),
    stop: () => { for (const h of hogs) h.kill('SIGKILL'); },
  };
}
