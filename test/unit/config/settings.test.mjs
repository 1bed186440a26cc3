import t from 'tap';
import { availableParallelism } from 'node:os';
import { Value } from '@sinclair/typebox/value';
import {
  CLI_ACTIONS, SECTIONS, SETTINGS, SETTING_BY_KEY, describeAllowed, describeDefault, formatSize,
  parseBind, splitAppSpec,
} from '../../../dist/lib/config/settings.js';
import { helpText } from '../../../dist/lib/config/help.js';

const snake = (key) => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
const kebab = (key) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

t.test('every entry follows the naming rules', async (t) => {
  for (const s of SETTINGS) {
    t.match(s.key, /^[a-z][a-zA-Z0-9]*$/, `${s.key} is camelCase`);
    t.equal(s.env, `GREENSERVE_${snake(s.key)}`, `${s.key}: env name`);
    if (s.flag !== null) t.equal(s.flag, `--${kebab(s.key)}`, `${s.key}: flag`);
    if (s.short !== undefined) t.match(s.short, /^-[a-zA-Z]$/, `${s.key}: short flag`);
    t.ok(SECTIONS.includes(s.section), `${s.key}: known section`);
    t.match(s.help, /^[^\n]{10,100}$/, `${s.key}: help is one line`);
    t.notMatch(s.help, /\.$/, `${s.key}: help has no final period`);
    t.ok(s.doc.length > s.help.length, `${s.key}: doc says more than help`);
    t.match(s.metavar, /^[A-Z]+$/);
  }
});

t.test('keys, flags and env names are unique', async (t) => {
  const flags = [...SETTINGS.flatMap((s) => [s.flag, s.short]), ...CLI_ACTIONS.flatMap((a) => [a.flag, a.short])]
    .filter((f) => f != null);
  t.equal(new Set(flags).size, flags.length, 'flags');
  t.equal(new Set(SETTINGS.map((s) => s.env)).size, SETTINGS.length, 'env names');
  t.equal(SETTING_BY_KEY.size, SETTINGS.length, 'keys');
  t.same(SETTINGS.filter((s) => s.flag === null).map((s) => s.key), ['app'], 'only APP is positional');
});

t.test('every default is valid for its own schema and checks', async (t) => {
  for (const s of SETTINGS) {
    const d = s.schema.default;
    if (d === undefined) {
      t.equal(s.key, 'app', 'only app is required');
      continue;
    }
    t.ok(Value.Check(s.schema, d), `${s.key}: default ${JSON.stringify(d)} passes its schema`);
    for (const item of Array.isArray(d) ? d : [d]) t.equal(s.check?.(item) ?? null, null, `${s.key}: default passes check`);
  }
});

t.test('the defaults the brief asks for', async (t) => {
  const d = (key) => SETTING_BY_KEY.get(key).schema.default;
  t.same(d('bind'), ['127.0.0.1:8000']);
  t.equal(d('threads'), Math.min(1024, availableParallelism()));
  t.equal(describeDefault(SETTING_BY_KEY.get('threads')), 'number of available cores', 'not a machine-specific number');
  t.equal(d('connections'), 1000);
  t.equal(d('backlog'), 2048);
  t.equal(d('limitConcurrency'), 10000);
  t.equal(d('threadConcurrency'), 64);
  t.equal(d('keepAlive'), 75); // long enough to sit behind a 60 s load balancer (docs/settings.md)
  t.equal(d('headerTimeout'), 10);
  t.equal(d('maxRequestsPerConnection'), 0);
  // What node:http accepts (decision 0015): a head it takes is taken, a body is not limited.
  t.equal(d('limitRequestLine'), 16384);
  t.equal(d('limitRequestFields'), 1000);
  t.equal(d('limitRequestFieldSize'), 16384);
  t.equal(d('limitRequestHead'), 65536);
  t.equal(d('limitRequestBody'), 2 ** 40);
  t.equal(describeDefault(SETTING_BY_KEY.get('limitRequestBody')), '`1tb`, the largest value: no limit in practice');
  t.equal(d('interface'), 'auto');
  t.equal(d('gracefulTimeout'), 30);
  t.equal(d('logLevel'), 'info');
  t.equal(describeDefault(SETTING_BY_KEY.get('app')), null);
});

t.test('describeAllowed puts the schema in words', async (t) => {
  const a = (key) => describeAllowed(SETTING_BY_KEY.get(key));
  t.equal(a('threads'), 'an integer from 1 to 1024');
  t.equal(a('keepAlive'), 'a number from 0 to 3600');
  t.equal(a('limitConcurrency'), 'an integer of at least 1');
  t.equal(a('limitRequestFieldSize'), 'a byte size from 16 to 64kb (like 4096 or 4kb)');
  t.equal(a('limitRequestBody'), 'a byte size from 0 to 1tb (like 4096 or 4kb)');
  t.equal(a('logLevel'), 'one of trace, debug, info, warn, error, fatal, silent');
  t.equal(a('interface'), 'one of auto, node, fetch');
  t.equal(a('bind'), 'HOST:PORT, [IPv6]:PORT or unix:PATH');
  t.equal(formatSize(4094), '4094');
  t.equal(formatSize(1048576), '1mb');
  t.equal(formatSize(1536), '1536');
  t.equal(formatSize(0), '0');
});

