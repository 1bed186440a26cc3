// The app logger: `import { logger } from 'greenserve'` (or the lighter 'greenserve/logger', which
// loads only the logging modules into each worker). A pino logger: inside a request handler its
// records go to the error log with the request's id; see lib/log.ts and docs/logging.md.
import { createAppLogger, type Logger } from './log.js';

export type { Logger };

/** Records named `app`, at --log-level, in the error log, with `requestId` while a request runs. */
export const logger: Logger = createAppLogger();
