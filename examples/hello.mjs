// The smallest greenserve app: a synchronous node request listener.
//   greenserve --threads 8 --connections 1000 examples/hello.mjs
export default function hello(req, res) {
  res.setHeader('content-type', 'text/plain');
  res.end('Hello, World!');
}
