// --sticky through real sockets, --threads 4: express-session's in-memory store keeps every
// session of 200 concurrent clients with `cookie:connect.sid`; with `ip` a client's requests stay
// on one thread, wait for it while it is blocked (those already in its ring are taken back and
// come back to it, not to another thread), and move to another only when it is gone; behind a
// trusted proxy the client is the proxy's last X-Forwarded-For entry.
import t from 'tap';
import { fixture, parseResponses, rawExchange, runCli, startCli } from '../helpers.mjs';

const CLIENTS = 200;

/** GET `path` on 127.0.0.1:port with optional cookie; { status, body, cookie (connect.sid=... or null), ms }. */
async function get(port, path, cookie = null) {
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: cookie === null ? {} : { cookie } });
  const text = await res.text();
  const set = res.headers.getSetCookie().find((c) => c.startsWith('connect.sid='));
  return { status: res.status, text, cookie: set === undefined ? null : set.split(';')[0], ms: performance.now() - started };
}

/** Three rounds of CLIENTS concurrent requests, each client with its cookie: how many saw their count go on. */
async function sessions(port) {
  const clients = Array.from({ length: CLIENTS }, () => ({ cookie: null, views: 0, lost: 0 }));
  const threads = new Set();
  for (let round = 1; round <= 3; round++) {
    await Promise.all(clients.map(async (c) => {
      const r = await get(port, '/', c.cookie);
      const body = JSON.parse(r.text);
      threads.add(body.threadId);
      if (r.cookie !== null) c.cookie = r.cookie; // a new session: the previous one was not found
      if (body.views !== c.views + 1) c.lost++;
      c.views = body.views;
    }));
  }
  return { lost: clients.reduce((n, c) => n + c.lost, 0), kept: clients.filter((c) => c.lost === 0).length, threads };
}

t.test('express-session memory store, --sticky cookie:connect.sid: no session lost', { timeout: 60000 }, async (t) => {
  const s = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '4', '--sticky', 'cookie:connect.sid', fixture('session.mjs')]);
  const { lost, kept, threads } = await sessions(s.port);
  t.equal(lost, 0, `every one of ${CLIENTS} sessions kept over 3 rounds (${kept} kept)`);
  t.ok(threads.size > 1, `sessions spread over ${threads.size} threads`);
});

t.test('--sticky ip: one client, one thread; it waits for its blocked thread', { timeout: 60000 }, async (t) => {
  const s = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '4', '--sticky', 'ip', fixture('blocks.mjs')]);
  const thread = (r) => Number(r.text.split(' ')[1]);
  const first = await Promise.all(Array.from({ length: 40 }, () => get(s.port, '/')));
  const home = thread(first[0]);
  t.same(new Set(first.map(thread)), new Set([home]), `40 concurrent requests all on thread ${home}`);

  // Pipelined behind the blocking request on one connection: they reach its thread's ring with it
  // and are taken back once it counts as blocked (20 ms); they must come back to it, not go to a
  // free thread. Sent on other connections while it blocks: they wait pinned to it.
  const pipelined = 'GET /block?ms=2000 HTTP/1.1\r\nHost: x\r\n\r\n' + 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(7) +
    'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  const along = rawExchange(s.port, pipelined, { ms: 15000 });
  await new Promise((r) => setTimeout(r, 400)); // the block has begun (with a wide margin for a loaded machine)
  const after = await Promise.all(Array.from({ length: 8 }, () => get(s.port, '/')));
  const rs = parseResponses((await along).text);
  t.equal(rs.length, 9, 'the pipelined requests are all answered');
  t.match(rs[0]?.body, `blocked ${home}`, 'the blocking request ran on the home thread');
  t.same(new Set(rs.slice(1).map((r) => Number(r.body.split(' ')[1]))), new Set([home]), 'those taken back from it ran on it too');
  t.same(new Set(after.map(thread)), new Set([home]), 'those sent while it blocked waited for it');
  t.ok(after.every((r) => r.ms > 300), `each waited (${Math.round(Math.min(...after.map((r) => r.ms)))} ms at least)`);
});

