// A small load generator for supervisor tests: `clients` keep-alive connections (node's http
// Agent) each sending requests back to back, until `total` requests are done or `until()` says
// stop. Every response that is not a 200 and every socket error is counted and kept.
import http from 'node:http';

/**
 * @param {string | URL} url
 * @param {{ clients?: number, total?: number, until?: () => boolean, path?: string, onResponse?: (status: number, body: string) => void }} [options]
 */
export async function load(url, { clients = 20, total = Infinity, until = () => false, path = '/', onResponse = () => {} } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const u = new URL(path, url);
  /** @type {{ ok: number, failed: number, statuses: Record<number, number>, errors: string[], bodies: Map<string, number>, sent?: number }} */
  const out = { ok: 0, failed: 0, statuses: {}, errors: [], bodies: new Map() };
  let sent = 0;
  const one = () => /** @type {Promise<void>} */ (new Promise((resolve) => {
    const req = http.get({ agent, host: u.hostname, port: u.port, path: u.pathname + u.search }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        const status = /** @type {number} */ (res.statusCode);
        out.statuses[status] = (out.statuses[status] ?? 0) + 1;
        if (status === 200) out.ok++;
        else out.failed++;
        out.bodies.set(body, (out.bodies.get(body) ?? 0) + 1);
        onResponse(status, body);
        resolve();
      });
      res.on('error', (err) => { out.failed++; out.errors.push(err.message); resolve(); });
    });
    req.on('error', (/** @type {NodeJS.ErrnoException} */ err) => { out.failed++; out.errors.push(`${err.code ?? ''} ${err.message}`); resolve(); });
  }));
  const worker = async () => {
    while (sent < total && !until()) {
      sent++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
  agent.destroy();
  out.sent = sent;
  return out;
}
