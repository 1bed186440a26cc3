// design: the access log (--access-log), written by the acceptor: one line per answered request,
// from the app or from the acceptor itself. The destination is pino's asynchronous sonic-boom
// stream: a write appends to its buffer and returns, the file write happens off the event loop's
// critical path, so a slow disk never blocks the acceptor. Lines are built here, with a fixed set
// of fields (cheaper than a logger call, and no level or pid that mean nothing in an access log):
// `json` objects, or `combined` (Apache/nginx combined, plus duration, worker and request id).
// Hot path: the lines of one event-loop turn are joined here and handed to sonic-boom once, at
// the end of the turn (setImmediate). A write per line cost more than building the line:
// sonic-boom measures the byte length of its pending chunk (up to 16 KiB) on every write, so a
// busy turn cost grew with the square of its lines; measured 4.8 µs of CPU per line before, 1.4
// after (bench/micro-access-log.mjs). The ISO time is built once per millisecond. The bytes
// written are the same either way.
// SIGUSR1 reopens the file (reopen()).
import pino from 'pino';
import type { ObservedConnection, RequestSink } from './observe.js';
import type { RequestRecord } from './request-record.js';
import { endDestination, giveUpWhenGone } from '../log.js';

type Destination = ReturnType<typeof pino.destination>;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
let clfSecond = 0;
let clfValue = '';

/** `10/Oct/2000:13:55:36 +0000`, recomputed once per second. */
function clfTime(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== clfSecond) {
    clfSecond = second;
    const d = new Date(now);
    const p = (n: number): string => String(n).padStart(2, '0');
    clfValue = `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
  }
  return clfValue;
}

/** A value inside a quoted combined-log field: `"`, `\` and control bytes escaped. */
function quoted(s: string): string {
  // eslint-disable-next-line no-control-regex -- control bytes are what this escapes
  return s === '' ? '-' : s.replace(/["\\\x00-\x1f\x7f-\xff]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** Past this many characters waiting, a turn's lines are handed over at once. */
const BATCH_CHARS = 65536;

export class AccessLog implements RequestSink {
  readonly combined: boolean;
  private readonly dest: Destination;
  private readonly file: string | null;
  /** Lines of this turn not yet handed to the destination. */
  private pending = '';
  private scheduled = false;
  /** close() was called: the destination is ending. */
  private closed = false;
  private readonly onTurnEnd = (): void => this.flush();
  /** At exit, lines still pending go out synchronously. */
  private readonly onExit = (): void => this.flushAtExit();
  /** `time` of the json format, rebuilt when the millisecond changes. */
  private isoMs = -1;
  private iso = '';

  /** `target`: `-` for stdout, or a file path (appended to, created with its directory). */
  constructor(target: string, format: 'json' | 'combined') {
    this.file = target === '-' ? null : target;
    this.dest = pino.destination({ dest: this.file ?? 1, sync: false, minLength: 0, mkdir: true, append: true });
    // A broken destination must not bring the acceptor down; stdout whose reader is gone is given up.
    if (this.file === null) giveUpWhenGone(this.dest, 'access log');
    else this.dest.on('error', () => {});
    this.combined = format === 'combined';
    process.on('exit', this.onExit);
  }

  end(rec: RequestRecord, ms: number, conn: ObservedConnection, slot: number): void {
    const worker = slot < 0 ? null : slot;
    let line: string;
    if (!this.combined) {
      const now = Date.now();
      if (now !== this.isoMs) {
        this.isoMs = now;
        this.iso = new Date(now).toISOString();
      }
      // remote, method and request id are plain ASCII the acceptor checked; the target may hold `"` or `\`.
      line =
        `{"time":"${this.iso}","remote":"${conn.remote}","method":"${rec.method}",` +
        `"target":${JSON.stringify(rec.target)},"status":${rec.status},"bytes":${rec.bytes},` +
        `"duration_ms":${Math.round(ms * 1000) / 1000},"worker":${worker},` +
        `"request_id":${rec.requestId === '' ? 'null' : `"${rec.requestId}"`}}\n`;
    } else {
      line =
        `${conn.remote} - - [${clfTime()}] "${rec.method} ${quoted(rec.target)} HTTP/1.${rec.http10 ? 0 : 1}" ` +
        `${rec.status === 0 ? '-' : rec.status} ${rec.bytes} "${quoted(rec.referer)}" "${quoted(rec.userAgent)}" ` +
        `${(ms / 1000).toFixed(6)} ${worker ?? '-'} ${rec.requestId || '-'}\n`;
    }
    this.pending += line;
    if (this.pending.length >= BATCH_CHARS) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.onTurnEnd);
    }
  }

  /** Hand the lines of this turn to the destination (one write). */
  private flush(): void {
    this.scheduled = false;
    if (this.pending === '' || this.closed) return;
    const lines = this.pending;
    this.pending = '';
    this.dest.write(lines);
  }

  private flushAtExit(): void {
    if (this.pending === '') return;
    this.flush();
    try {
      this.dest.flushSync(); // in order after what sonic-boom still held, whether or not pino flushed it first
    } catch {
      // not open yet, or not writable now: nothing more can be done at exit
    }
  }

  /** Reopen the file (after logrotate moved it); stdout needs nothing. */
  reopen(): void {
    this.flush(); // lines of this turn belong to the file as it was
    if (this.file !== null) this.dest.reopen();
  }

  /** Write out what is buffered and close (the server is stopping). */
  close(): Promise<void> {
    this.flush();
    this.closed = true;
    process.off('exit', this.onExit);
    return endDestination(this.dest);
  }
}
