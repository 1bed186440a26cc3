// design: where an app that does not load went wrong, in words a person can act on. A syntax
// error names file:line:column. Node puts that place (and the line, and a caret under the
// column) at the top of the stack of a CommonJS module's SyntaxError, but keeps it to itself for
// an ES module's, printing it only when the error ends the process. So for an ES module the
// import is repeated in a child process that would end that way: `node --eval` with the process's
// flags and loaders, importing first a module that throws and then the app. Every module of the
// graph is compiled and linked before any is evaluated, and evaluation starts with that first
// module: the child either prints the syntax error with its place, or stops at the throw without
// running any of the app's code. Only on this failure path, once; bounded by CHECK_MS.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How long the child that finds a syntax error's place may take. */
const CHECK_MS = 10_000;

/** A syntax error's place: the file, line and column, and node's frame (the line, a caret under the column). */
export interface SyntaxPlace {
  file: string;
  line: number;
  column: number;
  frame: string;
}

/** The place node reports at the start of `text` (`FILE:LINE`, the source line, carets), or null. */
function placeIn(text: string): SyntaxPlace | null {
  const m = /^(.+):(\d+)\n(.*)\n([ \t]*)\^+ *\n/.exec(text);
  if (m === null) return null;
  const where = m[1]!;
  const file = where.startsWith('file:') ? fileURLToPath(where) : where;
  return { file, line: Number(m[2]), column: m[4]!.length + 1, frame: `${m[3]}\n${m[4]}${'^'}` };
}

/** Where the SyntaxError `err`, met loading the app at `url`, is; null when that cannot be found. */
export function syntaxErrorPlace(err: Error, url: string): SyntaxPlace | null {
  const own = placeIn(err.stack ?? '');
  if (own !== null || !url.startsWith('file:')) return own;
  const source = `import 'data:text/javascript,throw new Error("link check")'; import ${JSON.stringify(url)};`;
  const child = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '--eval', source], {
    encoding: 'utf8',
    timeout: CHECK_MS,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return placeIn((child.stderr ?? '').replace(/^(?:\(node:\d+\).*\n|.*Warning:.*\n)*/, ''));
}
