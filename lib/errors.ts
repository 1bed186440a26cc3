// Errors with stable codes. Every error greenserve raises is a GreenserveError
// subclass with a `code` (`GS_ERR_...`) and, where HTTP applies, a `statusCode`. Errors cross
// threads as plain data (errorToData) and are rebuilt on the other side (errorFromData); match on
// `code`, never `instanceof`. docs/errors.md lists every code; test/unit/errors.test.mjs checks
// the list both ways. To add an error: a subclass below, one line in ERROR_CLASSES, one row in the doc.

/** The plain-data form of an error, safe for postMessage and structured clone. */
export interface ErrorData {
  name: string;
  /** the error's code, or UNKNOWN_ERROR_CODE when it had none */
  code: string;
  message: string;
  stack: string | undefined;
  statusCode?: number;
  setting?: string;
  cause?: ErrorData;
}

export interface GreenserveErrorOptions {
  cause?: unknown;
}

export abstract class GreenserveError extends Error {
  abstract readonly code: string;
  /** the HTTP status a client gets for this error, where HTTP applies */
  readonly statusCode: number | undefined = undefined;

  constructor(message: string, options?: GreenserveErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** An invalid, missing or unknown setting. The message is one line: `<setting>: <problem>`. */
export class ConfigError extends GreenserveError {
  static readonly code = 'GS_ERR_CONFIG';
  override readonly name = 'ConfigError';
  readonly code = ConfigError.code;
  /** the setting's key (`threads`), or the unknown name that was given */
  readonly setting: string;

  /** `label` is the setting as the user wrote it (`--threads`, `GREENSERVE_THREADS`); defaults to `setting`. */
  constructor(setting: string, problem: string, label: string = setting) {
    // One line, always: a value quoted into the problem must not break it.
    super(`${label}: ${problem}`.replace(/\s*[\r\n]+\s*/g, ' '));
    this.setting = setting;
  }
}

/** The application module could not be imported (not found, syntax error, threw at top level), or its setup() hook failed. */
export class AppLoadError extends GreenserveError {
  static readonly code = 'GS_ERR_APP_LOAD';
  override readonly name = 'AppLoadError';
  readonly code = AppLoadError.code;
}

/** The application module loaded, but its export is not a handler greenserve can run. */
export class AppShapeError extends GreenserveError {
  static readonly code = 'GS_ERR_APP_SHAPE';
  override readonly name = 'AppShapeError';
  readonly code = AppShapeError.code;
}

/** The worker thread running the request died (crash, exit, out of memory); the client gets a 502. */
export class WorkerCrashedError extends GreenserveError {
  static readonly code = 'GS_ERR_WORKER_CRASHED';
  override readonly name = 'WorkerCrashedError';
  readonly code = WorkerCrashedError.code;
  override readonly statusCode = 502;
}

/** A handler held its worker past --timeout (or the worker stopped beating): it is terminated; 504. */
export class WorkerTimeoutError extends GreenserveError {
  static readonly code = 'GS_ERR_WORKER_TIMEOUT';
  override readonly name = 'WorkerTimeoutError';
  readonly code = WorkerTimeoutError.code;
  override readonly statusCode = 504;
}

/** A worker did not load the app within --boot-timeout. */
export class BootTimeoutError extends GreenserveError {
  static readonly code = 'GS_ERR_BOOT_TIMEOUT';
  override readonly name = 'BootTimeoutError';
  readonly code = BootTimeoutError.code;
}

/** A blocking shim was called where it cannot park: on the main thread, or outside a greenserve worker. */
export class ShimThreadError extends GreenserveError {
  static readonly code = 'GS_ERR_SHIM_THREAD';
  override readonly name = 'ShimThreadError';
  readonly code = ShimThreadError.code;
}

/** A blocking shim (or jobs.runSync) got no answer within its timeout; the late answer is dropped. */
export class ShimTimeoutError extends GreenserveError {
  static readonly code = 'GS_ERR_SHIM_TIMEOUT';
  override readonly name = 'ShimTimeoutError';
  readonly code = ShimTimeoutError.code;
}

/** The I/O helper thread that runs the shims' work exited (it is restarted) while a call waited. */
export class ShimHelperError extends GreenserveError {
  static readonly code = 'GS_ERR_SHIM_HELPER';
  override readonly name = 'ShimHelperError';
  readonly code = ShimHelperError.code;
}

/** fetchSync: the response body is larger than its maxBodySize. */
export class BodyTooLargeError extends GreenserveError {
  static readonly code = 'GS_ERR_BODY_TOO_LARGE';
  override readonly name = 'BodyTooLargeError';
  readonly code = BodyTooLargeError.code;
}

/** jobs.run / jobs.runSync: no job of that name is declared with --jobs. */
export class UnknownJobError extends GreenserveError {
  static readonly code = 'GS_ERR_JOB_UNKNOWN';
  override readonly name = 'UnknownJobError';
  readonly code = UnknownJobError.code;
}

/** A heavy job ran past --jobs-timeout; its pool thread was stopped. */
export class JobTimeoutError extends GreenserveError {
  static readonly code = 'GS_ERR_JOB_TIMEOUT';
  override readonly name = 'JobTimeoutError';
  readonly code = JobTimeoutError.code;
}

type Rebuild = (data: ErrorData) => GreenserveError;

/** Every concrete error class, keyed by code: how errorFromData finds the class to rebuild. */
const ERROR_CLASSES: ReadonlyMap<string, Rebuild> = new Map<string, Rebuild>([
  [ConfigError.code, (d) => new ConfigError(d.setting ?? '', '')],
  [AppLoadError.code, (d) => new AppLoadError(d.message)],
  [AppShapeError.code, (d) => new AppShapeError(d.message)],
  [WorkerCrashedError.code, (d) => new WorkerCrashedError(d.message)],
  [WorkerTimeoutError.code, (d) => new WorkerTimeoutError(d.message)],
  [BootTimeoutError.code, (d) => new BootTimeoutError(d.message)],
  [ShimThreadError.code, (d) => new ShimThreadError(d.message)],
  [ShimTimeoutError.code, (d) => new ShimTimeoutError(d.message)],
  [ShimHelperError.code, (d) => new ShimHelperError(d.message)],
  [BodyTooLargeError.code, (d) => new BodyTooLargeError(d.message)],
  [UnknownJobError.code, (d) => new UnknownJobError(d.message)],
  [JobTimeoutError.code, (d) => new JobTimeoutError(d.message)],
]);

/** The code errorToData gives a value that had none (a plain Error thrown by the app, say). */
export const UNKNOWN_ERROR_CODE = 'GS_ERR_UNKNOWN';

/** Every code greenserve defines, in declaration order. */
export const ERROR_CODES: readonly string[] = Object.freeze([...ERROR_CLASSES.keys(), UNKNOWN_ERROR_CODE]);

/** How deep a chain of causes is carried across threads. */
const MAX_CAUSE_DEPTH = 4;

/** The `code` of any thrown value, if it has a string one (greenserve's or Node's `ERR_...`/`E...`). */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Turns any thrown value into plain data that can cross a thread. */
export function errorToData(err: unknown, depth = 0): ErrorData {
  if (!(err instanceof Error)) {
    const code = errorCode(err) ?? UNKNOWN_ERROR_CODE;
    return { name: 'Error', code, message: describeThrown(err), stack: undefined };
  }
  const code = errorCode(err) ?? UNKNOWN_ERROR_CODE;
  const data: ErrorData = { name: err.name, code, message: err.message, stack: err.stack };
  const extra = err as { statusCode?: unknown; setting?: unknown };
  if (typeof extra.statusCode === 'number') data.statusCode = extra.statusCode;
  if (typeof extra.setting === 'string') data.setting = extra.setting;
  if (err.cause !== undefined && depth < MAX_CAUSE_DEPTH) data.cause = errorToData(err.cause, depth + 1);
  return data;
}

/**
 * Rebuilds an error from errorToData's output: the greenserve subclass for a known code, otherwise
 * a plain Error that keeps the name and code (so `ECONNREFUSED` from a shim stays matchable;
 * an error that had no code comes back with UNKNOWN_ERROR_CODE).
 */
export function errorFromData(data: ErrorData): Error {
  const rebuild = ERROR_CLASSES.get(data.code);
  const err: Error = rebuild === undefined ? foreignError(data) : rebuild(data);
  err.message = data.message;
  if (data.stack !== undefined) err.stack = data.stack;
  if (data.cause !== undefined) err.cause = errorFromData(data.cause);
  return err;
}

function foreignError(data: ErrorData): Error {
  const err = new Error(data.message) as Error & { code?: string; statusCode?: number };
  err.name = data.name;
  err.code = data.code;
  if (data.statusCode !== undefined) err.statusCode = data.statusCode;
  return err;
}

function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
