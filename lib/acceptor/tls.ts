// TLS settings (`--certfile`, `--keyfile`, `--ca-certs`) read once at boot into the options of
// `tls.createServer`. The files are read and the certificate, key and CA are loaded into a secure
// context here, so a bad file stops the server before any worker starts, with a one-line
// ConfigError that names the setting, instead of failing on the first handshake.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { Config } from '../config/resolve.js';
import { ConfigError } from '../errors.js';

type TlsSettings = Pick<Config, 'certfile' | 'keyfile' | 'caCerts'>;

/**
 * A client that connects and never finishes its handshake is not a Connection yet (it does not
 * count under --connections), so it must not hold its socket for long. Node's default is 120 s.
 */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/** The TLS options of every listener, or null for plain HTTP. Throws ConfigError. */
export function loadTls(c: TlsSettings): tls.TlsOptions | null {
  if (c.certfile === '' && c.keyfile === '') {
    if (c.caCerts !== '') throw new ConfigError('caCerts', 'needs --certfile and --keyfile: client certificates are checked only on a TLS listener');
    return null;
  }
  if (c.certfile === '') throw new ConfigError('certfile', 'must be set when keyfile is: TLS needs both --certfile and --keyfile, or neither');
  if (c.keyfile === '') throw new ConfigError('keyfile', 'must be set when certfile is: TLS needs both --certfile and --keyfile, or neither');
  const cert = readSetting('certfile', c.certfile);
  const key = readSetting('keyfile', c.keyfile);
  const ca = c.caCerts === '' ? undefined : readSetting('caCerts', c.caCerts);
  check('certfile', c.certfile, 'is not a PEM certificate', () => tls.createSecureContext({ cert }));
  check('keyfile', c.keyfile, 'is not a PEM private key', () => tls.createSecureContext({ key }));
  check('keyfile', c.keyfile, 'does not match the certificate', () => tls.createSecureContext({ cert, key }));
  // OpenSSL skips what is not a certificate in a CA file; X509Certificate reads the first one.
  if (ca !== undefined) check('caCerts', c.caCerts, 'is not a PEM certificate', () => new X509Certificate(ca));
  const clientCerts = ca !== undefined;
  return { cert, key, ca, requestCert: clientCerts, rejectUnauthorized: clientCerts, handshakeTimeout: HANDSHAKE_TIMEOUT_MS };
}

function readSetting(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(setting, `cannot read ${JSON.stringify(file)}: ${e.code ?? e.message}`);
  }
}

/** Runs `load`; an error from OpenSSL becomes a ConfigError that names `setting`. */
function check(setting: string, file: string, problem: string, load: () => unknown): void {
  try {
    load();
  } catch (err) {
    throw new ConfigError(setting, `${JSON.stringify(file)} ${problem} (${(err as Error).message})`);
  }
}
