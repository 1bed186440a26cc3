// The examples answer as their comments document: examples/hello.mjs (through the CLI, as its
// comment runs it) and examples/blocking.mjs.
import t from 'tap';
import { example, startCli, startServer, fetchText as get } from '../helpers.mjs';

/** Resolves once some worker publishes that it is running a handler (bounded). */
async function untilRunning(handle, ms = 5000) {
  const deadline = Date.now() + ms;
  const running = () => handle.stats().workers.some((w) => w.state === 'running');
  while (!running() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  return running();
}

t.test('hello.mjs through the CLI: "Hello, World!"', { timeout: 20000 }, async (t) => {
  const srv = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '2', '--connections', '1000', example('hello.mjs')]);
  for (const path of ['/', '/any/path?x=1']) {
    const r = await get(srv.url, path);
    t.equal(r.status, 200, path);
    t.equal(r.headers.get('content-type'), 'text/plain');
    t.equal(r.body, 'Hello, World!');
  }
  const many = await Promise.all(Array.from({ length: 20 }, () => get(srv.url, '/')));
  t.ok(many.every((r) => r.status === 200 && r.body === 'Hello, World!'), '20 concurrent requests');
  const exited = new Promise((resolve) => srv.child.on('exit', (code, signal) => resolve({ code, signal })));
  srv.child.kill('SIGTERM');
  t.same(await exited, { code: 0, signal: null }, 'SIGTERM stops it cleanly');
});

t.test('blocking.mjs: /, /block?ms=, /cpu?ms= answer as documented', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app: example('blocking.mjs'), threads: 2 });
  t.match(h.app, /node request listener/);
  for (const path of ['/', '/anything/else?ms=5']) {
    const r = await get(h.url, path);
    t.same([r.status, r.body], [200, 'hello'], path);
  }
  const block = await get(h.url, '/block?ms=50');
  t.same([block.status, block.body], [200, 'blocked 50ms']);
  t.ok(block.ms >= 49, `/block?ms=50 took ${block.ms.toFixed(1)} ms`);
  const cpu = await get(h.url, '/cpu?ms=50');
  t.same([cpu.status, cpu.body], [200, 'busy 50ms']);
  t.ok(cpu.ms >= 49, `/cpu?ms=50 took ${cpu.ms.toFixed(1)} ms`);
  const dflt = await get(h.url, '/block');
  t.equal(dflt.body, 'blocked 50ms', 'ms defaults to 50');
});

for (const path of ['/block?ms=2000', '/cpu?ms=2000']) {
  t.test(`blocking.mjs: while ${path} holds one thread, the other answers /`, { timeout: 20000 }, async (t) => {
    const h = await startServer(t, { app: example('blocking.mjs'), threads: 2 });
    let blockedDone = false;
    const blocked = get(h.url, path).then((r) => { blockedDone = true; return r; });
    // Handshake: the control block shows a worker inside the blocking handler.
    t.ok(await untilRunning(h), 'a worker is running the blocking request');
    for (let i = 0; i < 5; i++) {
      const r = await get(h.url, `/?i=${i}`);
      t.same([r.status, r.body], [200, 'hello'], `/ #${i}`);
    }
    t.notOk(blockedDone, 'every / was answered while the blocking request was still running');
    const b = await blocked;
    t.equal(b.status, 200);
    t.ok(b.ms >= 1999, `${path} took its ${b.ms.toFixed(0)} ms`);
  });
}
