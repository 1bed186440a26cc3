import t from 'tap';
import { closest, levenshtein, parseArgv, resolveConfig } from '../../../dist/lib/config/resolve.js';

const APP = { app: './app.js' };
/** resolveConfig with no process.env, so the test does not depend on the shell. */
const resolve = ({ cli, env = {}, options } = {}) => resolveConfig({ cli, env, options });
const cliOf = (...argv) => parseArgv(argv).options;

/** Asserts `fn` throws a one-line ConfigError whose message starts with `label: ` and matches `re`. */
function throwsConfig(t, fn, label, re, name = `${label} ${re}`) {
  let err;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  t.ok(err, `${name}: throws`);
  if (!err) return undefined;
  t.equal(err.code, 'GS_ERR_CONFIG', `${name}: code`);
  t.equal(err.name, 'ConfigError');
  t.ok(err.message.startsWith(`${label}: `), `${name}: message names ${label}: ${err.message}`);
  t.notMatch(err.message, /[\r\n]/, `${name}: one line`);
  t.match(err.message, re, name);
  return err;
}

t.test('defaults, and app split into app and appExport', async (t) => {
  const c = resolve({ options: { app: './app.js:handler' } });
  t.equal(c.app, './app.js');
  t.equal(c.appExport, 'handler');
  t.same(c.bind, ['127.0.0.1:8000']);
  t.equal(c.backlog, 2048);
  t.equal(c.logLevel, 'info');
  t.ok(c.threads >= 1);
  t.equal(resolve({ options: APP }).appExport, null);
});

t.test('precedence: defaults < env < CLI < library options', async (t) => {
  const env = { GREENSERVE_APP: 'env.js', GREENSERVE_THREADS: '2', GREENSERVE_BACKLOG: '100', GREENSERVE_KEEP_ALIVE: '7' };
  const cli = cliOf('cli.js', '--threads', '3', '--backlog=200');
  const options = { backlog: 300 };
  const c = resolve({ env, cli, options });
  t.equal(c.keepAlive, 7, 'env over default');
  t.equal(c.threads, 3, 'CLI over env');
  t.equal(c.app, 'cli.js', 'CLI over env (APP)');
  t.equal(c.backlog, 300, 'options over CLI');
  t.equal(c.gracefulTimeout, 30, 'default where nothing is given');
  t.equal(resolve({ env }).app, 'env.js', 'GREENSERVE_APP gives APP');
  t.same(resolve({ env: { GREENSERVE_BIND: 'a:1' }, cli: cliOf('x', '-b', 'b:2', '-b', 'c:3') }).bind, ['b:2', 'c:3'],
    'a list from the CLI replaces the env list');
});

t.test('env: only GREENSERVE_*, empty means unset, lists split on commas', async (t) => {
  const c = resolve({ env: { PATH: '/bin', GREENSERVE_THREADS: '', GREENSERVE_BIND: ' a:1 , unix:/s ,,', GREENSERVE_APP: 'x' } });
  t.same(c.bind, ['a:1', 'unix:/s']);
  t.ok(c.threads >= 1);
});

t.test('env defaults to process.env', async (t) => {
  process.env.GREENSERVE_BACKLOG = '77';
  t.teardown(() => delete process.env.GREENSERVE_BACKLOG);
  t.equal(resolveConfig({ options: APP }).backlog, 77);
});

t.test('values from strings', async (t) => {
  const c = resolve({ cli: cliOf('x', '--keep-alive', '0.5', '--limit-request-body', '2mb', '--limit-request-line=8kb',
    '--limit-request-field-size', '1.5k', '--graceful-timeout', '.25', '--threads', '+4') });
  t.equal(c.keepAlive, 0.5);
  t.equal(c.limitRequestBody, 2 * 1024 * 1024);
  t.equal(c.limitRequestLine, 8192);
  t.equal(c.limitRequestFieldSize, 1536);
  t.equal(c.gracefulTimeout, 0.25);
  t.equal(c.threads, 4);
  t.equal(resolve({ env: { GREENSERVE_APP: 'x', GREENSERVE_LIMIT_REQUEST_BODY: '1TB' } }).limitRequestBody, 2 ** 40);
  t.equal(resolve({ options: { ...APP, limitRequestBody: '64kb' } }).limitRequestBody, 65536, 'sizes as strings in options');
  t.same(resolve({ options: { ...APP, bind: '0.0.0.0:80' } }).bind, ['0.0.0.0:80'], 'a list as one string in options, as in a config file');
  const file = { path: 'f.mjs', settings: { app: new URL('file:///srv/app.mjs:handler') } };
  const fromFile = resolveConfig({ file, env: {} });
  t.same([fromFile.app, fromFile.appExport], ['file:///srv/app.mjs', 'handler'], 'app as a URL in a config file, as in options');
});

