// Scenario `hello`: GET /hello -> 200, 13-byte `Hello, World!` as text/plain.
// Shared by every server in bench/ so the bytes on the wire are identical; any other
// path is a 404, so a wrong URL shows up in the non-2xx column instead of as a fast run.

const BODY = 'Hello, World!';
const HEADERS = { 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(BODY)) };

export default function hello(req, res) {
  if (req.url === '/hello') {
    res.writeHead(200, HEADERS);
    res.end(BODY);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': '10' });
  res.end('Not Found\n');
}