t.test('--sticky ip: a key moves to another thread when its thread is gone', { timeout: 60000 }, async (t) => {
  const s = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '4', '--sticky', 'ip', fixture('crashes.mjs')]);
  const thread = (r) => Number(r.text.split(' ')[1]);
  const home = thread(await get(s.port, '/ok'));
  t.equal((await get(s.port, '/crash')).status, 502, 'the home thread crashes: its request gets 502');
  const next = await Promise.all(Array.from({ length: 10 }, () => get(s.port, '/ok')));
  t.ok(next.every((r) => r.status === 200), 'served after the crash');
  const moved = thread(next[0]);
  t.not(moved, home, `moved to thread ${moved}`);
  t.same(new Set(next.map(thread)), new Set([moved]), 'and stays there');
});

t.test('--sticky ip: a reload moves the requests waiting for a blocked old thread to a new one at once', { timeout: 60000 }, async (t) => {
  const s = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '2', '--sticky', 'ip', fixture('blocks.mjs')]);
  const thread = (r) => Number(r.text.split(' ')[1]);
  const home = thread(await get(s.port, '/'));
  const started = performance.now();
  const block = get(s.port, '/block?ms=5000');
  await new Promise((r) => setTimeout(r, 100));
  const waiting = Array.from({ length: 5 }, () => get(s.port, '/').then((r) => ({ ...r, at: performance.now() - started })));
  await new Promise((r) => setTimeout(r, 100));
  s.child.kill('SIGHUP'); // the old threads retire once the new ones are ready
  const rs = await Promise.all(waiting);
  t.ok(rs.every((r) => r.status === 200 && thread(r) !== home), `served by a new thread (${[...new Set(rs.map(thread))]}), not the blocked one (${home})`);
  t.ok(rs.every((r) => r.at < 4000), `before the block ended (at ${Math.round(Math.max(...rs.map((r) => r.at)))} ms at most)`);
  t.equal((await block).text, `blocked ${home}`, 'the blocked request finished on its thread');
});

t.test('--sticky ip behind a trusted proxy: the client is the last X-Forwarded-For entry', { timeout: 60000 }, async (t) => {
  const s = await startCli(t, ['--bind', '127.0.0.1:0', '--threads', '4', '--sticky', 'ip', '--forwarded-allow-ips', '127.0.0.1', fixture('blocks.mjs')]);
  const clients = Array.from({ length: 8 }, (_, i) => `203.0.113.${i + 1}`);
  const seen = await Promise.all(clients.flatMap((ip) => Array.from({ length: 5 }, async () => {
    const res = await fetch(`http://127.0.0.1:${s.port}/`, { headers: { 'x-forwarded-for': `198.51.100.7, ${ip}` } });
    return { ip, thread: Number((await res.text()).split(' ')[1]) };
  })));
  const byClient = new Map();
  for (const { ip, thread } of seen) byClient.set(ip, (byClient.get(ip) ?? new Set()).add(thread));
  t.ok([...byClient.values()].every((threads) => threads.size === 1), 'each client\'s 5 requests on one thread');
  const threads = new Set(seen.map((x) => x.thread));
  t.ok(threads.size > 1, `the 8 clients behind one proxy address are on ${threads.size} threads`);
});

t.test('a bad --sticky is a one-line error naming the setting, exit 2', { timeout: 20000 }, async (t) => {
  for (const [value, re] of [['sometimes', /must be off, ip, cookie:NAME or query:NAME/], ['cookie:', /cookie:NAME needs a cookie name/], ['query:a&b', /query:NAME needs a parameter name/]]) {
    const r = await runCli(['--sticky', value, fixture('echo.mjs')]);
    t.equal(r.code, 2, value);
    t.match(r.stderr, new RegExp(`^greenserve: error: --sticky: .*${re.source}`), value);
  }
});
