// A small load generator for supervisor tests: `clients` keep-alive connections (node's http
// Agent) each sending requests back to back, until `total` requests are done or `until()` says
// stop. Every response that is not a 200 and every socket error is counted and kept.
import http from 'node:http';

export async function load(url, { clients = 20, total = Infinity, until = () => false, path = '/', onResponse = () => {} } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const u = new URL(path, url);
  const out = { ok: 0, failed: 0, statuses: {}, errors: [], bodies: new Map() };
  let sent = 0;
  const one = () => new Promise((resolve) => {
    const req = http.get({ agent, host: u.hostname, port: u.port, path: u.pathname + u.search }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        out.statuses[res.statusCode] = (out.statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode === 200) out.ok++;
        else out.failed++;
        out.bodies.set(body, (out.bodies.get(body) ?? 0) + 1);
        onResponse(res.statusCode, body);
        resolve();
      });
      res.on('error', (err) => { out.failed++; out.errors.push(err.message); resolve(); });
    });
    req.on('error', (err) => { out.failed++; out.errors.push(`${err.code ?? ''} ${err.message}`); resolve(); });
  });
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
