// Helpers shared by app-shapes.test.mjs and app-requests.test.mjs.
import { connect, serve } from './helpers.mjs';

export const BASE = { bind: ['127.0.0.1:0'], threads: 1, logLevel: 'silent', env: {} };

export async function text(handle, path, init) {
  const res = await fetch(new URL(path, handle.url), init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** serve() must reject: returns the error (closes the server and fails if it started instead). */
export async function serveError(t, options) {
  const [handle, err] = await serve({ ...BASE, ...options }).then((h) => [h, null], (e) => [null, e]);
  if (handle !== null) {
    await handle.close();
    t.fail(`serve() started ${options.app} (${handle.app}) instead of rejecting`);
    return {};
  }
  return err;
}

/** Send raw bytes on one connection, read until the server closes it; also gives our local port. */
export async function raw(port, data, ms = 3000) {
  const s = await connect(port);
  const localPort = s.localPort;
  return new Promise((resolve) => {
    const chunks = [];
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      s.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), localPort });
    }
    s.on('data', (c) => chunks.push(c));
    s.on('close', done);
    s.on('error', () => {});
    s.write(Buffer.from(data, 'latin1'));
  });
}

/** Body of the single response in `text` (Content-Length or chunked). */
export function bodyOf(text) {
  const at = text.indexOf('\r\n\r\n');
  const head = text.slice(0, at).toLowerCase();
  const rest = text.slice(at + 4);
  if (!head.includes('transfer-encoding: chunked')) return rest;
  let out = '';
  let r = rest;
  for (;;) {
    const le = r.indexOf('\r\n');
    const size = parseInt(r.slice(0, le), 16);
    if (!(size > 0)) return out;
    out += r.slice(le + 2, le + 2 + size);
    r = r.slice(le + 2 + size + 2);
  }
}

// Every byte value, several times over, in an order that is not sorted.
export const BINARY = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 151 + (i >> 8)) & 0xff));
