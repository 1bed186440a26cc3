// Test certificates, made fresh for each test run in a temp directory (valid for one day):
//   ca      a CA (CN=greenserve-test-ca)
//   server  signed by ca, for localhost, 127.0.0.1 and ::1
//   client  signed by ca (a client certificate for --ca-certs)
//   rogue   self-signed: a client certificate the CA did not sign
// With the `openssl` command when there is one; otherwise (or with TLS_CERTS_NO_OPENSSL=1)
// with node:crypto and the small DER writer below. Keys are EC P-256 (fast to generate).
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Makes the certificates; `t.teardown` removes them. Returns { dir, how, files, pem }. */
export function makeCerts(t) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'greenserve-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const how = hasOpenssl() && process.env.TLS_CERTS_NO_OPENSSL !== '1' ? 'openssl' : 'node:crypto';
  if (how === 'openssl') withOpenssl(dir);
  else withNode(dir);
  const files = {};
  const pem = {};
  for (const name of ['ca', 'server', 'client', 'rogue']) {
    files[name] = { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
    pem[name] = { cert: readFileSync(files[name].cert), key: readFileSync(files[name].key) };
  }
  return { dir, how, files, pem };
}

function hasOpenssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// ── openssl ────────────────────────────────────────────────────────────────────────────────────
function withOpenssl(dir) {
  const run = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...ec, '-subj', '/CN=greenserve-test-ca', '-days', '1', '-keyout', 'ca.key', '-out', 'ca.pem');
  run('req', '-x509', ...ec, '-subj', '/CN=rogue', '-days', '1', '-keyout', 'rogue.key', '-out', 'rogue.pem');
  writeFileSync(path.join(dir, 'server.ext'), 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n');
  writeFileSync(path.join(dir, 'client.ext'), 'basicConstraints=CA:FALSE\n');
  for (const [name, cn] of [['server', 'localhost'], ['client', 'client']]) {
    run('req', ...ec, '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial().toString(),
      '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
  }
}

function serial() {
  return BigInt(`0x${randomBytes(8).toString('hex')}`) >> 1n;
}

// ── node:crypto: a minimal X.509 v3 writer (DER) ─────────────────────────────────────────────────
function withNode(dir) {
  const ca = newKey();
  const make = (name, cn, issuer, extensions) => {
    const key = name === 'ca' ? ca : newKey();
    const pem = certificate({ cn, key, issuerCn: issuer.cn, issuerKey: issuer.key, extensions });
    writeFileSync(path.join(dir, `${name}.pem`), pem);
    writeFileSync(path.join(dir, `${name}.key`), key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  };
  const caIssuer = { cn: 'greenserve-test-ca', key: ca };
  make('ca', 'greenserve-test-ca', caIssuer, [basicConstraints(true), keyUsageCertSign()]);
  make('server', 'localhost', caIssuer, [basicConstraints(false), subjectAltName()]);
  make('client', 'client', caIssuer, [basicConstraints(false)]);
  const rogue = newKey();
  const pem = certificate({ cn: 'rogue', key: rogue, issuerCn: 'rogue', issuerKey: rogue, extensions: [basicConstraints(true)] });
  writeFileSync(path.join(dir, 'rogue.pem'), pem);
  writeFileSync(path.join(dir, 'rogue.key'), rogue.privateKey.export({ type: 'pkcs8', format: 'pem' }));
}

function newKey() {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

const der = (tag, ...parts) => {
  const body = Buffer.concat(parts);
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
};
const seq = (...parts) => der(0x30, ...parts);
const oid = (dotted) => {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const bytes = [a * 40 + b];
  for (const v of rest) {
    const chunk = [v & 0x7f];
    for (let x = v >> 7; x > 0; x >>= 7) chunk.unshift((x & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
};
const integer = (n) => {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let b = Buffer.from(hex, 'hex');
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return der(0x02, b);
};
const utcTime = (d) => der(0x17, Buffer.from(`${d.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`));
const name = (cn) => seq(der(0x31, seq(oid('2.5.4.3'), der(0x0c, Buffer.from(cn)))));
const extension = (id, critical, value) => seq(oid(id), ...(critical ? [der(0x01, Buffer.from([0xff]))] : []), der(0x04, value));
const basicConstraints = (isCa) => extension('2.5.29.19', true, isCa ? seq(der(0x01, Buffer.from([0xff]))) : seq());
const keyUsageCertSign = () => extension('2.5.29.15', true, der(0x03, Buffer.from([0x01, 0x06])));
const subjectAltName = () => extension('2.5.29.17', false, seq(
  der(0x82, Buffer.from('localhost')),
  der(0x87, Buffer.from([127, 0, 0, 1])),
  der(0x87, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])),
));
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

function certificate({ cn, key, issuerCn, issuerKey, extensions }) {
  const now = Date.now();
  const tbs = seq(
    der(0xa0, integer(2n)),
    integer(serial()),
    ECDSA_SHA256,
    name(issuerCn),
    seq(utcTime(new Date(now - 60_000)), utcTime(new Date(now + 86_400_000))),
    name(cn),
    key.publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, issuerKey.privateKey);
  const cert = seq(tbs, ECDSA_SHA256, der(0x03, Buffer.from([0]), signature));
  return `-----BEGIN CERTIFICATE-----\n${cert.toString('base64').match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`;
}
