// The streaming transfers (bench/lib/streaming.mjs): GET /stream?mib=N streams N MiB of
// application/octet-stream in 64 KiB writes, honouring backpressure (no Content-Length: chunked);
// POST /stream reads the body as a stream and answers the number of bytes it counted.

const PIECE = Buffer.alloc(65536, 0x61);

export default function stream(req, res) {
  if (req.method === 'POST') {
    let n = 0;
    req.on('data', (c) => { n += c.length; });
    req.on('end', () => {
      const body = String(n);
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(body.length) });
      res.end(body);
    });
    return;
  }
  const total = Number(new URL(req.url, 'http://x').searchParams.get('mib')) * 16;
  res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
  let i = 0;
  const more = () => {
    while (i < total) {
      i++;
      if (!res.write(PIECE)) return void res.once('drain', more);
    }
    res.end();
  };
  more();
}
