// design: running out of file descriptors (the process's limit: EMFILE; the system's: ENFILE) is
// silent otherwise. libuv, which accepts connections for node, then accepts each waiting
// connection and closes it at once (its reserve-descriptor trick), and node hears of none of it:
// no 'error' on the listener, no line anywhere, while clients see their connections closed
// unanswered. So the acceptor opens and closes a descriptor itself at each sweep (once a second);
// when that fails for lack of descriptors, the error log says so, at most once a minute while it
// lasts, and once more when descriptors are available again.
import { closeSync, openSync } from 'node:fs';
import { devNull } from 'node:os';
import { Throttle, type Logger } from '../log.js';

export class DescriptorWatch {
  private readonly log: Logger;
  /** When the shortage was first seen (a performance.now() time), or null while there is none. */
  private since: number | null = null;
  private readonly warn = new Throttle();

  constructor(log: Logger) {
    this.log = log;
  }

  /** Called once a second (`now`: performance.now()) with the connections the acceptor holds. */
  check(now: number, connections: number): void {
    const code = shortage();
    if (code === null) {
      if (this.since === null) return;
      const seconds = Math.round((now - this.since) / 1000);
      this.since = null;
      this.log.info({ seconds }, `file descriptors are available again, after about ${seconds} s without: new connections are accepted`);
      return;
    }
    this.since ??= now;
    if (this.warn.take(now) === null) return;
    this.log.error(
      { code, connections, seconds: Math.round((now - this.since) / 1000) },
      `out of file descriptors (${code}): new connections are closed as they arrive, unanswered, until some are free; ` +
        `${connections} connection(s) open; raise the limit (ulimit -n, systemd LimitNOFILE=) or lower --connections ` +
        '(at most one such line a minute while it lasts)',
    );
  }
}

/** EMFILE or ENFILE when no descriptor can be opened now, else null. */
function shortage(): string | null {
  try {
    closeSync(openSync(devNull, 'r'));
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EMFILE' || code === 'ENFILE' ? code : null;
  }
}
