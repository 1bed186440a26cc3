// The text format of the error log (lib/log.ts formatText): one pino record, as pino writes it, to
// the line people read. Times are local: the test builds the expected time the same way.
import t from 'tap';
import path from 'node:path';
import { root } from '../helpers.mjs';

const { formatText } = await import(path.join(root, 'dist', 'lib', 'log.js'));

const time = new Date(2026, 11, 7, 18, 5, 9, 42).getTime(); // local 2026-12-07 18:05:09.042
const at = '2026-12-07 18:05:09.042';
const line = (r) => formatText(JSON.stringify({ time, pid: 7, thread: 0, ...r }));

t.equal(line({ level: 30, msg: 'listening on http://127.0.0.1:8000', address: 'http://127.0.0.1:8000' }), `${at} INFO  listening on http://127.0.0.1:8000\n`, 'greenserve\'s own record: its fields are left out');
t.equal(line({ level: 40, thread: 3, worker: 1, msg: 'slow' }), `${at} WARN  [worker 1] slow\n`, 'the worker slot');
t.equal(
  line({ level: 50, thread: 3, worker: 0, requestId: 'r1', method: 'GET', url: '/x?y=1', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (file:///app.mjs:1:1)' }, msg: 'handler threw' }),
  `${at} ERROR [worker 0 request r1] handler threw: GET /x?y=1\n    Error: boom\n        at f (file:///app.mjs:1:1)\n`,
  'a handler error: its request, the stack indented below',
);
t.equal(line({ level: 30, worker: 2, name: 'app', requestId: 'r2', orderId: 42, msg: 'order placed' }), `${at} INFO  [worker 2 app request r2] order placed {"orderId":42}\n`, 'an app record keeps its own fields');
t.equal(line({ level: 30, worker: 2, name: 'console', stack: 'at a\nat b', msg: 'Trace: here' }), `${at} INFO  [worker 2 console] Trace: here\n    at a\n    at b\n`, 'a stack field below');
t.equal(line({ level: 60, msg: 'x' }), `${at} FATAL x\n`);
t.equal(line({ level: 20, msg: 'x' }), `${at} DEBUG x\n`);
t.equal(line({ level: 10, msg: 'x' }), `${at} TRACE x\n`);
t.equal(line({ level: 50, err: { message: 'no stack' }, msg: 'failed' }), `${at} ERROR failed\n    no stack\n`, 'an error without a stack: its message');
t.equal(formatText('not json'), 'not json\n', 'a line that is not a record is passed on');
t.equal(formatText('[1,2]'), '[1,2]\n');
