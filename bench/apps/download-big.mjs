// Scenario `download-big`: GET /download-big -> 200, a 10 MiB application/octet-stream body sent
// with one `res.end(buffer)` (the buffer is made once, at load). What the server does with one
// large write: greenserve carries it from the worker thread to the socket in flow-controlled
// frames, node:http hands it to the socket as it is.

export const DOWNLOAD_BIG_BYTES = 10 * 1048576;
const BODY = Buffer.alloc(DOWNLOAD_BIG_BYTES, 0x61);
const HEADERS = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(DOWNLOAD_BIG_BYTES) };

export default function downloadBig(req, res) {
  if (req.url === '/download-big') {
    res.writeHead(200, HEADERS);
    res.end(BODY);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': '10' });
  res.end('Not Found\n');
}
