// The import graph of the sources (lib/**/*.ts, native-shims/**/*.ts), read with TypeScript's own
// pre-processor: static imports and re-exports, `import type` included, `import('...')` in code and
// in type positions. Type-only imports count like the others: a type shared by two parts belongs in
// the lower one, or in a neutral module, so no exception is made for them.
// - Parts: each folder under lib/ (lib/acceptor, lib/config, lib/ring, lib/supervisor, lib/worker,
//   ...) and native-shims/. A file directly in lib/ is a part of its own: those are both the top
//   (server.ts, index.ts) and the bottom (errors.ts, log.ts, messages.ts) of the graph.
// - No import cycle between parts, and none between files either.
// - The supervisor (lib/supervisor/) decides about workers; it writes no HTTP: the dispatcher
//   answers the exchanges the supervisor fails (Dispatcher.fail).
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { root, sourceFiles } from '../helpers.mjs';

/** file (repository-relative) -> the repository files it imports. */
function fileGraph() {
  const files = [...sourceFiles('lib'), ...sourceFiles('native-shims')];
  const known = new Set(files);
  const graph = new Map();
  for (const f of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(path.join(root, f), 'utf8'), true, true);
    const deps = new Set();
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue; // a package or node: builtin
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(f), fileName)).replace(/\.js$/, '.ts');
      // lib/status/dashboard.html and the like are read as files, never imported; a .ts target must exist.
      if (known.has(target)) deps.add(target);
      else if (target.endsWith('.ts')) throw new Error(`${f} imports ${fileName}, which is not a source file`);
    }
    graph.set(f, deps);
  }
  return graph;
}

/** The part a source file belongs to (see the header). */
function partOf(file) {
  const parts = file.split('/');
  if (parts[0] === 'native-shims') return 'native-shims';
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : file;
}

/** The graph between parts, with the file imports behind each edge. */
function partGraph(files) {
  const graph = new Map();
  const why = new Map();
  for (const [f, deps] of files) {
    const a = partOf(f);
    if (!graph.has(a)) graph.set(a, new Set());
    for (const d of deps) {
      const b = partOf(d);
      if (a === b) continue;
      graph.get(a).add(b);
      const key = `${a} -> ${b}`;
      if (!why.has(key)) why.set(key, []);
      why.get(key).push(`${f} -> ${d}`);
    }
  }
  return { graph, why };
}

/** The strongly connected components of more than one node (Tarjan): each holds a cycle. */
function cycles(graph) {
  let next = 0;
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) !== index.get(v)) return;
    const component = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

t.test('the cycle finder finds cycles (so that an empty answer below means something)', async (t) => {
  const g = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])], ['d', new Set(['a'])]]);
  t.same(cycles(g), [['a', 'b', 'c']]);
  t.same(cycles(new Map([['a', new Set(['b'])], ['b', new Set()]])), []);
  const { graph } = partGraph(new Map([
    ['lib/acceptor/x.ts', new Set(['lib/supervisor/y.ts'])],
    ['lib/supervisor/y.ts', new Set(['lib/acceptor/z.ts'])],
    ['lib/acceptor/z.ts', new Set()],
  ]));
  t.same(cycles(graph), [['lib/acceptor', 'lib/supervisor']], 'files without a cycle can still make parts one');
});

const files = fileGraph();

t.test('the graph is read', async (t) => {
  t.ok(files.size > 50, `${files.size} source files`);
  t.ok(files.get('lib/server.ts').has('lib/acceptor/dispatcher.ts'), 'server.ts imports the dispatcher');
  t.ok(files.get('lib/supervisor/pool.ts').has('lib/acceptor/worker-handle.ts'), 'an import naming only types counts too');
});

t.test('no import cycle between parts (lib/ folders, native-shims/)', async (t) => {
  const { graph, why } = partGraph(files);
  for (const component of cycles(graph)) {
    const edges = [];
    for (const a of component) for (const b of component) edges.push(...(why.get(`${a} -> ${b}`) ?? []));
    t.fail(`import cycle between ${component.join(', ')}:\n  ${edges.join('\n  ')}`);
  }
  t.pass('checked');
});

t.test('no import cycle between files', async (t) => {
  for (const component of cycles(files)) t.fail(`import cycle between ${component.join(', ')}`);
  t.pass('checked');
});

t.test('nothing under lib/supervisor/ builds HTTP bytes', async (t) => {
  for (const [f, deps] of files) {
    if (!f.startsWith('lib/supervisor/')) continue;
    t.notOk(deps.has('lib/acceptor/responses.ts'), `${f} does not import the acceptor's HTTP responses`);
    t.notMatch(readFileSync(path.join(root, f), 'utf8'), /HTTP\/1\.[01] |\\r\\n/, `${f} writes no status line or CRLF`);
  }
});
