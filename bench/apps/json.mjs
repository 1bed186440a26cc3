// Scenario `json`: GET /json -> a 1 KiB JSON document (shared/doc.mjs), serialised per request.
import { doc } from './shared/doc.mjs';

export default function json(req, res) {
  const body = JSON.stringify(doc);
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}
