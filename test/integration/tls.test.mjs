// HTTPS: --certfile/--keyfile serve TLS on every bind address; the app sees req.socket.encrypted
// (Express: req.protocol 'https'); keep-alive and pipelining work over TLS; plain HTTP sent to the
// TLS port is closed without noise; --ca-certs requires client certificates signed by that CA;
// bad TLS settings stop the server with a one-line ConfigError naming the setting.
import t from 'tap';
import { spawn } from 'node:child_process';
import https from 'node:https';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import pino from 'pino';
import { Agent, fetch as undiciFetch } from 'undici';
import { cliPath, fixture, httpGet, parseResponses, portOf, rawExchange, runCli, serve, startServer } from '../helpers.mjs';
import { makeCerts } from '../tls-certs.mjs';

const certs = makeCerts(t);
const ca = certs.pem.ca.cert;
const serverFiles = { certfile: certs.files.server.cert, keyfile: certs.files.server.key };
t.comment(`test certificates made with ${certs.how}`);

/** Raw TLS: send `data`, collect until the server closes; resolves { text, error }. */
function tlsExchange(port, data, options = {}) {
  return new Promise((resolve) => {
    const chunks = [];
    let error = null;
    const s = tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost', ...options }, () => s.write(data));
    const timer = setTimeout(() => s.destroy(), 5000);
    s.on('data', (c) => chunks.push(c));
    s.on('error', (err) => (error = err));
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), error });
    });
  });
}

t.test('serves HTTPS; the app sees req.socket.encrypted', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app: fixture('reports-peer.mjs'), ...serverFiles });
  t.match(h.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the bound address is an https URL');
  const r = await httpGet(`${h.url}/`, { ca, timeoutMs: 5000 });
  t.equal(r.status, 200);
  const seen = JSON.parse(r.body);
  t.equal(seen.encrypted, true, 'req.socket.encrypted');
  t.equal(seen.remoteAddress, '127.0.0.1');
});

t.test('keep-alive and fetch over TLS', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app: fixture('reports-peer.mjs'), ...serverFiles });
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca });
  t.teardown(() => agent.destroy());
  const a = await httpGet(`${h.url}/a`, { ca, agent, timeoutMs: 5000 });
  const b = await httpGet(`${h.url}/b`, { ca, agent, timeoutMs: 5000 });
  t.equal(a.status, 200);
  t.equal(b.status, 200);
  t.equal(b.reused, true, 'the second request reused the TLS connection');
  t.equal(JSON.parse(b.body).encrypted, true);

  const dispatcher = new Agent({ connect: { ca } });
  t.teardown(() => dispatcher.close());
  const res = await undiciFetch(`${h.url}/fetch`, { dispatcher });
  t.equal(res.status, 200);
  t.equal((/** @type {any} */ (await res.json())).encrypted, true, 'undici fetch with the CA');
});

t.test('pipelined requests over one TLS connection are answered in order', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app: fixture('echo.mjs'), ...serverFiles });
  const { text, error } = await tlsExchange(portOf(h),
    'GET /delay/60/first HTTP/1.1\r\nHost: x\r\n\r\n' +
    'POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' +
    'GET /third HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  t.equal(error, null);
  const responses = parseResponses(text);
  t.same(responses.map((r) => r.status), [200, 200, 200]);
  t.same(responses.map((r) => JSON.parse(r.body).url), ['/delay/60/first', '/second', '/third']);
  t.equal(JSON.parse(responses[1].body).body, 'hello');
});

t.test('Express says https: req.protocol and req.secure', { timeout: 15000 }, async (t) => {
  const h = await startServer(t, { app: fixture('express-protocol.mjs'), ...serverFiles });
  const r = await httpGet(`${h.url}/`, { ca, timeoutMs: 5000 });
  t.same(JSON.parse(r.body), { protocol: 'https', secure: true, ip: '127.0.0.1' });
});

t.test('plain HTTP to the TLS port is closed cleanly, and logged only at debug', { timeout: 15000 }, async (t) => {
  for (const level of ['info', 'debug']) {
    const lines = [];
    const log = pino({ level }, new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } }));
    const h = await serve({ app: fixture('reports-peer.mjs'), bind: ['127.0.0.1:0'], threads: 1, logLevel: 'silent', env: {}, ...serverFiles }, log);
    t.teardown(() => h.close());
    const plain = await rawExchange(portOf(h), 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    t.equal(plain.closed, true, `${level}: the connection is closed`);
    t.notMatch(plain.text, /^HTTP\//, `${level}: no HTTP response`);
    // A client that connects and leaves mid-handshake.
    const dropped = tls.connect({ port: portOf(h), host: '127.0.0.1', ca });
    dropped.on('error', () => {});
    dropped.once('connect', () => dropped.destroy());
    const r = await httpGet(`${h.url}/after`, { ca, timeoutMs: 5000 });
    t.equal(r.status, 200, `${level}: the server still serves`);
    const handshake = lines.filter((l) => /TLS handshake failed/.test(l));
    if (level === 'info') t.same(handshake, [], 'nothing logged at info');
    else t.ok(handshake.length >= 1, 'the failed handshake is logged at debug');
    for (const l of lines) t.notMatch(l, /"level":(40|50|60)/, `${level}: no warning or error: ${l}`);
  }
});

