// socket.io on greenserve's worker threads: a chat room whose messages reach every client,
// whichever thread it is connected to.
//
//   greenserve --threads 4 --sticky query:sid examples/socketio/app.mjs
//
// Two things make it work with more than one thread:
//  - `--sticky query:sid` sends all the requests of one engine.io session (long-polling first,
//    then the WebSocket upgrade, each carrying `?sid=`) to the thread that opened it;
//  - ThreadsAdapter relays `io.emit` and room broadcasts to the other threads over a
//    `greenserve/broadcast` channel.
// Written as socket.io's own "get started" writes it (the server listens; greenserve serves it on
// --bind instead).
import { createServer } from 'node:http';
import { threadId } from 'node:worker_threads';
import { Server } from 'socket.io';
import { ThreadsAdapter } from './threads-adapter.mjs';

const server = createServer((req, res) => {
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.end(PAGE);
});
const io = new Server(server, { adapter: ThreadsAdapter });

io.on('connection', (socket) => {
  socket.on('whoami', (ack) => ack({ threadId }));
  socket.on('say', (text) => io.emit('said', { text: String(text).slice(0, 500), thread: threadId }));
});

server.listen(Number(process.env.PORT || 3000));

const PAGE = `<!doctype html>
<title>socket.io on greenserve</title>
<ul id="log"></ul>
<form id="f"><input id="m" autocomplete="off"><button>Send</button></form>
<script src="/socket.io/socket.io.js"></script>
<script>
  const socket = io();
  const log = document.getElementById('log');
  socket.on('said', ({ text, thread }) => {
    const li = document.createElement('li');
    li.textContent = text + ' (thread ' + thread + ')';
    log.append(li);
  });
  document.getElementById('f').onsubmit = (e) => {
    e.preventDefault();
    const m = document.getElementById('m');
    if (m.value) socket.emit('say', m.value);
    m.value = '';
  };
</script>
`;
