// design: --reload, for development. A watcher on the acceptor's event loop (it only enqueues, like
// a signal): when files under the watched directories change, it waits for a quiet moment, then
// asks for the zero-downtime reload SIGHUP does (Server.reload(): new workers import the app
// afresh, the old ones retire once the new ones serve). A reload serves the new code because every
// worker is a new thread with its own module map: the app and everything it imports, ESM or
// CommonJS, is loaded again from disk; nothing is cached across threads.
// Watching: one non-recursive fs.watch (inotify) per directory, walked here, so that excluded
// directories (node_modules, .git) are never entered. `fs.watch(dir, { recursive: true })` works on
// Linux from Node 20.13, but there it is built in JavaScript with one watcher per file and
// directory, node_modules included, and no way to leave a directory out: thousands of inotify
// watches and a slow start for a usual app. A directory created later is walked and watched when
// its creation is seen; one removed drops its watchers.
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './config/resolve.js';
import { globToRegExp } from './glob.js';
import type { Logger } from './log.js';

/** Quiet time after the last change before reloading: an editor's save is several events. */
const DEBOUNCE_MS = 150;
/** Changed files named in the log line; more are counted. */
const NAMED = 5;
/** With more threads than this, --reload warns: every change starts that many workers. */
export const RELOAD_THREADS_WARN = 4;

/** Which paths (relative to a watched directory, `/`-separated) matter. */
export class ReloadFilter {
  private readonly includeNames: RegExp[] = [];
  private readonly includePaths: RegExp[] = [];
  private readonly excludeNames: RegExp[] = [];
  private readonly excludePaths: RegExp[] = [];

  constructor(include: readonly string[], exclude: readonly string[]) {
    for (const g of include) (g.includes('/') ? this.includePaths : this.includeNames).push(globToRegExp(g));
    for (const g of exclude) (g.includes('/') ? this.excludePaths : this.excludeNames).push(globToRegExp(g));
  }

  /** Excluded: a name on the path matches a name glob, or the path or a directory above it a path glob. */
  excluded(rel: string): boolean {
    const parts = rel.split('/');
    let prefix = '';
    for (const part of parts) {
      if (this.excludeNames.some((r) => r.test(part))) return true;
      prefix = prefix === '' ? part : `${prefix}/${part}`;
      if (this.excludePaths.some((r) => r.test(prefix))) return true;
    }
    return false;
  }

  /** A change of this file reloads. */
  wants(rel: string): boolean {
    if (this.excluded(rel)) return false;
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    return this.includeNames.some((r) => r.test(name)) || this.includePaths.some((r) => r.test(rel));
  }
}

export interface DevReloadOptions {
  /** Absolute directories to watch, with their subdirectories. */
  dirs: readonly string[];
  include: readonly string[];
  exclude: readonly string[];
  /** Absolute paths whose changes never reload (the server's own log files). */
  ignore?: readonly string[];
  debounceMs?: number;
}

/** The directories --reload watches: --reload-dir, or the app module's directory. */
export function reloadDirsOf(config: Config, appUrl: string): string[] {
  if (config.reloadDir.length > 0) return config.reloadDir.map((d) => path.resolve(d));
  return [appUrl.startsWith('file:') ? path.dirname(fileURLToPath(appUrl)) : process.cwd()];
}

/** Start --reload for a server: a line saying what is watched, a warning for many threads. */
export function startDevReload(config: Config, appUrl: string, reload: () => Promise<void>, log: Logger): DevReload {
  const dirs = reloadDirsOf(config, appUrl);
  const ignore = [config.accessLog, config.errorLog].filter((f) => f !== '' && f !== '-').map((f) => path.resolve(f));
  const dev = new DevReload({ dirs, include: config.reloadInclude, exclude: config.reloadExclude, ignore }, reload, log);
  log.info({ dirs, include: config.reloadInclude, exclude: config.reloadExclude, watching: dev.watched },
    `reload: watching ${dirs.join(', ')} for changes (development only)`);
  if (config.threads > RELOAD_THREADS_WARN) {
    log.warn({ threads: config.threads },
      `reload: ${config.threads} threads: every change starts ${config.threads} new workers; ` +
      `--threads 1 to ${RELOAD_THREADS_WARN} is enough in development, and --reload is not for production`);
  }
  return dev;
}

