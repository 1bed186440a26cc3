// --log-format: text for people on a terminal, JSON lines otherwise. The terminal is a real
// pseudo-terminal from util-linux script(1) (the test skips, saying so, where there is none):
// `auto` writes text there, from the acceptor and from the worker threads alike, ends the
// listening line with "press Ctrl+C to quit", and Ctrl+C typed on that terminal stops the server
// with a last "stopped" line. On a pipe `auto` keeps the JSON lines, and either format can be chosen.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { cliPath, fixture, until, fetchText as get } from '../helpers.mjs';

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
const TIME = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}`;
const app = fixture('log-format.mjs');

/** Start `args` under script(1): its pty's output (CRLF turned back to LF) in out(), its input to type(). */
function underTerminal(t, args) {
  const command = [process.execPath, cliPath, ...args].map((a) => `'${a}'`).join(' ');
  const term = spawn('script', ['-q', '-f', '-e', '-c', `exec ${command}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'] });
  let text = '';
  term.stdout.on('data', (c) => (text += c.toString('utf8')));
  const exited = new Promise((resolve) => term.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (term.exitCode === null) term.kill('SIGKILL');
  });
  return { out: () => text.replace(/\r\n/g, '\n'), type: (s) => term.stdin.write(s), exited };
}

/** Start `args` with stderr on a pipe. */
function piped(t, args) {
  const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  child.stderr.on('data', (c) => (text += c));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, out: () => text, exited };
}

const base = ['--bind', '127.0.0.1:0', '--threads', '1', app];

t.test('on a terminal: text from every thread, the Ctrl+C hint, and Ctrl+C stops it with a last line', { timeout: 60000, skip: hasScript ? false : 'needs util-linux script(1) for a pty' }, async (t) => {
  const term = underTerminal(t, base);
  const listening = new RegExp(String.raw`^${TIME} INFO  listening on http://127\.0\.0\.1:(\d+) \(press Ctrl\+C to quit\)$`, 'm');
  t.ok(await until(() => listening.test(term.out()), 15000), 'the listening line, as text with the hint', { output: term.out() });
  const port = Number(listening.exec(term.out())?.[1]);
  // The banner follows the listening line: it may still be on its way through the pty.
  const banner = new RegExp(String.raw`^${TIME} INFO  greenserve \d+\.\d+\.\d+ \(node v[\d.]+\): 1 threads, `, 'm');
  t.ok(await until(() => banner.test(term.out()), 5000), 'the banner line', { output: term.out() });
  t.equal((await get(port, '/throw')).status, 500);
  t.equal((await get(port, '/log')).body, 'ok');
  // Written by the worker thread: its slot, the handler error's request and stack below it.
  const failure = new RegExp(String.raw`^${TIME} ERROR \[worker \d+(?: request \S+)?\] handler threw: GET /throw\n    Error: format test failure\n        at logFormat \(`, 'm');
  t.ok(await until(() => failure.test(term.out()), 5000), 'a worker\'s error record: text, its stack indented below', { output: term.out() });
  const record = new RegExp(String.raw`^${TIME} INFO  \[worker \d+ app(?: request \S+)?\] order placed \{"orderId":42\}$`, 'm');
  t.ok(await until(() => record.test(term.out()), 5000), 'an app record: text, its own fields after the message', { output: term.out() });
  t.notMatch(term.out(), /^\{"level"/m, 'no JSON line');
  term.type('\x03'); // Ctrl+C on the terminal: SIGINT to the server, its foreground process
  const code = await Promise.race([term.exited, new Promise((r) => setTimeout(() => r('still running'), 15000))]);
  t.equal(code, 0, 'it stopped, exit status 0');
  t.match(term.out(), new RegExp(String.raw`\n${TIME} INFO  stopped\n*$`), 'its last line says it stopped');
});

t.test('on a terminal, --log-format json keeps JSON lines', { timeout: 60000, skip: hasScript ? false : 'needs util-linux script(1) for a pty' }, async (t) => {
  const term = underTerminal(t, ['--log-format', 'json', ...base]);
  const listening = /^\{.*"msg":"listening on http:\/\/127\.0\.0\.1:\d+ \(press Ctrl\+C to quit\)".*\}$/m;
  t.ok(await until(() => listening.test(term.out()), 15000), 'the listening record, JSON, with the hint (stderr is a terminal)', { output: term.out() });
  t.match(JSON.parse(listening.exec(term.out())[0]), { level: 30, thread: 0, address: /^http:\/\/127\.0\.0\.1:\d+$/ });
  term.type('\x03');
  t.equal(await Promise.race([term.exited, new Promise((r) => setTimeout(() => r('still running'), 15000))]), 0, 'Ctrl+C stopped it');
  const last = term.out().trim().split('\n').at(-1);
  t.match(JSON.parse(last), { level: 30, msg: 'stopped' }, 'the last record says it stopped');
});

t.test('on a pipe: JSON lines by default, no Ctrl+C hint, a last "stopped" record', { timeout: 60000 }, async (t) => {
  const srv = piped(t, base);
  t.ok(await until(() => /listening on http/.test(srv.out()), 15000), 'started', { output: srv.out() });
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)"/.exec(srv.out())?.[1]);
  t.equal((await get(port, '/throw')).status, 500);
  t.ok(await until(() => srv.out().includes('handler threw'), 5000), 'the worker\'s record came');
  srv.child.kill('SIGTERM');
  t.equal(await srv.exited, 0);
  const records = srv.out().trim().split('\n').map((l) => JSON.parse(l)); // every line is JSON
  t.match(records.find((r) => r.msg.startsWith('listening on')), { level: 30, thread: 0, msg: `listening on http://127.0.0.1:${port}` }, 'no hint');
  t.match(records.find((r) => r.msg === 'handler threw'), { level: 50, worker: Number, method: 'GET', url: '/throw', err: { message: 'format test failure' } });
  t.match(records.at(-1), { level: 30, thread: 0, msg: 'stopped' }, 'the last record');
});

t.test('on a pipe, --log-format text writes text; a bad GREENSERVE_LOG_FORMAT is a usage error', { timeout: 60000 }, async (t) => {
  const srv = piped(t, ['--log-format', 'text', ...base]);
  const listening = new RegExp(String.raw`^${TIME} INFO  listening on http://127\.0\.0\.1:(\d+)$`, 'm');
  t.ok(await until(() => listening.test(srv.out()), 15000), 'the listening line as text, no hint (not a terminal)', { output: srv.out() });
  const port = Number(listening.exec(srv.out())[1]);
  t.equal((await get(port, '/throw')).status, 500);
  t.ok(await until(() => /^\S+ \S+ ERROR \[worker \d+(?: request \S+)?\] handler threw: GET \/throw\n {4}Error: format test failure\n/m.test(srv.out()), 5000), 'a worker writes text too', { output: srv.out() });
  srv.child.kill('SIGTERM');
  t.equal(await srv.exited, 0);
  t.match(srv.out(), new RegExp(String.raw`\n${TIME} INFO  stopped\n$`));

  const bad = spawnSync(process.execPath, [cliPath, ...base], { env: { ...process.env, GREENSERVE_LOG_FORMAT: 'yaml' }, encoding: 'utf8', timeout: 15000 });
  t.equal(bad.status, 2, 'an unknown format is a usage error');
  t.match(bad.stderr, /GREENSERVE_LOG_FORMAT/);
});