t.test('each kind of bad value names the setting as it was given', async (t) => {
  const app = ['x.js'];
  const cases = [
    [['--threads', 'abc'], '--threads', 'must be an integer from 1 to 1024 (got "abc")'],
    [['-t', '0'], '--threads', 'must be an integer from 1 to 1024 (got "0")'],
    [['--threads', '1.5'], '--threads', '(got "1.5")'],
    [['--threads', '1e3'], '--threads', '(got "1e3")'],
    [['--threads', '0x10'], '--threads', '(got "0x10")'],
    [['--threads', ''], '--threads', '(got "")'],
    [['--threads', '-1'], '--threads', '(got "-1")'],
    [['--threads', '1025'], '--threads', '(got "1025")'],
    [['--keep-alive', 'soon'], '--keep-alive', 'must be a number from 0 to 3600 (got "soon")'],
    [['--keep-alive', 'Infinity'], '--keep-alive', 'must be a number'],
    [['--keep-alive', '3601'], '--keep-alive', 'must be a number from 0 to 3600'],
    [['--limit-request-body', '2tb'], '--limit-request-body', 'must be a byte size from 0 to 1tb'],
    [['--limit-request-body', '1.5b'], '--limit-request-body', '(got "1.5b")'],
    [['--limit-request-body', '10 parsecs'], '--limit-request-body', '(got "10 parsecs")'],
    [['--limit-request-line', '15'], '--limit-request-line', 'must be a byte size from 16 to 64kb'],
    [['--limit-concurrency', '0'], '--limit-concurrency', 'must be an integer of at least 1 (got "0")'],
    [['--log-level', 'loud'], '--log-level', 'must be one of trace, debug, info, warn, error, fatal, silent (got "loud")'],
    [['--interface', 'wsgi'], '--interface', 'must be one of auto, node, fetch (got "wsgi")'],
    [['--bind', 'localhost'], '--bind', 'must be HOST:PORT, [IPv6]:PORT or unix:PATH (got "localhost")'],
    [['-b', 'a:1', '-b', 'a:70000'], '--bind', 'port must be an integer from 0 to 65535 (got "a:70000")'],
    [['--bind='], '--bind', '(got "")'],
  ];
  for (const [argv, label, text] of cases) {
    throwsConfig(t, () => resolve({ cli: cliOf(...app, ...argv) }), label, text, argv.join(' '));
  }
  throwsConfig(t, () => resolve({ cli: cliOf('x.js:') }), 'APP', /export name after ":" is missing/);
  throwsConfig(t, () => resolve({ cli: cliOf(' ') }), 'APP', /must name a module/);
});

