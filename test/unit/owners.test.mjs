// One writer for each part of a worker's state (docs/architecture.md, "Who owns which state"). A
// WorkerHandle shows its three parts to every module read-only (ChannelView, LifeView, FateView:
// TypeScript rejects a write through them); each owner reaches its own part, writable, through a
// function of its own file. This test reads the sources and checks what the compiler cannot:
// - the writable classes of the pool's and the arbiter's parts are private to their files, and
//   so is each owner's accessor (channelOf, lifeOf, fateOf);
// - the dispatcher's writable channel class is named only where it is made (worker-handle.ts),
//   where it is owned (dispatcher.ts), and as the type of Exchange.worker (connection.ts);
// - nothing writes a field through a handle's view, or through an exchange's channel outside the
//   dispatcher, and only the dispatcher sets Exchange.worker.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { root, sourceFiles } from '../helpers.mjs';

/** Source text without comments, so that prose naming a field is not taken for code. */
function code(file) {
  return readFileSync(path.join(root, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

const files = new Map(sourceFiles('lib').map((f) => [f, code(f)]));
/** An assignment, compound assignment, increment or decrement of what precedes it. */
const WRITE = String.raw`\s*(?:=(?!=)|\+\+|--|[-+*|&]=|\?\?=|\|\|=|&&=)`;
/** A call that changes a Map or an array. */
const MUTATE = String.raw`\.(?:set|delete|clear|push|pop|shift|unshift|splice)\(`;

t.test('the sources are read', async (t) => {
  t.ok(files.has('lib/acceptor/dispatcher.ts') && files.has('lib/supervisor/arbiter.ts') && files.has('lib/supervisor/pool.ts'));
});

t.test('each owner\'s writable part and its accessor are private to its file', async (t) => {
  const owners = [
    ['lib/supervisor/pool.ts', 'WorkerLife'],
    ['lib/supervisor/arbiter.ts', 'WorkerFate'],
  ];
  for (const [file, cls] of owners) {
    const src = files.get(file);
    t.match(src, new RegExp(String.raw`^class ${cls} implements`, 'm'), `${file} declares ${cls} without exporting it`);
    t.notMatch(src, new RegExp(String.raw`export[^;\n]*\b${cls}\b`), `${file} does not export ${cls}`);
    for (const [f, s] of files) if (f !== file) t.notMatch(s, new RegExp(String.raw`\b${cls}\b`), `${f} does not name ${cls}`);
  }
  for (const [file, accessor] of [['lib/acceptor/dispatcher.ts', 'channelOf'], ['lib/supervisor/pool.ts', 'lifeOf'], ['lib/supervisor/arbiter.ts', 'fateOf']]) {
    t.match(files.get(file), new RegExp(String.raw`^function ${accessor}\(`, 'm'), `${file} keeps ${accessor} to itself`);
    for (const [f, s] of files) if (f !== file) t.notMatch(s, new RegExp(String.raw`\b${accessor}\(`), `${f} does not call ${accessor}`);
  }
});

t.test('the dispatcher\'s channel class is named only where it is made, owned, and typed on the exchange', async (t) => {
  const allowed = new Set(['lib/acceptor/worker-channel.ts', 'lib/acceptor/worker-handle.ts', 'lib/acceptor/dispatcher.ts', 'lib/acceptor/connection.ts']);
  for (const [f, s] of files) {
    if (!allowed.has(f)) t.notMatch(s, /\bWorkerChannel\b/, `${f} does not name WorkerChannel`);
  }
  t.notMatch(files.get('lib/acceptor/connection.ts'), /import (?!type)[^;]*WorkerChannel/, 'connection.ts imports it as a type only');
});

t.test('no write through a handle\'s views; the exchange\'s channel is written by the dispatcher only', async (t) => {
  const throughView = new RegExp(String.raw`\.(?:channel|life|fate)\.\w+(?:${WRITE}|${MUTATE})`);
  const throughExchange = new RegExp(String.raw`\.worker\.\w+(?:${WRITE}|${MUTATE})`);
  const setsWorker = new RegExp(String.raw`\.worker${WRITE}`);
  for (const [f, s] of files) {
    t.notMatch(s, throughView, `${f} writes no part through a handle`);
    if (f === 'lib/acceptor/dispatcher.ts') continue;
    t.notMatch(s, throughExchange, `${f} writes nothing through Exchange.worker`);
    t.notMatch(s, setsWorker, `${f} does not set Exchange.worker`);
  }
  t.match(files.get('lib/acceptor/dispatcher.ts'), setsWorker, 'the dispatcher sets it (the check above can see a write)');
});

t.test('the checks see a write where there is one', async (t) => {
  const throughView = new RegExp(String.raw`\.(?:channel|life|fate)\.\w+(?:${WRITE}|${MUTATE})`);
  t.match('h.fate.recycle = null;', throughView);
  t.match('h.channel.pinned.push(ex);', throughView);
  t.match('h.life.closing ??= p;', throughView);
  t.match('ex.worker.sent++;', new RegExp(String.raw`\.worker\.\w+(?:${WRITE}|${MUTATE})`));
  t.notMatch('if (h.fate.recycle === null) {}', throughView);
});
