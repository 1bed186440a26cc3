// design: one pino logger per thread, writing JSON lines to stderr. On the acceptor the
// destination is asynchronous (sonic-boom), so a slow stderr never blocks the event loop; in a
// worker it is synchronous, since a worker may block and its lines must not be lost when it is
// terminated. Lines are written whole, so threads never interleave inside a line.
import { isMainThread, threadId } from 'node:worker_threads';
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  const dest = pino.destination({ dest: 2, sync: !isMainThread, minLength: 0 });
  return pino({ level, base: { pid: process.pid, thread: threadId, ...bindings } }, dest);
}