t.test('bad env and library values are named as given', async (t) => {
  const err = throwsConfig(t, () => resolve({ env: { GREENSERVE_APP: 'x', GREENSERVE_THREADS: 'many' } }),
    'GREENSERVE_THREADS', 'must be an integer from 1 to 1024 (got "many")');
  t.equal(err.setting, 'threads', 'setting holds the key');
  throwsConfig(t, () => resolve({ env: { GREENSERVE_APP: 'x', GREENSERVE_BIND: 'a:1,nope' } }), 'GREENSERVE_BIND', '(got "nope")');
  throwsConfig(t, () => resolve({ options: { ...APP, threads: '4' } }), 'threads', 'must be an integer from 1 to 1024 (got "4")');
  throwsConfig(t, () => resolve({ options: { ...APP, threads: 2.5 } }), 'threads', '(got 2.5)');
  throwsConfig(t, () => resolve({ options: { ...APP, threads: null } }), 'threads', '(got null)');
  throwsConfig(t, () => resolve({ options: { ...APP, bind: 'nohost' } }), 'bind', 'must be HOST:PORT, [IPv6]:PORT or unix:PATH (got "nohost")');
  throwsConfig(t, () => resolve({ options: { ...APP, bind: [] } }), 'bind', 'must be a list of at least one HOST:PORT');
  throwsConfig(t, () => resolve({ options: { ...APP, bind: [80] } }), 'bind', '(got 80)');
  throwsConfig(t, () => resolve({ options: { ...APP, logLevel: 'x'.repeat(200) } }), 'logLevel', /\.\.\.\)$/, 'long values are cut');
  throwsConfig(t, () => resolve({ options: { app: 42 } }), 'app', '(got 42)');
  throwsConfig(t, () => resolve({ options: { ...APP, keepAlive: 'x\ny' } }), 'keepAlive', '(got "x\\ny")', 'newlines stay escaped');
  const bad = throwsConfig(t, () => resolve({ env: { GREENSERVE_APP: 'x', GREENSERVE_THREADS: '0' }, cli: cliOf('-t', '2') }),
    'GREENSERVE_THREADS', /got "0"/, 'a bad env value is an error even when the CLI overrides it');
  t.ok(bad);
});

t.test('APP is required', async (t) => {
  throwsConfig(t, () => resolve({}), 'APP', 'required; must be a module as PATH or PATH:EXPORT');
  throwsConfig(t, () => resolve({ cli: cliOf('--threads', '2') }), 'APP', 'required');
});

t.test('library options: app as URL or file URL string; undefined means unset', async (t) => {
  let c = resolve({ options: { app: new URL('file:///srv/app.mjs:handler') } });
  t.same([c.app, c.appExport], ['file:///srv/app.mjs', 'handler']);
  c = resolve({ options: { app: new URL('file:///srv/app.mjs') } });
  t.same([c.app, c.appExport], ['file:///srv/app.mjs', null]);
  c = resolve({ options: { app: 'file:///srv/app.mjs:handler' } });
  t.same([c.app, c.appExport], ['file:///srv/app.mjs', 'handler']);
  c = resolve({ options: { app: '/srv/app.mjs:handler' } });
  t.same([c.app, c.appExport], ['/srv/app.mjs', 'handler']);
  c = resolve({ options: { ...APP, threads: undefined }, cli: cliOf('x', '-t', '3') });
  t.equal(c.threads, 3);
});

t.test('unknown keys name the key and the closest valid one', async (t) => {
  throwsConfig(t, () => resolve({ options: { ...APP, thread: 2 } }), 'thread', 'unknown option; did you mean threads?');
  throwsConfig(t, () => resolve({ options: { ...APP, limit_request_body: 2 } }), 'limit_request_body', 'did you mean limitRequestBody?');
  throwsConfig(t, () => resolve({ options: { ...APP, keepalive: 2 } }), 'keepalive', 'did you mean keepAlive?');
  throwsConfig(t, () => resolve({ options: { ...APP, appExport: 'x' } }), 'appExport', 'did you mean app?');
  throwsConfig(t, () => resolve({ env: { GREENSERVE_THREDS: '2' } }), 'GREENSERVE_THREDS',
    'unknown environment variable; did you mean GREENSERVE_THREADS?');
  throwsConfig(t, () => resolve({ env: { GREENSERVE_KEEPALIVE: '2' } }), 'GREENSERVE_KEEPALIVE', 'did you mean GREENSERVE_KEEP_ALIVE?');
  throwsConfig(t, () => resolve({ cli: { app: 'x', bindd: ['a:1'] } }), 'bindd', 'did you mean bind?');
  const err = throwsConfig(t, () => parseArgv(['--thread', '3']), '--thread', 'unknown option; did you mean --threads?');
  t.equal(err.setting, '--thread');
  throwsConfig(t, () => parseArgv(['--limit-request-size=3']), '--limit-request-size', 'did you mean --limit-request-line?');
  throwsConfig(t, () => parseArgv(['--graceful_timeout', '3']), '--graceful_timeout', 'did you mean --graceful-timeout?');
  throwsConfig(t, () => parseArgv(['--hepl']), '--hepl', 'did you mean --help?');
  throwsConfig(t, () => parseArgv(['-threads', '3']), '-threads', 'did you mean --threads?');
  throwsConfig(t, () => parseArgv(['-x']), '-x', 'unknown option');
});

