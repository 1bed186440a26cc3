// The CLI's standard error and output lose their reader: the terminal it was started in is closed
// (a pty whose master side goes away: writes fail with EIO, and the session gets SIGHUP, which
// greenserve takes as a reload, like gunicorn), or the pipe it logs into is closed (EPIPE). The
// server must go on serving, reload on that SIGHUP, drop its log lines quietly, and still stop
// promptly on SIGTERM (SIGQUIT in the pipe test). The pty comes from util-linux `script`; the
// test skips, saying so, where there is none.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath, delay, fixture, until } from '../helpers.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-terminal-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
const noProc = existsSync('/proc/self/stat') ? false : 'reads the server\'s CPU time and state in /proc';

/** Whether `pid` still runs: a zombie has ended (once script(1) is gone, init reaps it, in its own time). */
function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Whether `pid` has ended within `ms` (it need not be our child). */
async function endsWithin(pid, ms) {
  return until(() => !alive(pid), ms);
}

/** CPU time (user + system, in clock ticks) the process has used so far. */
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

async function version(port, target = '/') {
  const res = await fetch(`http://127.0.0.1:${port}${target}`, { signal: AbortSignal.timeout(2000) });
  return (await res.text()).split(' ')[0];
}

/**
 * Read `stream` until the banner's address and pid have gone by; resolves { port, pid }.
 * (A pty turns LF into CRLF: only the JSON fields are matched.)
 */
function banner(stream, ms = 15000) {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no banner within ${ms} ms: ${text}`)), ms);
    stream.on('data', (c) => {
      text += c;
      const m = /"pid":(\d+)[^\n]*listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve({ pid: Number(m[1]), port: Number(m[2]) });
      }
    });
  });
}

/**
 * The test proper, once the server's standard streams are gone: the SIGHUP reloads (the new
 * version answers), the server does not spin on a write that cannot succeed, and SIGTERM stops it.
 */
async function afterLoss(t, { pid, port, file, hup, stop = 'SIGTERM' }) {
  writeFileSync(file, 'v2');
  hup();
  const reloaded = await until(async () => (await version(port).catch(() => null)) === 'v2', 8000);
  t.ok(reloaded, 'the SIGHUP reloaded the app: the new version answers');
  if (reloaded) {
    let served = 0;
    while (served < 20 && (await version(port, `/?say=line-${served}`).catch(() => null)) === 'v2') served++;
    t.equal(served, 20, 'it goes on serving, the app writing to its stdout and stderr');
  }
  if (!alive(pid)) return t.fail('the server ended by itself (a write error killed it)');
  // A write retried in a loop keeps the process busy every second; the reload's worker starts
  // and retirements (100-300 ms of CPU on Node 24, some still under way when v2 first answers)
  // do not. So the quietest of up to five seconds counts.
  let ticks = Infinity;
  for (let i = 0; i < 5 && ticks >= 5; i++) {
    const before = cpuTicks(pid);
    await new Promise((r) => setTimeout(r, 1000));
    ticks = Math.min(ticks, cpuTicks(pid) - before);
  }
  t.ok(ticks < 5, `idle: ${ticks} clock ticks of CPU in the quietest second (no write retried in a loop)`);
  const started = Date.now();
  process.kill(pid, stop);
  t.ok(await endsWithin(pid, 5000), `${stop} stopped it (${Date.now() - started} ms)`);
}

t.test('a closed terminal: SIGHUP reloads, logging gives up quietly, SIGTERM still stops the server', { timeout: 60000, skip: noProc || (hasScript ? false : 'needs util-linux script(1) for a pty') }, async (t) => {
  const file = path.join(dir, 'pty-version.txt');
  writeFileSync(file, 'v1');
  // script(1) runs the command as the session leader of a new pty; its output comes to us. The
  // access log goes to the terminal too (stdout). JSON records, not the terminal's text, to read
  // the server's pid from the banner.
  const command = [process.execPath, cliPath, '--bind', '127.0.0.1:0', '--threads', '1', '--log-format', 'json', '--access-log', '-', fixture('versioned.mjs')]
    .map((a) => `'${a}'`).join(' ');
  const term = spawn('script', ['-q', '-f', '-e', '-c', `exec ${command}`, '/dev/null'], { env: { ...process.env, GS_VERSION_FILE: file }, stdio: ['pipe', 'pipe', 'ignore'] });
  let pid = 0;
  t.teardown(() => {
    if (pid !== 0 && alive(pid)) process.kill(pid, 'SIGKILL');
    if (term.exitCode === null) term.kill('SIGKILL');
  });
  const b = await banner(term.stdout);
  pid = b.pid;
  t.equal(await version(b.port), 'v1');
  // Closing the terminal: the pty's master side goes away with script(1); the kernel sends the
  // session SIGHUP, and every later write to the terminal fails with EIO.
  await afterLoss(t, { pid, port: b.port, file, hup: () => term.kill('SIGKILL') });
});

t.test('a closed pipe on stdout and stderr: SIGHUP reloads, SIGQUIT still stops the server', { timeout: 60000, skip: noProc }, async (t) => {
  const file = path.join(dir, 'pipe-version.txt');
  writeFileSync(file, 'v1');
  const child = spawn(process.execPath, [cliPath, '--bind', '127.0.0.1:0', '--threads', '1', '--access-log', '-', fixture('versioned.mjs')], {
    env: { ...process.env, GS_VERSION_FILE: file },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const b = await banner(child.stderr);
  t.equal(await version(b.port), 'v1');
  child.stdout.destroy(); // the reader goes away: writes fail with EPIPE
  child.stderr.destroy();
  await afterLoss(t, { pid: b.pid, port: b.port, file, hup: () => child.kill('SIGHUP'), stop: 'SIGQUIT' });
  t.same(await Promise.race([exited, delay(5000).then(() => 'still running')]), { code: 0, signal: null }, 'exit 0');
});
