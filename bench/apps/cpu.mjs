// Scenario `cpu`: GET /cpu -> a synchronous ~1 ms integer-hash loop (shared/work.mjs), answered
// as its 8-hex-digit hash. Node-style listener: greenserve, node:http and node:cluster load it.
import { cpuBody } from './shared/work.mjs';

export default function cpu(req, res) {
  const body = cpuBody();
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(body.length) });
  res.end(body);
}