t.test('closest and levenshtein', async (t) => {
  t.equal(levenshtein('kitten', 'sitting'), 3);
  t.equal(levenshtein('', 'abc'), 3);
  t.equal(levenshtein('same', 'same'), 0);
  t.equal(closest('LOG_LEVEL', ['logLevel', 'backlog']), 'logLevel');
  t.equal(closest('x', []), null);
  t.equal(closest('--bogus', ['--bind', '--jobs', '--threads']), null, 'nothing close');
  t.equal(closest('--hepl', ['--help', '--bind']), '--help', 'two letters swapped');
});

t.test('the result is deep-frozen and not shared', async (t) => {
  const a = resolve({ options: APP });
  t.ok(Object.isFrozen(a));
  t.ok(Object.isFrozen(a.bind));
  t.throws(() => { a.threads = 9; }, TypeError);
  t.throws(() => { a.bind.push('x:1'); }, TypeError);
  const b = resolve({ options: APP });
  t.not(a.bind, b.bind, 'each resolve has its own arrays');
  const list = ['a:1'];
  const c = resolve({ options: { ...APP, bind: list } });
  t.not(c.bind, list, 'a caller\'s array is copied, not frozen');
  t.notOk(Object.isFrozen(list));
});

t.test('parseArgv: forms of flags and values', async (t) => {
  t.same(parseArgv([]), { options: {}, help: false, version: false, checkConfig: false, printConfig: false });
  t.same(parseArgv(['app.js', '--threads', '4']).options, { app: 'app.js', threads: '4' });
  t.same(parseArgv(['--threads=4', 'app.js']).options, { threads: '4', app: 'app.js' }, 'APP may come last');
  t.same(parseArgv(['-t4']).options, { threads: '4' });
  t.same(parseArgv(['-t=4']).options, { threads: '4' });
  t.same(parseArgv(['--bind=a=b:1']).options, { bind: ['a=b:1'] }, 'split on the first =');
  t.same(parseArgv(['-b', 'a:1', '--bind=b:2', '-bc:3']).options, { bind: ['a:1', 'b:2', 'c:3'] }, 'repeatable');
  t.same(parseArgv(['-t', '2', '--threads', '3']).options, { threads: '3' }, 'the last one wins');
  t.same(parseArgv(['--threads', '-1']).options, { threads: '-1' }, 'a negative number is a value');
  t.same(parseArgv(['--keep-alive', '-.5']).options, { keepAlive: '-.5' });
  t.same(parseArgv(['-']).options, { app: '-' }, 'a lone dash is positional');
  t.same(parseArgv(['--', '--weird.js']).options, { app: '--weird.js' }, 'after --, everything is positional');
  t.same(parseArgv(['-t', '2', '--', '-t']).options, { threads: '2', app: '-t' });
  t.same(parseArgv(['--help']), { options: {}, help: true, version: false, checkConfig: false, printConfig: false });
  t.same(parseArgv(['-h', 'x']), { options: { app: 'x' }, help: true, version: false, checkConfig: false, printConfig: false });
  t.same(parseArgv(['-v']), { options: {}, help: false, version: true, checkConfig: false, printConfig: false });
  t.same(parseArgv(['--version']).version, true);
});

t.test('parseArgv: errors', async (t) => {
  throwsConfig(t, () => parseArgv(['--threads']), '--threads', 'needs a value');
  throwsConfig(t, () => parseArgv(['-t']), '-t', 'needs a value');
  throwsConfig(t, () => parseArgv(['--bind', '--threads', '2']), '--bind', 'needs a value');
  throwsConfig(t, () => parseArgv(['--help=yes']), '--help', 'takes no value');
  throwsConfig(t, () => parseArgv(['a.js', 'b.js']), 'APP', 'only one APP may be given (got "b.js" after "a.js")');
  throwsConfig(t, () => parseArgv(['a.js', '--', 'b.js']), 'APP', 'only one APP');
  const err = throwsConfig(t, () => parseArgv(['--nope']), '--nope', 'unknown option');
  t.equal(err.constructor.name, 'ConfigError');
});
