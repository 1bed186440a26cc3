// design: responses the acceptor writes itself (framing errors, overload, 100 Continue), built
// as bytes. The Date header is refreshed at most once a second (uvicorn's server loop does the same).
import { STATUS_CODES } from 'node:http';

let dateSecond = 0;
let dateValue = '';

/** The current IMF-fixdate, recomputed once per second. */
export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

export const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** A complete plain-text response for `status`; `close` adds `Connection: close`. */
export function statusResponse(status: number, close: boolean, extraHeaders = ''): Buffer {
  const reason = STATUS_CODES[status] ?? 'Error';
  const body = `${reason}\n`;
  const head =
    `HTTP/1.1 ${status} ${reason}\r\n` +
    `Date: ${httpDate()}\r\n` +
    (close ? 'Connection: close\r\n' : '') +
    extraHeaders +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n`;
  return Buffer.from(head + body, 'latin1');
}
