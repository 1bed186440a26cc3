// docs/frameworks.md holds when tried: every code block there that follows a `doc-test` comment is
// saved as the file the comment names, in a fresh directory that sees this repository's
// node_modules (where Express, Koa, Fastify, Hono and tsx are installed as dev dependencies), and
// served by the CLI from that directory, as a reader would run it; the answer to the comment's
// GET must be its body, exactly, and the error log must hold the comment's `log` text if it has one.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath, root } from '../helpers.mjs';

const doc = readFileSync(path.join(root, 'docs', 'frameworks.md'), 'utf8');
const cases = [...doc.matchAll(/<!-- doc-test: (\{.*\}) -->\n```\w+\n([\s\S]*?)\n```/g)].map((m) => ({ ...JSON.parse(m[1]), code: `${m[2]}\n` }));
const markers = doc.match(/<!-- doc-test:/g)?.length ?? 0;

t.equal(cases.length, markers, 'every doc-test comment is followed by its code block');
t.ok(cases.length >= 7, `the examples are found (${cases.length})`);

/** Run the CLI on `file` in `cwd`; resolves the URL once it listens. */
function start(t, cwd, file, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, '--bind', '127.0.0.1:0', '--threads', '2', '--log-format', 'json', file], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`did not start: ${stderr}`)), 20000);
    child.stderr.on('data', (c) => {
      stderr += c;
      const m = /listening on (http:\/\/[^\s"]+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], child, stderr: () => stderr });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code}: ${stderr}`));
    });
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
  });
}

for (const c of cases) {
  t.test(`${c.file}: GET ${c.get}${c.nodeOptions ? ` (NODE_OPTIONS=${c.nodeOptions})` : ''}`, { timeout: 60000 }, async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-doc-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    writeFileSync(path.join(dir, c.file), c.code);
    const env = { ...process.env };
    if (c.nodeOptions) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} ${c.nodeOptions}`.trim();
    const srv = await start(t, dir, c.file, env);
    const res = await fetch(new URL(c.get, srv.url), { signal: AbortSignal.timeout(10000) });
    t.equal(res.status, 200);
    t.equal(await res.text(), c.body, 'the answer the comment gives');
    const exited = new Promise((r) => srv.child.on('exit', r));
    srv.child.kill('SIGTERM');
    t.equal(await exited, 0, 'stops cleanly');
    t.notMatch(srv.stderr(), /"level":[5-6]\d/, 'no error records', { stderr: srv.stderr() });
    if (c.log) t.ok(srv.stderr().includes(c.log), `the log says: ${c.log}`, { stderr: srv.stderr() });
  });
}