t.test('parseBind', async (t) => {
  t.same(parseBind('127.0.0.1:8000'), { kind: 'tcp', host: '127.0.0.1', port: 8000 });
  t.same(parseBind('localhost:0'), { kind: 'tcp', host: 'localhost', port: 0 });
  t.same(parseBind('0.0.0.0:65535'), { kind: 'tcp', host: '0.0.0.0', port: 65535 });
  t.same(parseBind('my_host.internal:80'), { kind: 'tcp', host: 'my_host.internal', port: 80 });
  t.same(parseBind('[::1]:8080'), { kind: 'tcp', host: '::1', port: 8080 });
  t.same(parseBind('[::]:80'), { kind: 'tcp', host: '::', port: 80 });
  t.same(parseBind('[fe80::1%eth0]:80'), { kind: 'tcp', host: 'fe80::1%eth0', port: 80 });
  t.same(parseBind('unix:/tmp/gs.sock'), { kind: 'unix', path: '/tmp/gs.sock' });
  t.same(parseBind('unix:rel/a:b.sock'), { kind: 'unix', path: 'rel/a:b.sock' });

  const bad = {
    'localhost': /must be HOST:PORT, \[IPv6\]:PORT or unix:PATH/,
    '127.0.0.1:65536': /port must be an integer from 0 to 65535/,
    '127.0.0.1:': /port must be/,
    '127.0.0.1:-1': /port must be/,
    '127.0.0.1:8e3': /port must be/,
    ':8000': /HOST is missing/,
    '::1:80': /IPv6 host needs brackets/,
    '[::1:80': /closing "\]"/,
    '[::1]': /port is missing/,
    '[::1]80': /port is missing/,
    '[nope]:80': /"nope" is not an IPv6 address/,
    '999.1.1.1:80': /"999.1.1.1" is not a host name or IPv4 address/,
    'a b:80': /is not a host name/,
    'unix:': /unix: needs a socket path/,
  };
  for (const [input, re] of Object.entries(bad)) {
    const err = t.throws(() => parseBind(input), { code: 'GS_ERR_CONFIG', setting: 'bind' }, input);
    t.match(err.message, re, input);
    t.match(err.message, `(got ${JSON.stringify(input)})`);
    t.notMatch(err.message, /\n/);
  }
});

t.test('splitAppSpec splits at the last colon only before an identifier', async (t) => {
  const cases = {
    './app.js': ['./app.js', null],
    'app.js:handler': ['app.js', 'handler'],
    '/x/y.mjs:handler': ['/x/y.mjs', 'handler'],
    'file:///x/y.mjs': ['file:///x/y.mjs', null],
    'file:///x/y.mjs:handler': ['file:///x/y.mjs', 'handler'],
    'file:///x/a:b/y.mjs': ['file:///x/a:b/y.mjs', null],
    './app.js:default': ['./app.js', 'default'],
    './app.js:$h_1': ['./app.js', '$h_1'],
    './app.js:ünïcode': ['./app.js', 'ünïcode'],
    './app.js:1abc': ['./app.js:1abc', null],
    './app.js:a-b': ['./app.js:a-b', null],
    'http://host:8080/app.js': ['http://host:8080/app.js', null],
    ':handler': [':handler', null],
  };
  for (const [input, [app, appExport]] of Object.entries(cases)) {
    t.same(splitAppSpec(input), { app, appExport }, input);
  }
});

t.test('helpText is generated from the table', async (t) => {
  const help = helpText();
  t.match(help, /^usage: greenserve \[options\] \[APP\]\n/);
  for (const s of SETTINGS) {
    if (s.flag === null) continue;
    const shown = s.schema.type === 'boolean' ? `--[no-]${s.flag.slice(2)}` : `${s.flag} ${s.metavar}`;
    t.match(help, shown, `${s.key} is in --help`);
    if (s.short) t.match(help, `${s.short}, ${s.flag}`);
  }
  for (const a of CLI_ACTIONS) t.match(help, a.short ? `${a.short}, ${a.flag}` : `    ${a.flag}`);
  for (const section of SECTIONS.filter((x) => SETTINGS.some((s) => s.section === x && s.flag))) {
    t.match(help, `\n${section}:\n`, `section ${section}`);
  }
  t.match(help, '(default: 127.0.0.1:8000)');
  t.match(help, '(default: number of available cores)');
  t.match(help, 'GREENSERVE_');
  for (const line of help.split('\n')) t.ok(line.length <= 100, `line fits in 100 columns: ${line.slice(0, 30)}`);
  t.ok(help.endsWith('\n'));
});
