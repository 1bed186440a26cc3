// design: liveness and readiness answered by the acceptor itself (--health-path, --ready-path).
// The server swaps its submit for one that compares the framed target with the two paths only
// when either is set, so with both off the request path does no work for them (a disabled feature costs nothing per request).
// The answer goes through Connection.respond, so it is written in order with the other responses
// on the connection, and it never touches a worker: it stays fast while every worker is busy.
import type { Exchange } from './connection.js';
import type { FramedRequest } from './framer.js';
import { httpDate } from './responses.js';

export interface HealthPaths {
  /** liveness path, or null */
  readonly live: string | null;
  /** readiness path, or null */
  readonly ready: string | null;
}

/** The paths from the settings: readiness defaults to `<healthPath>/ready`. Null when both are off. */
export function healthPathsOf(c: { readonly healthPath: string; readonly readyPath: string }): HealthPaths | null {
  const live = c.healthPath === '' ? null : c.healthPath;
  const ready = c.readyPath !== '' ? c.readyPath : live === null ? null : `${live.replace(/\/$/, '')}/ready`;
  return live === null && ready === null ? null : { live, ready };
}

/** `target` is `path`, or `path?query`. */
function matches(target: string, path: string | null): boolean {
  if (path === null) return false;
  return target === path || (target.length > path.length && target.charCodeAt(path.length) === 0x3f && target.startsWith(path));
}

function response(status: 200 | 503, body: string, head: boolean, req: FramedRequest, close: boolean): Buffer {
  const reason = status === 200 ? 'OK' : 'Service Unavailable';
  const conn = close ? 'Connection: close\r\n' : req.http10 ? 'Connection: keep-alive\r\n' : '';
  const text =
    `HTTP/1.1 ${status} ${reason}\r\nDate: ${httpDate()}\r\n${conn}` +
    'Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n' +
    `Content-Length: ${body.length}\r\n\r\n${head ? '' : body}`;
  return Buffer.from(text, 'latin1');
}

/**
 * A function that answers `ex` when its target is a health path and returns true, or returns
 * false and leaves it alone. `isReady` says whether a worker can take work and the server is not
 * draining.
 */
export function healthResponder(paths: HealthPaths, isReady: () => boolean): (ex: Exchange, req: FramedRequest) => boolean {
  return (ex, req) => {
    const target = req.target;
    let status: 200 | 503;
    let body: string;
    if (matches(target, paths.live)) {
      status = 200;
      body = 'ok\n';
    } else if (matches(target, paths.ready)) {
      const ready = isReady();
      status = ready ? 200 : 503;
      body = ready ? 'ready\n' : 'not ready\n';
    } else {
      return false;
    }
    ex.conn.respond(ex, response(status, body, req.method === 'HEAD', req, ex.close), false);
    return true;
  };
}
