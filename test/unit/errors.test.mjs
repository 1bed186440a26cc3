import t from 'tap';
import { readFileSync } from 'node:fs';
import {
  AppLoadError, AppShapeError, ConfigError, ERROR_CODES, GreenserveError,
  UNKNOWN_ERROR_CODE, WorkerCrashedError, WorkerTimeoutError, BootTimeoutError, errorCode, errorFromData, errorToData,
} from '../../dist/lib/errors.js';

const CLASSES = [ConfigError, AppLoadError, AppShapeError, WorkerCrashedError, WorkerTimeoutError, BootTimeoutError];
const make = (C) => (C === ConfigError ? new ConfigError('threads', 'must be an integer', '--threads') : new C(`a ${C.name}`));

t.test('every class has a stable GS_ERR_ code, listed once in ERROR_CODES', async (t) => {
  t.equal(new Set(ERROR_CODES).size, ERROR_CODES.length, 'codes are unique');
  for (const C of CLASSES) {
    const err = make(C);
    t.ok(err instanceof GreenserveError && err instanceof Error, `${C.name} is a GreenserveError`);
    t.match(err.code, /^GS_ERR_[A-Z0-9_]+$/);
    t.equal(err.code, C.code, `${C.name}: instance code is the static code`);
    t.equal(err.name, C.name);
    t.ok(ERROR_CODES.includes(err.code), `${err.code} is in ERROR_CODES`);
    t.match(err.stack, new RegExp(`^${C.name}: `), 'the stack starts with the class name');
  }
});

t.test('statusCode where HTTP applies', async (t) => {
  t.equal(new WorkerCrashedError('x').statusCode, 502);
  t.equal(new WorkerTimeoutError('x').statusCode, 504);
  t.equal(new BootTimeoutError('x').statusCode, undefined);
  t.equal(new ConfigError('threads', 'x').statusCode, undefined);
  t.equal(new AppLoadError('x').statusCode, undefined);
});

t.test('ConfigError: one line that names the setting', async (t) => {
  const err = new ConfigError('threads', 'must be an integer from 1 to 1024 (got "abc")', '--threads');
  t.equal(err.message, '--threads: must be an integer from 1 to 1024 (got "abc")');
  t.equal(err.setting, 'threads');
  t.equal(err.code, 'GS_ERR_CONFIG');
  t.equal(new ConfigError('bind', 'bad').message, 'bind: bad', 'the label defaults to the setting');
  t.equal(new ConfigError('app', 'line one\n  line two\r\nthree').message, 'app: line one line two three');
});

t.test('errorToData gives plain, cloneable data; errorFromData rebuilds the class by code', async (t) => {
  for (const C of CLASSES) {
    const original = make(C);
    const data = structuredClone(errorToData(original)); // what crossing a thread does
    t.same(Object.keys(data).slice(0, 4), ['name', 'code', 'message', 'stack']);
    const back = errorFromData(data);
    t.equal(back.constructor, C, `${C.name} comes back as ${C.name}`);
    t.equal(back.code, original.code);
    t.equal(back.name, original.name);
    t.equal(back.message, original.message);
    t.equal(back.stack, original.stack, 'the stack is the original thread\'s');
    t.equal(back.statusCode, original.statusCode);
  }
  const config = errorFromData(errorToData(new ConfigError('bind', 'bad port', '--bind')));
  t.equal(config.setting, 'bind');
  t.equal(config.message, '--bind: bad port');
});

t.test('causes cross too, to a bounded depth', async (t) => {
  const inner = Object.assign(new Error('no such file'), { code: 'ENOENT' });
  const err = new AppLoadError('cannot load app ./x.js: no such file', { cause: inner });
  const back = errorFromData(structuredClone(errorToData(err)));
  t.equal(back.code, 'GS_ERR_APP_LOAD');
  t.equal(back.cause.code, 'ENOENT');
  t.equal(back.cause.message, 'no such file');

  let deep = new Error('0');
  for (let i = 1; i < 10; i++) deep = new Error(String(i), { cause: deep });
  let data = errorToData(deep);
  let depth = 0;
  while (data.cause) [data, depth] = [data.cause, depth + 1];
  t.equal(depth, 4, 'at most 4 causes');
});

t.test('errors from elsewhere keep their name and code', async (t) => {
  const sys = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  const back = errorFromData(errorToData(sys));
  t.equal(back.code, 'ECONNREFUSED');
  t.equal(back.message, sys.message);
  t.notOk(back instanceof GreenserveError);

  const typeErr = errorFromData(errorToData(new TypeError('x is not a function')));
  t.equal(typeErr.name, 'TypeError');
  t.equal(typeErr.code, UNKNOWN_ERROR_CODE, 'an error without a code gets GS_ERR_UNKNOWN');

  t.same(errorToData('boom'), { name: 'Error', code: UNKNOWN_ERROR_CODE, message: 'boom', stack: undefined });
  t.equal(errorToData({ reason: 1 }).message, '{"reason":1}');
  t.equal(errorToData(undefined).message, 'undefined');
  const cyclic = {};
  cyclic.self = cyclic;
  t.equal(errorToData(cyclic).message, '[object Object]');
  t.equal(errorToData(Object.assign(new Error('x'), { statusCode: 418 })).statusCode, 418);
});

t.test('errorCode reads a string code from anything', async (t) => {
  t.equal(errorCode(new WorkerCrashedError('x')), 'GS_ERR_WORKER_CRASHED');
  t.equal(errorCode({ code: 'ENOENT' }), 'ENOENT');
  t.equal(errorCode({ code: 5 }), undefined);
  t.equal(errorCode(null), undefined);
  t.equal(errorCode('GS_ERR_CONFIG'), undefined);
});

t.test('docs/errors.md lists every code, and only codes that exist', async (t) => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set(doc.match(/GS_ERR_[A-Z0-9_]+/g));
  for (const code of ERROR_CODES) t.ok(documented.has(code), `${code} is documented in docs/errors.md`);
  for (const code of documented) t.ok(ERROR_CODES.includes(code), `${code} in docs/errors.md exists in lib/errors.ts`);
  for (const code of ERROR_CODES) {
    t.match(doc, new RegExp(`^\\| \`${code}\` \\|.*\\| \\S.* \\|$`, 'm'), `${code} has a table row with a meaning`);
  }
});
