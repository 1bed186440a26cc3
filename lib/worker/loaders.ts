// design: TypeScript apps, and the loaders the process was given. A worker thread inherits the
// process's flags (its execArgv, and NODE_OPTIONS), and the modules given with --import run in it
// again; but on Node versions before 22.22.3 / 24.11.1 customization hooks registered in the main
// thread do not reach worker threads, and tsx, the common TypeScript loader, registers its hooks in
// the main thread only there. So before a TypeScript app loads in a worker: if node strips types
// itself (22.18+, 23.6+, or --experimental-strip-types), nothing is needed; if the process was
// given tsx, its hooks are registered in this thread through its own API (tsx/esm/api, resolved
// as node resolved the flag: from the working directory); otherwise the load would fail with
// "Unknown file extension", and the error says what to add instead.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { AppLoadError } from '../errors.js';

const TYPESCRIPT = /\.(?:[cm]?ts|tsx)$/;
const PRELOAD_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);

/** A module the process preloads: the flag and its value (`--import tsx`). */
export interface Preload {
  flag: string;
  specifier: string;
}

/** What `args` (argv-style) preload, in order. */
function preloadsIn(args: readonly string[]): Preload[] {
  const out: Preload[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (!PRELOAD_FLAGS.has(flag)) continue;
    const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (value !== undefined) out.push({ flag, specifier: value });
  }
  return out;
}

/** The modules this process (and so each worker thread) preloads: its execArgv, then NODE_OPTIONS. */
export function preloads(): Preload[] {
  const options = (process.env['NODE_OPTIONS'] ?? '').match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? [];
  return [...preloadsIn(process.execArgv), ...preloadsIn(options.map((o) => o.replace(/^(["'])(.*)\1$/, '$2')))];
}

const isTsx = (p: Preload): boolean => /^tsx(?:\/|$)/.test(p.specifier);

let tsxRegistered = false;

/**
 * Before the app at `url` loads in this thread: when it is TypeScript, make sure something here
 * can run it (see the design note above), or throw an AppLoadError that says what to add.
 */
export async function prepareTypeScript(url: string): Promise<void> {
  if (!url.startsWith('file:')) return;
  const file = fileURLToPath(url);
  if (!TYPESCRIPT.test(file)) return;
  if ((process.features as { typescript?: unknown }).typescript) return; // node strips types itself (@types/node 20 lacks the field)
  const given = preloads();
  if (given.some(isTsx)) {
    if (!isMainThread && !tsxRegistered) await registerTsx(file);
    return;
  }
  const name = path.basename(file);
  const other = given.filter((p) => p.flag !== '--require' && p.flag !== '-r');
  const loaders = other.length === 0 ? '' : ` The loader given (${other.map((p) => `${p.flag} ${p.specifier}`).join(', ')}) does not reach worker threads on this version of Node; tsx does (greenserve registers it in each worker).`;
  throw new AppLoadError(
    `${name} is TypeScript: Node ${process.versions.node} does not run it by itself (Node 22.18 and later strip types natively). ` +
      `Give node a loader, as in NODE_OPTIONS='--import tsx' greenserve ${name} (npm install -D tsx), or compile the app to JavaScript.${loaders}`,
  );
}

/** Register tsx's module hooks in this worker thread, from where node found the --import tsx of the process. */
async function registerTsx(app: string): Promise<void> {
  let api: string | null = null;
  for (const base of [process.cwd(), path.dirname(app)]) {
    try {
      // Its ES module build (the "import" condition of tsx/esm/api; require() would get the other).
      const pkgFile = createRequire(path.join(base, 'noop.js')).resolve('tsx/package.json');
      const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports?: Record<string, { import?: { default?: string } }> };
      const entry = pkg.exports?.['./esm/api']?.import?.default;
      if (entry !== undefined) api = path.join(path.dirname(pkgFile), entry);
      break;
    } catch {
      // not found from there: try the app's directory
    }
  }
  if (api === null) throw new AppLoadError(`the process was given tsx, but its tsx/esm/api cannot be found from ${process.cwd()} to register it in the worker thread`);
  const { register } = (await import(pathToFileURL(api).href)) as { register: () => unknown };
  register();
  tsxRegistered = true;
}
