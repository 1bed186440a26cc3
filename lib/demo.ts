// design: the built-in demo. `greenserve` with no APP serves the notes app of examples/notes/
// (shipped in the package), so that `npx greenserve` shows a working server in one command. This
// module only prepares it on the main thread before the workers start: it picks and checks the
// database file (`--demo-db`), finds a SQLite driver (better-sqlite3, else node:sqlite) so that a
// missing one is a clear startup error rather than a worker boot failure, and hands the file to
// the app. The app itself runs in the workers like any other (docs/decisions/0010-demo-app-database.md).
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppLoadError, ConfigError } from './errors.js';

/** The demo app module (from dist/lib/ or lib/, the package root is two levels up). */
export const DEMO_APP = fileURLToPath(new URL('../../examples/notes/app.mjs', import.meta.url));
const DEMO_DB_MODULE = new URL('../../examples/notes/db.mjs', import.meta.url).href;

/** The parts of examples/notes/db.mjs used here. */
interface NotesDbModule {
  defaultDatabasePath(): string;
  loadDriver(): Promise<{ name: string; version: string }>;
}

export interface DemoInfo {
  /** The database file, absolute. */
  readonly database: string;
  /** The SQLite driver the workers will use, with its version. */
  readonly driver: string;
}

/**
 * Resolve the database file (`demoDb`, or the app's default), check that it can be created and
 * written, find the driver, and pass the file to the app as NOTES_DB. Throws ConfigError naming
 * `--demo-db` for a path that cannot be used, AppLoadError when no SQLite driver loads.
 */
export async function prepareDemo(demoDb: string): Promise<DemoInfo> {
  const db = (await import(DEMO_DB_MODULE)) as NotesDbModule;
  const database = demoDb === '' ? db.defaultDatabasePath() : path.resolve(demoDb);
  checkDatabasePath(database, demoDb === '');
  let driver;
  try {
    driver = await db.loadDriver();
  } catch (err) {
    throw new AppLoadError(`cannot load the built-in demo: ${(err as Error).message}`, { cause: err });
  }
  // The app reads its database file from NOTES_DB, as any deployment of it would. Worker threads
  // get a copy of this process's environment when they start, which is after this point.
  process.env['NOTES_DB'] = database;
  return { database, driver: `${driver.name} ${driver.version}` };
}

/** SQLite writes the file and, in WAL mode, `-wal` and `-shm` files beside it: the directory must be writable. */
function checkDatabasePath(file: string, isDefault: boolean): void {
  const dir = path.dirname(file);
  const problem = (what: string, err?: unknown): ConfigError => {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    return new ConfigError('demoDb', `${what}${code === undefined ? '' : ` (${code})`}`, '--demo-db');
  };
  try {
    makeDirectory(dir);
  } catch (err) {
    throw problem(`cannot create the directory ${dir}`, err);
  }
  const stat = statSync(dir);
  if (!stat.isDirectory()) throw problem(`${dir} is not a directory`);
  // The default directory is in the shared temp directory: use it only if it is this user's.
  const uid = process.getuid?.();
  if (isDefault && uid !== undefined && stat.uid !== uid) throw problem(`${dir} belongs to another user; choose a file with --demo-db PATH`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw problem(`the directory ${dir} is not writable`, err);
  }
  if (!existsSync(file)) return;
  if (!statSync(file).isFile()) throw problem(`${file} is not a file`);
  try {
    accessSync(file, constants.R_OK | constants.W_OK);
  } catch (err) {
    throw problem(`${file} is not readable and writable`, err);
  }
}

/**
 * mkdir -p, one level at a time: `mkdirSync(dir, { recursive: true })` never returns for some
 * paths that cannot be created (under /proc on Node 20 and 24, it loops on ENOENT).
 */
function makeDirectory(dir: string): void {
  if (existsSync(dir)) return;
  const parent = path.dirname(dir);
  if (parent !== dir) makeDirectory(parent);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}
