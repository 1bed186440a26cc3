// Errors and values as they cross between the I/O helper and a worker (the message types are in
// lib/messages.ts). An error keeps its name, message, code, stack and its other plain own
// properties (errno, syscall, hostname, status, stdout...); the worker rebuilds it with the
// caller's stack, followed by the helper's.
import { errorCode, errorFromData, errorToData, ERROR_CODES } from '../lib/errors.js';
import type { ShimErrorData } from '../lib/messages.js';

const SKIP = new Set(['name', 'message', 'stack', 'code', 'cause']);
const BUILTINS: Readonly<Record<string, ErrorConstructor>> = {
  Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError,
};

function plain(v: unknown): boolean {
  const t = typeof v;
  return v === null || t === 'string' || t === 'number' || t === 'boolean' || v instanceof Uint8Array;
}

export function shimErrorToData(err: unknown): ShimErrorData {
  const props: Record<string, unknown> = {};
  if (typeof err === 'object' && err !== null) {
    for (const key of Object.keys(err)) {
      const v = (err as Record<string, unknown>)[key];
      if (!SKIP.has(key) && plain(v)) props[key] = v;
    }
  }
  return { error: errorToData(err), hadCode: errorCode(err) !== undefined, props };
}

/**
 * Rebuilds the helper's error in the calling worker: greenserve's own classes by code, builtin
 * classes by name (so `instanceof TypeError` still holds), anything else as an Error with the
 * original name. The stack is the caller's (captured above `caller`), then the helper's frames.
 */
export function shimErrorFromData(d: ShimErrorData, caller: Function, callerStack?: string): Error {
  const data = d.error;
  let err: Error;
  if (ERROR_CODES.includes(data.code) && d.hadCode) {
    err = errorFromData({ ...data, stack: undefined });
  } else {
    const Ctor = BUILTINS[data.name] ?? Error;
    err = new Ctor(data.message);
    if (err.name !== data.name) Object.defineProperty(err, 'name', { value: data.name, configurable: true, writable: true });
    if (d.hadCode) (err as { code?: string }).code = data.code;
    if (data.cause !== undefined) err.cause = errorFromData(data.cause);
  }
  for (const [k, v] of Object.entries(d.props)) {
    (err as unknown as Record<string, unknown>)[k] = v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
  }
  Error.captureStackTrace(err, caller);
  // An async call: the caller's frames were captured when it was made.
  if (callerStack !== undefined) err.stack = `${String(err.stack).split('\n')[0]}\n${helperFrames(callerStack)}`;
  const remote = helperFrames(data.stack);
  if (remote !== '') err.stack = `${err.stack}\n    --- in the I/O helper thread ---\n${remote}`;
  return err;
}

function helperFrames(stack: string | undefined): string {
  if (stack === undefined) return '';
  const lines = stack.split('\n');
  const first = lines.findIndex((l) => /^\s+at /.test(l));
  return first < 0 ? '' : lines.slice(first).join('\n');
}

/** The ArrayBuffers a value can hand over without a copy: a whole (non-shared) buffer at its top level. */
export function transferablesOf(value: unknown): ArrayBuffer[] {
  if (value instanceof ArrayBuffer) return [value];
  if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) {
    return [value.buffer];
  }
  return [];
}
