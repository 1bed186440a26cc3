// Config files (--config): .json and .mjs loading, precedence defaults < file < env < CLI < options,
// unknown keys named with the closest valid one, values checked as library options are.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configFileOf, loadConfigFile, parseArgv, resolveConfig } from '../../../dist/lib/config/resolve.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
function write(name, text) {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function rejectsConfig(t, promise, re) {
  const err = await promise.then(() => null, (e) => e);
  t.ok(err, 'rejects');
  t.equal(err?.code, 'GS_ERR_CONFIG');
  t.match(err?.message, re);
  t.notMatch(err?.message ?? '', /[\r\n]/, 'one line');
}

t.test('a .json file and an .mjs default export load', async (t) => {
  const json = await loadConfigFile(write('a.json', '{"threads": 3, "bind": "127.0.0.1:1"}'));
  t.same(json.settings, { threads: 3, bind: '127.0.0.1:1' });
  const mjs = await loadConfigFile(write('b.mjs', 'export default { threads: 4, limitRequestBody: "64kb" };'));
  const c = resolveConfig({ file: mjs, env: {}, options: { app: 'x.js' } });
  t.equal(c.threads, 4);
  t.equal(c.limitRequestBody, 65536, 'byte size string');
  const c2 = resolveConfig({ file: json, env: {}, options: { app: 'x.js' } });
  t.same(c2.bind, ['127.0.0.1:1'], 'a single string for a list');
});

t.test('precedence: defaults < file < env < CLI < options', async (t) => {
  const file = { path: 'f.json', settings: { app: 'file.js', threads: 2, backlog: 10, connections: 11, keepAlive: 12, headerTimeout: 13 } };
  const env = { GREENSERVE_BACKLOG: '20', GREENSERVE_CONNECTIONS: '21', GREENSERVE_KEEP_ALIVE: '22' };
  const cli = parseArgv(['--connections', '31', '--keep-alive', '32']).options;
  const c = resolveConfig({ file, env, cli, options: { keepAlive: 42 } });
  t.equal(c.app, 'file.js', 'APP from the file');
  t.equal(c.threads, 2, 'file over default');
  t.equal(c.headerTimeout, 13, 'file over default');
  t.equal(c.backlog, 20, 'env over file');
  t.equal(c.connections, 31, 'CLI over env');
  t.equal(c.keepAlive, 42, 'options over CLI');
  t.equal(c.gracefulTimeout, 30, 'default');
});

t.test('unknown keys and bad values name the file and the key', async (t) => {
  const file = { path: 'g.json', settings: { thread: 2 } };
  t.throws(() => resolveConfig({ file, env: {}, options: { app: 'x' } }), { code: 'GS_ERR_CONFIG', message: /^g\.json: thread: unknown setting; did you mean threads\?/ });
  t.throws(() => resolveConfig({ file: { path: 'g.json', settings: { threads: 'many' } }, env: {}, options: { app: 'x' } }),
    { message: /^g\.json: threads: must be an integer from 1 to 1024 \(got "many"\)/ });
  t.throws(() => resolveConfig({ file: { path: 'g.json', settings: { config: 'other.json' } }, env: {}, options: { app: 'x' } }),
    { message: /cannot be set in a config file/ });
});

t.test('files that cannot be used', async (t) => {
  await rejectsConfig(t, loadConfigFile(path.join(dir, 'missing.json')), /^--config: no such file/);
  await rejectsConfig(t, loadConfigFile(write('c.yaml', 'threads: 2')), /must end in \.mjs, \.js, \.cjs or \.json/);
  await rejectsConfig(t, loadConfigFile(write('d.json', '{"threads": ')), /cannot load .*d\.json/);
  await rejectsConfig(t, loadConfigFile(write('e.json', '[1]')), /must hold a JSON object/);
  await rejectsConfig(t, loadConfigFile(write('f.mjs', 'export const threads = 2;')), /default export that is an object/);
  await rejectsConfig(t, loadConfigFile(write('g.mjs', 'throw new Error("boom")')), /cannot load .*g\.mjs: boom/);
});

t.test('configFileOf: the CLI wins over GREENSERVE_CONFIG', async (t) => {
  t.equal(configFileOf({ config: 'a.json' }, { GREENSERVE_CONFIG: 'b.json' }), 'a.json');
  t.equal(configFileOf({}, { GREENSERVE_CONFIG: 'b.json' }), 'b.json');
  t.equal(configFileOf({}, { GREENSERVE_CONFIG: '' }), null);
});
