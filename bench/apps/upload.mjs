// Scenario `upload`: POST /upload with a 64 KiB body -> the number of body bytes received, as
// text (`65536`). The body is read as a stream and counted, not buffered.

export default function upload(req, res) {
  let bytes = 0;
  req.on('data', (chunk) => { bytes += chunk.length; });
  req.on('end', () => {
    const body = String(bytes);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(body.length) });
    res.end(body);
  });
}
