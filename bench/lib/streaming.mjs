// The streaming transfers: one client, one connection, one large body each way through a server
// running bench/apps/stream.mjs (or its fastify plugin): a streamed download of N MiB and an
// upload of N MiB sent in 64 KiB writes, each timed from the request to the end of the answer.
// Used by bench/run.mjs (the "Streaming" section of docs/benchmarks.md) and bench/streaming.mjs.
import http from 'node:http';

export const STREAM_APPS = { node: 'bench/apps/stream.mjs', fastify: 'bench/apps/fastify/stream.mjs' };
const MIB = 1048576;

/** GET /stream?mib=N on a fresh connection; resolves MiB/s once every byte is in (rejects on a short body). */
export function download(port, mib) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http.get({ host: '127.0.0.1', port, path: `/stream?mib=${mib}`, agent: false }, (res) => {
      let n = 0;
      res.on('data', (c) => { n += c.length; });
      res.on('end', () => {
        if (res.statusCode !== 200 || n !== mib * MIB) return reject(new Error(`download: status ${res.statusCode}, ${n} bytes of ${mib * MIB}`));
        resolve(mib / ((performance.now() - t0) / 1000));
      });
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** POST /stream with N MiB in 64 KiB writes; resolves MiB/s once the server's count (which must match) is in. */
export function upload(port, mib) {
  return new Promise((resolve, reject) => {
    const piece = Buffer.alloc(65536, 0x62);
    const total = mib * 16;
    const t0 = performance.now();
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: '/stream', agent: false,
      headers: { 'content-type': 'application/octet-stream', 'content-length': mib * MIB },
    }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => {
        if (res.statusCode !== 200 || Number(body) !== mib * MIB) return reject(new Error(`upload: status ${res.statusCode}, server counted ${body.slice(0, 80)}`));
        resolve(mib / ((performance.now() - t0) / 1000));
      });
    });
    req.on('error', reject);
    let i = 0;
    const more = () => {
      while (i < total) {
        i++;
        if (!req.write(piece)) return void req.once('drain', more);
      }
      req.end();
    };
    more();
  });
}
