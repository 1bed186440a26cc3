// End to end in a real browser: `greenserve` with no APP serves the built-in notes demo and the
// status dashboard (on a free loopback port, with no --status-bind given), driven by playwright-core
// in Debian's headless Chromium. The test creates a note
// through the page's form, sees it listed (and in the API), and sees the dashboard, fed by
// server-sent events, show both worker threads and its request counter move. The browser must
// fetch nothing from anywhere but the two local servers. Screenshots of both pages go to
// test/artifacts/ (not in git; docs/images/dashboard.png is a copy of one).
//
// Chromium is found at $GS_CHROMIUM, /usr/bin/chromium or /usr/bin/chromium-browser (`.ci/run`
// installs Debian's `chromium`); without it the test skips and says so. Timeouts are generous
// (Chromium starts slowly on a loaded 2-core machine); the whole test takes about 10 s here.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { root, startCli, until } from '../helpers.mjs';

const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-sync',
];
const executablePath = [process.env.GS_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p && existsSync(p));
let chromium = null;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  // reported as the skip reason below
}
const skip = executablePath === undefined
  ? 'no Chromium (install Debian\'s `chromium`, or set GS_CHROMIUM to its path)'
  : chromium === null ? 'playwright-core is not installed (npm install)' : false;
const ARTIFACTS = path.join(root, 'test', 'artifacts');

function request(url, { method = 'GET', body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, timeout: 10000, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

t.test('the notes demo and the dashboard in headless Chromium', { skip, timeout: 90000 }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-browser-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cli = await startCli(t, [
    '--bind', '127.0.0.1:0', '--threads', '2', '--max-threads', '2', '--demo-db', path.join(dir, 'notes.db'),
  ], { ms: 30000 });
  t.ok(await until(() => /status dashboard on http:\/\/127\.0\.0\.1:\d+\//.test(cli.stderr()), 10000), 'the demo turns the dashboard on');
  const statusUrl = /status dashboard on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(cli.stderr())[1];
  const appUrl = `${cli.url}/`;

  const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_FLAGS, timeout: 30000 });
  t.teardown(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  context.setDefaultTimeout(20000);
  // Everything the browser asks for, and everything it complains about.
  const origins = new Set();
  const problems = [];
  context.on('request', (r) => origins.add(new URL(r.url()).origin));
  context.on('weberror', (e) => problems.push(`page error: ${e.error().message}`));
  context.on('console', (m) => {
    // Chromium asks every origin for /favicon.ico on its own; the demo has none (a 404 is fine).
    if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico')) problems.push(`console: ${m.text()} (${m.location().url})`);
  });

  // The dashboard first: its counter must move with what the notes page does next.
  const dash = await context.newPage();
  await dash.goto(statusUrl);
  await dash.locator('#conn.live').waitFor();
  await dash.locator('#workers .worker').nth(1).waitFor();
  t.equal(await dash.locator('#workers .worker').count(), 2, 'a card per worker thread');
  const counter = async () => Number((await dash.locator('#total').textContent()).replace(/[^0-9.]/g, ''));
  const before = await counter();

  const notes = await context.newPage();
  await notes.goto(appUrl);
  await notes.locator('#note-title').waitFor();
  const title = `Browser note ${process.pid}-${Date.now()}`;
  await notes.locator('#note-title').fill(title);
  await notes.locator('#note-body').fill('Created through the form by headless Chromium.');
  await notes.locator('#note-submit').click();
  await notes.locator('#notes .note-title', { hasText: title }).waitFor();
  t.pass('the new note is listed on the page');
  const api = JSON.parse((await request(`${appUrl}api/notes?q=${encodeURIComponent(title)}`)).text);
  t.equal(api.total, 1, 'and the API has it');
  t.equal(api.notes[0].title, title);

  // Some traffic for the charts, then the counter must have moved (events come once a second).
  for (let i = 0; i < 40; i++) await request(`${appUrl}api/notes?limit=5`);
  t.ok(await until(async () => (await counter()) >= before + 40, 15000), 'the dashboard\'s request counter moved');
  t.ok((await counter()) > before);
  t.match(await dash.locator('#rate').textContent(), /\d/, 'a request rate is shown');
  t.match(await dash.locator('#app').textContent(), /node request listener/);

  mkdirSync(ARTIFACTS, { recursive: true });
  await notes.screenshot({ path: path.join(ARTIFACTS, 'notes.png') });
  await dash.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  t.ok(existsSync(path.join(ARTIFACTS, 'dashboard.png')) && existsSync(path.join(ARTIFACTS, 'notes.png')), 'screenshots saved');

  const allowed = new Set([new URL(appUrl).origin, new URL(statusUrl).origin]);
  t.same([...origins].filter((o) => !allowed.has(o) && o !== 'null' && !o.startsWith('data:')), [], 'nothing fetched from elsewhere');
  t.same(problems, [], 'no page errors, no console errors (a CSP violation would be one)');
});