export class DevReload {
  private readonly o: DevReloadOptions;
  private readonly filter: ReloadFilter;
  private readonly ignore: ReadonlySet<string>;
  private readonly reload: () => Promise<void>;
  private readonly log: Logger;
  /** One watcher per watched directory (absolute path). */
  private readonly watchers = new Map<string, FSWatcher>();
  /** Changed files since the last reload began (absolute paths). */
  private changed = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private reloading = false;
  private closed = false;
  private warned = false;

  constructor(o: DevReloadOptions, reload: () => Promise<void>, log: Logger) {
    this.o = o;
    this.filter = new ReloadFilter(o.include, o.exclude);
    this.ignore = new Set(o.ignore ?? []);
    this.reload = reload;
    this.log = log;
    for (const dir of o.dirs) this.watchTree(dir, dir, false);
  }

  /** How many directories are watched. */
  get watched(): number {
    return this.watchers.size;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  /** Watch `dir` and the directories below it; `fresh`: it was just created, so its files count as changed. */
  private watchTree(root: string, dir: string, fresh: boolean): void {
    if (this.closed || this.watchers.has(dir)) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name !== null) this.seen(root, path.join(dir, name.toString()));
      });
    } catch (err) {
      this.cannotWatch(dir, err as NodeJS.ErrnoException);
      return;
    }
    watcher.on('error', () => this.unwatch(dir)); // the directory went away
    this.watchers.set(dir, watcher);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // removed meanwhile: its watcher reports it
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      const rel = relative(root, full);
      // Symbolic links are not followed (no loops); a linked file still counts when it changes.
      if (e.isDirectory()) {
        if (!this.filter.excluded(rel)) this.watchTree(root, full, fresh);
      } else if (fresh && this.filter.wants(rel)) {
        this.noteChange(full);
      }
    }
  }

  /** Something named `full` under `root` was created, changed, renamed or removed. */
  private seen(root: string, full: string): void {
    if (this.closed || this.ignore.has(full)) return;
    const rel = relative(root, full);
    if (this.filter.excluded(rel)) return;
    let isDir = false;
    try {
      isDir = statSync(full).isDirectory();
    } catch {
      this.unwatchBelow(full); // removed or renamed away: a directory's watchers go with it
    }
    if (isDir) this.watchTree(root, full, true);
    else if (this.filter.wants(rel)) this.noteChange(full);
  }

  private noteChange(full: string): void {
    this.changed.add(full);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), this.o.debounceMs ?? DEBOUNCE_MS);
    this.timer.unref();
  }

  /** Reload once for everything changed so far; changes during a reload get one more after it. */
  private fire(): void {
    this.timer = null;
    if (this.closed || this.reloading || this.changed.size === 0) return;
    const files = [...this.changed];
    this.changed = new Set();
    this.reloading = true;
    const named = files.slice(0, NAMED).join(', ');
    const more = files.length > NAMED ? ` and ${files.length - NAMED} more` : '';
    this.log.info({ changed: files }, `reload: ${named}${more} changed; reloading the workers`);
    this.reload()
      .catch(() => {
        // The supervisor has logged why (reload failed: ...); the old workers keep serving and the
        // next change tries again.
      })
      .finally(() => {
        this.reloading = false;
        if (this.changed.size > 0 && this.timer === null) this.fire();
      });
  }

  private unwatch(dir: string): void {
    this.watchers.get(dir)?.close();
    this.watchers.delete(dir);
  }

  private unwatchBelow(dir: string): void {
    const below = dir + path.sep;
    for (const d of [...this.watchers.keys()]) if (d === dir || d.startsWith(below)) this.unwatch(d);
  }

  private cannotWatch(dir: string, err: NodeJS.ErrnoException): void {
    if (err.code === 'ENOENT') return; // removed before it could be watched
    if (this.warned) return;
    this.warned = true;
    const hint = err.code === 'ENOSPC' ? ' (the inotify watch limit: raise fs.inotify.max_user_watches, or exclude more)' : '';
    this.log.warn({ dir, code: err.code }, `reload: cannot watch ${dir}: ${err.code ?? err.message}${hint}; changes there are missed`);
  }
}

/** `full` relative to `root`, with `/` separators. */
function relative(root: string, full: string): string {
  const rel = path.relative(root, full);
  return path.sep === '/' ? rel : rel.split(path.sep).join('/');
}