t.test('--ca-certs: client certificates', { timeout: 20000 }, async (t) => {
  const h = await startServer(t, { app: fixture('reports-peer.mjs'), ...serverFiles, caCerts: certs.files.ca.cert });
  const request = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

  const signed = await tlsExchange(portOf(h), request, { cert: certs.pem.client.cert, key: certs.pem.client.key });
  t.equal(signed.error, null);
  t.match(signed.text, /^HTTP\/1\.1 200 OK\r\n/, 'a certificate signed by the CA is served');

  const none = await tlsExchange(portOf(h), request);
  t.notMatch(none.text, /HTTP\//, 'a client without a certificate is not served');
  t.ok(none.error !== null, `and sees an error (${none.error?.code})`);

  const rogue = await tlsExchange(portOf(h), request, { cert: certs.pem.rogue.cert, key: certs.pem.rogue.key });
  t.notMatch(rogue.text, /HTTP\//, 'a certificate the CA did not sign is not served');

  await t.rejects(httpGet(`${h.url}/`, { ca, timeoutMs: 5000 }), 'https.get without a certificate fails');
  const ok = await httpGet(`${h.url}/`, { ca, cert: certs.pem.client.cert, key: certs.pem.client.key, timeoutMs: 5000 });
  t.equal(ok.status, 200, 'https.get with the client certificate');
});

t.test('bad TLS settings stop the server with a one-line error naming the setting', { timeout: 15000 }, async (t) => {
  const app = fixture('reports-peer.mjs');
  const fails = async (options, re, name) => {
    /** @type {any} */
    let err = null;
    try {
      const h = await serve({ app, bind: ['127.0.0.1:0'], threads: 1, logLevel: 'silent', env: {}, ...options });
      await h.close();
    } catch (e) {
      err = e;
    }
    t.equal(err?.code, 'GS_ERR_CONFIG', `${name}: GS_ERR_CONFIG`);
    t.match(err?.message, re, `${name}: ${err?.message}`);
    t.notMatch(err?.message ?? '', /[\r\n]/, `${name}: one line`);
  };
  await fails({ certfile: certs.files.server.cert }, /^keyfile: .*--certfile and --keyfile/, 'certfile alone');
  await fails({ keyfile: certs.files.server.key }, /^certfile: .*--certfile and --keyfile/, 'keyfile alone');
  await fails({ caCerts: certs.files.ca.cert }, /^caCerts: needs --certfile and --keyfile/, 'caCerts alone');
  await fails({ ...serverFiles, certfile: `${certs.dir}/missing.pem` }, /^certfile: no such file/, 'a missing file');
  await fails({ ...serverFiles, certfile: certs.dir }, /^certfile: is not a file/, 'a directory');
  await fails({ ...serverFiles, certfile: certs.files.server.key }, /^certfile: .* is not a PEM certificate/, 'a key as the certificate');
  await fails({ ...serverFiles, keyfile: certs.files.server.cert }, /^keyfile: .* is not a PEM private key/, 'a certificate as the key');
  await fails({ ...serverFiles, keyfile: certs.files.rogue.key }, /^keyfile: .* does not match the certificate/, 'another key');
  await fails({ ...serverFiles, caCerts: certs.files.server.key }, /^caCerts: .* is not a PEM certificate/, 'a key as the CA');
});

t.test('CLI: --certfile, --keyfile, --ca-certs', { timeout: 30000 }, async (t) => {
  const app = fixture('reports-peer.mjs');
  const child = spawn(process.execPath, [cliPath, '--bind', '127.0.0.1:0', '--threads', '1',
    '--certfile', certs.files.server.cert, '--keyfile', certs.files.server.key, app], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  const url = await new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`no banner: ${stderr}`)), 15000);
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    child.stderr.on('data', (c) => {
      stderr += c;
      const m = /listening on (https:\/\/[^\s"]+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  const r = await httpGet(`${url}/`, { ca, timeoutMs: 5000 });
  t.equal(JSON.parse(r.body).encrypted, true, 'the CLI serves HTTPS');

  const alone = await runCli(['--bind', '127.0.0.1:0', '--threads', '1', '--certfile', certs.files.server.cert, app]);
  t.equal(alone.code, 2, '--certfile without --keyfile is a usage error: exit 2');
  t.match(alone.stderr, /^greenserve: error: .*keyfile: must be set when certfile is/);
  const missing = await runCli(['--ca-certs', `${certs.dir}/none.pem`, app]);
  t.equal(missing.code, 2, 'a missing file is a usage error');
  t.match(missing.stderr, /^greenserve: error: --ca-certs: no such file/);
});
