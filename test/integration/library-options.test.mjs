// serve() options and a config file follow one rule (docs/settings.md): a byte size may be a
// string with a unit, a list may be a single string, the app may be a URL; the types of
// serve()'s options say the same (checked by compiling a TypeScript file against dist/).
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { fixture, rawExchange, root, serve } from '../helpers.mjs';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gs-options-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function servesWithLimits(t, handle) {
  t.teardown(() => handle.close());
  t.equal(handle.addresses.length, 1, 'one address, from a single string');
  t.equal(handle.config.limitRequestBody, 1024, '"1kb" is 1024 bytes');
  const port = handle.addresses[0].port;
  const ok = await rawExchange(port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
  t.match(ok.text, /^HTTP\/1\.1 200 /, 'serves');
  const big = await rawExchange(port, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n`);
  t.match(big.text, /^HTTP\/1\.1 413 /, 'the size string is the limit');
}

t.test('serve(): bind as one string, sizes as strings, app as a URL', { timeout: 20000 }, async (t) => {
  const handle = await serve({ app: pathToFileURL(fixture('echo.mjs')), bind: '127.0.0.1:0', limitRequestBody: '1kb', reloadDir: dir, threads: 1, logLevel: 'silent', env: {} });
  await servesWithLimits(t, handle);
  t.same(handle.config.reloadDir, [dir], 'any list takes one string');
});

t.test('a config file: the same values mean the same', { timeout: 20000 }, async (t) => {
  const file = path.join(dir, 'greenserve.config.mjs');
  writeFileSync(file, `export default { app: new URL(${JSON.stringify(pathToFileURL(fixture('echo.mjs')).href)}), bind: '127.0.0.1:0', limitRequestBody: '1kb', reloadDir: ${JSON.stringify(dir)}, threads: 1, logLevel: 'silent' };\n`);
  const handle = await serve({ config: file, env: {} });
  await servesWithLimits(t, handle);
  t.same(handle.config.reloadDir, [dir]);
});

t.test("serve()'s option types take what it accepts, and refuse what it refuses", { timeout: 60000 }, async (t) => {
  const index = path.join(root, 'dist', 'lib', 'index.js');
  const src = path.join(dir, 'options.ts');
  writeFileSync(src, [
    `import { serve, type ServeOptions, type ConfigOptions } from ${JSON.stringify(index)};`,
    "const a: ServeOptions = { app: './app.js', bind: '127.0.0.1:8000', limitRequestBody: '10mb', limitRequestLine: 8192, reloadDir: 'src' };",
    "const b: ServeOptions = { app: new URL('file:///srv/app.mjs'), bind: ['127.0.0.1:8000', 'unix:/tmp/s'], forwardedAllowIps: '10.0.0.0/8' };",
    "const c: ConfigOptions = { bodyBufferSize: '64kb', maxWorkerMemory: 512, jobs: 'resize=./jobs/resize.mjs' };",
    'void serve; void a; void b; void c;',
    '// @ts-expect-error: a count is not a size',
    "const d: ServeOptions = { app: 'x', threads: '4' };",
    '// @ts-expect-error: a size is a number or a string',
    "const e: ServeOptions = { app: 'x', limitRequestBody: true };",
    '// @ts-expect-error: a list holds strings',
    "const f: ServeOptions = { app: 'x', bind: 8000 };",
    '// @ts-expect-error: no such option',
    "const g: ServeOptions = { app: 'x', limit_request_body: 1 };",
    'void d; void e; void f; void g;',
  ].join('\n'));
  const program = ts.createProgram([src], {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')],
  });
  const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '));
  t.same(problems, [], 'compiles: every accepted form is typed, every refused one is an error');
});
