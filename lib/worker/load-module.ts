// design: import the app module as the loaders apps are written for would. An ES module is
// imported. A CommonJS module is require()d, from this file, as a test runner or a supertest
// script requires it: its `module.parent` is set (and `require.main` is not the module, as in any
// worker thread), so the usual guards around a listen() call (`if (!module.parent)`,
// `if (require.main === module)`) skip it and its export is used; import() would leave
// module.parent unset. CommonJS is what node would take the file for: .cjs and .cts, and other
// files outside a "type": "module" package (require() loads such a file that turns out to hold
// ES module syntax as an ES module; one with top-level await is imported instead). The worker's
// later import() of the same URL (its hooks) finds the module require() loaded. The namespace
// returned is what import() gives: `default` is module.exports, beside its own keys.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { types } from 'node:util';
import { AppLoadError, errorCode } from '../errors.js';
import { syntaxErrorPlace } from './load-errors.js';

type Dict = Record<string, unknown>;

const isObject = (v: unknown): v is Dict => typeof v === 'object' && v !== null;

/** The "type" of the package.json nearest to `dir` (node stops at the first one it finds). */
function packageType(dir: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      return (JSON.parse(readFileSync(path.join(d, 'package.json'), 'utf8')) as { type?: string }).type ?? 'commonjs';
    } catch (err) {
      if (errorCode(err) !== 'ENOENT' && errorCode(err) !== 'ENOTDIR') return undefined; // unreadable: let import() decide
    }
    if (path.dirname(d) === d) return undefined;
  }
}

/** Whether node takes `file` for CommonJS (by its extension, or its package's "type"). */
export function isCommonJs(file: string): boolean {
  const ext = path.extname(file);
  if (ext === '.cjs' || ext === '.cts') return true;
  if (ext !== '.js' && ext !== '.ts') return false;
  const type = packageType(path.dirname(file));
  return type !== undefined && type !== 'module';
}

const requireFromHere = createRequire(import.meta.url);

/** require() the app; its exports as a module namespace, or null for an ES module to import() instead. */
function requireApp(file: string): Dict | null {
  let exports: unknown;
  try {
    exports = requireFromHere(file);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ERR_REQUIRE_ESM' || code === 'ERR_REQUIRE_ASYNC_MODULE') return null;
    throw err;
  }
  if (types.isModuleNamespaceObject(exports)) return exports as Dict; // ES module syntax, loaded by require()
  const ns: Dict = isObject(exports) || typeof exports === 'function' ? { ...(exports as Dict) } : {};
  ns['default'] = exports;
  return ns;
}

/**
 * A CommonJS module compiled from ES module syntax (tsc, tsx, Babel) marks its exports
 * `__esModule` and holds its default export in `exports.default`: those exports are the module.
 */
function esModuleInterop(mod: Dict): Dict {
  const def = mod['default'];
  if (isObject(def) && def['__esModule'] === true) return def;
  return mod;
}

/** The app module's namespace; an AppLoadError when it cannot be loaded (a syntax error names its place). */
export async function importApp(url: string): Promise<Dict> {
  try {
    const file = url.startsWith('file:') ? fileURLToPath(url) : null;
    const required = file !== null && isCommonJs(file) ? requireApp(file) : null;
    return esModuleInterop(required ?? ((await import(url)) as Dict));
  } catch (err) {
    const e = err as Error;
    if (e instanceof SyntaxError) {
      const place = syntaxErrorPlace(e, url);
      if (place !== null) {
        // The stack starts with the place and node's frame, as a CommonJS module's does.
        if (!e.stack?.startsWith(place.file)) e.stack = `${place.file}:${place.line}\n${place.frame}\n\n${e.stack ?? ''}`;
        throw new AppLoadError(`cannot load app ${url}: SyntaxError at ${place.file}:${place.line}:${place.column}: ${e.message}`, { cause: err });
      }
    }
    throw new AppLoadError(`cannot load app ${url}: ${e.message}`, { cause: err });
  }
}

/** The module exports nothing: no named export, and a default that is undefined or an empty plain object. */
export function exportsNothing(mod: Dict): boolean {
  const def = mod['default'];
  const emptyDefault = def === undefined || (isObject(def) && Object.getPrototypeOf(def) === Object.prototype && Object.keys(def).length === 0);
  return emptyDefault && Object.keys(mod).every((k) => k === 'default' || k === 'module.exports');
}
