// The supervising parent of the `greenserve` command (--parent, on by default): the server
// process (acceptor and worker threads) runs as its child on sockets the parent bound; a child
// that dies without being asked to (an abort, kill -9) is logged and replaced at once, and
// connections made meanwhile wait in the listen backlog instead of being refused. Signals sent to
// the parent keep their meaning. Real processes, sockets and threads.
import net from 'node:net';
import t from 'tap';
import { delay, example, startCli, until } from '../helpers.mjs';

/** The JSON records on the CLI's stderr so far. */
function records(cli) {
  return cli.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

/** The pid of the process that serves (the one that wrote the last "listening on" line). */
function servingPid(cli) {
  const r = records(cli).filter((x) => String(x.msg).startsWith('listening on'));
  return r.at(-1)?.pid;
}

/** One GET over a new connection: the status line, or the connection error's code. */
function get(port, path = '/') {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    const timer = setTimeout(() => { s.destroy(); resolve('timeout'); }, 10000);
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    s.on('data', (c) => (data += c));
    s.on('end', () => { clearTimeout(timer); resolve(data.split('\r\n')[0]); });
    s.on('error', (err) => { clearTimeout(timer); resolve(err.code); });
  });
}

/** Kill the serving child with `signal`; a connection every 10 ms until a new child has served one. */
async function killAndProbe(t, cli, signal) {
  const pid = servingPid(cli);
  t.ok(pid !== undefined && pid !== cli.child.pid, `a child process (${pid}) serves, not the parent (${cli.child.pid})`);
  process.kill(pid, signal);
  const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
  const results = [];
  const started = Date.now();
  while (Date.now() - started < 8000) {
    // A connection the child accepted just before it died is cut with it: only those made once
    // it is gone must all be answered.
    const afterDeath = !alive();
    results.push(get(cli.port).then((status) => ({ status, afterDeath })));
    await delay(10);
    if (servingPid(cli) !== pid && results.length > 20) break;
  }
  const all = await Promise.all(results);
  t.notOk(all.some((r) => r.status === 'ECONNREFUSED'), `none of ${all.length} connections was refused`);
  const after = all.filter((r) => r.afterDeath).map((r) => r.status);
  t.ok(after.length >= 5, `${after.length} connections made after the child died`);
  t.same([...new Set(after)], ['HTTP/1.1 200 OK'], `all ${after.length} connections made after the death of the child were answered 200`);
  t.not(servingPid(cli), pid, 'a new child serves');
  return pid;
}

t.test('a child killed by SIGABRT, then one killed by SIGKILL: replaced at once, no connection refused', { timeout: 60000 }, async (t) => {
  const cli = await startCli(t, ['--threads', '1', '--bind', '127.0.0.1:0', '--log-format', 'json', example('hello.mjs')]);
  t.equal(await get(cli.port), 'HTTP/1.1 200 OK');
  const first = await killAndProbe(t, cli, 'SIGABRT');
  t.ok(await until(() => records(cli).some((r) => r.role === 'parent' && r.childPid === first && r.signal === 'SIGABRT')), 'the parent logs the death');
  const died = records(cli).find((r) => r.childPid === first && r.signal === 'SIGABRT');
  t.equal(died.level, 50, 'at level error');
  t.match(died.msg, new RegExp(`^server process ${first} died: killed by SIGABRT \\(.*\\); starting a new one now`));
  const second = await killAndProbe(t, cli, 'SIGKILL');
  t.ok(await until(() => records(cli).some((r) => r.childPid === second && r.signal === 'SIGKILL' && r.cause.startsWith('killed by SIGKILL'))), 'the SIGKILL is logged with its cause');
  // Signals keep their meaning: SIGTERM to the parent stops the server gracefully, exit 0.
  const exited = new Promise((resolve) => cli.child.once('exit', (code, signal) => resolve({ code, signal })));
  cli.child.kill('SIGTERM');
  t.same(await exited, { code: 0, signal: null }, 'SIGTERM: the parent exits 0');
  t.ok(records(cli).some((r) => r.msg === 'stopped' && r.pid === servingPid(cli)), 'the child stopped gracefully');
  t.equal(await get(cli.port), 'ECONNREFUSED', 'the port is closed');
});

t.test('SIGHUP to the parent reloads the child with zero downtime; SIGQUIT stops it', { timeout: 60000 }, async (t) => {
  const cli = await startCli(t, ['--threads', '1', '--bind', '127.0.0.1:0', '--log-format', 'json', example('hello.mjs')]);
  const pid = servingPid(cli);
  cli.child.kill('SIGHUP');
  t.ok(await until(() => records(cli).some((r) => String(r.msg).startsWith('reload done') && r.pid === pid)), 'the child reloaded');
  t.equal(servingPid(cli), pid, 'the same child serves');
  t.equal(await get(cli.port), 'HTTP/1.1 200 OK');
  const exited = new Promise((resolve) => cli.child.once('exit', (code, signal) => resolve({ code, signal })));
  cli.child.kill('SIGQUIT');
  t.same(await exited, { code: 0, signal: null }, 'SIGQUIT: exit 0');
});

t.test('the parent killed with SIGKILL: its child stops by itself', { timeout: 60000 }, async (t) => {
  const cli = await startCli(t, ['--threads', '1', '--bind', '127.0.0.1:0', '--log-format', 'json', example('hello.mjs')]);
  const pid = servingPid(cli);
  cli.child.kill('SIGKILL');
  const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
  t.ok(await until(() => !alive(), 15000), 'the orphaned child exits');
});

t.test('--no-parent: one process serves, as before', { timeout: 30000 }, async (t) => {
  const cli = await startCli(t, ['--no-parent', '--threads', '1', '--bind', '127.0.0.1:0', '--log-format', 'json', example('hello.mjs')]);
  t.equal(servingPid(cli), cli.child.pid, 'the command itself serves');
});
