// Replays the gunicorn request corpus (found as test/conformance-corpus.mjs says) through
// lib/acceptor/framer.ts. Valid cases must frame into the expected requests (method, target,
// version, body length); invalid ones must end in onError with a 4xx/5xx. Every case is also
// replayed byte by byte and at seeded random splits, which must not change the outcome.
// Deliberate differences from gunicorn are listed below with their reasons; nothing is skipped
// silently.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { Framer } from '../../../dist/lib/acceptor/framer.js';
import { corpusCheck, corpusRoot, decodeGunicorn, lacksHost, prng, withHost } from '../../conformance-corpus.mjs';

const corpusDir = path.join(corpusRoot, 'gunicorn');

// Corpus cases that need gunicorn settings greenserve does not have: not run.
const SKIP = {
  'valid/pp_01': 'PROXY protocol v1 (proxy_protocol) is not supported',
  'valid/pp_02': 'PROXY protocol v1 (proxy_protocol) is not supported',
  'valid/pp_03': 'runs with proxy_protocol on; PROXY protocol is not supported',
  'valid/pp_04': 'PROXY protocol v2 (proxy_protocol) is not supported',
  'valid/pp_05': 'PROXY protocol v2 (proxy_protocol) is not supported',
  'invalid/pp_01': 'PROXY protocol (proxy_protocol) is not supported',
  'invalid/pp_02': 'PROXY protocol (proxy_protocol) is not supported',
  'invalid/pp_03': 'PROXY protocol (proxy_protocol) is not supported',
  'invalid/019': 'needs forwarded_allow_ips: trusting X-Forwarded-* is not a framing matter',
  'invalid/040': "needs header_map=refuse: '_' is a token character and gunicorn's default accepts it (valid/040)",
  'invalid/chunked_07': "needs header_map=refuse: '_' is a token character and gunicorn's default accepts it (valid/040)",
};

// Valid in the corpus, rejected by greenserve on purpose: [status, reason]. (A case also lacking
// Host is checked with a Host field added, so the status is the one for this reason.)
const REJECT = {
  'valid/009': [400, 'Transfer-Encoding other than a lone chunked (here identity) with Content-Length (RFC 9112 §6.3)'],
  'valid/013': [400, "whitespace after ';' in chunk extensions: llhttp, the workers' parser, rejects it too"],
  'valid/025': [400, 'more than one Transfer-Encoding field'],
  'valid/025_line': [501, 'gzip transfer coding: greenserve decodes none but chunked'],
  'valid/027': [400, 'raw bytes >= 0x80 in the request-target (llhttp rejects them too)'],
  'valid/028': [400, "whitespace before ':' (RFC 9112 §5.1 MUST reject); gunicorn's strip_header_spaces is not offered"],
  'valid/029': [400, 'more than one Transfer-Encoding field'],
  'valid/030': [400, 'more than one Transfer-Encoding field'],
  'valid/compat_obs_fold': [400, 'obs-fold (RFC 9112 §5.2); permit_obsolete_folding is not offered'],
  'valid/compat_obs_fold_huge': [400, 'obs-fold (RFC 9112 §5.2); permit_obsolete_folding is not offered'],
  'valid/rfc9112_smuggle_gzip_chunked_01': [501, 'gzip transfer coding: greenserve decodes none but chunked'],
  'valid/rfc9112_smuggle_te_identity_chunked_01': [501, "'identity' transfer coding is not supported"],
  'valid/rfc9112_target_authority_connect_01': [405, 'CONNECT is refused: greenserve is not a proxy'],
  'valid/rfc9112_target_authority_ipv6_01': [405, 'CONNECT is refused: greenserve is not a proxy'],
};

// Invalid in the corpus, framed by greenserve on purpose (checked with Host added where missing).
const ACCEPT = {
  'invalid/003c': 'lower-case method "-bl" is a token (RFC 9110 §9.1); llhttp in the worker rejects unknown methods',
  'invalid/041': 'duplicate Content-Type does not affect framing; left to the worker and the app',
};

// Invalid cases that are incomplete requests (gunicorn: NoMoreData, ChunkMissingTerminator): no
// request and no error, the bytes wait for more; at EOF the acceptor closes without dispatching.
const INCOMPLETE = new Set(['invalid/001', 'invalid/rfc9112_chunked_missing_final_crlf_01']);

// Gunicorn error classes that mean a size limit, and the status greenserve gives for them.
const LIMIT_STATUS = { LimitRequestLine: [414], LimitRequestHeaders: [431] };
// ... except where another rule fires first:
const LIMIT_OVERRIDE = {
  'invalid/013': [400, 'obs-fold is rejected before the folded line could outgrow the limit'],
};

/** The .http format: file newlines are not data; \r \n \t \0 \xHH are bytes (README.md). */
function decode(file) {
  return decodeGunicorn(fs.readFileSync(file));
}

/** gunicorn settings -> FramerLimits. gunicorn's field size counts the CRLF, ours does not. */
function limitsFor(cfg = {}) {
  let fieldSize = cfg.limit_request_field_size ?? 8190;
  if (fieldSize === 0) fieldSize = 8190; // 0 keeps the default cap (limit_header_default_01)
  return {
    requestLine: cfg.limit_request_line ?? 4094,
    fields: cfg.limit_request_fields ?? 100,
    fieldSize: fieldSize - 2,
    body: 1 << 20,
  };
}

function frame(chunks, limits) {
  const out = { reqs: [], errors: [] };
  const framer = new Framer(limits, {
    onRequest: (r) => out.reqs.push(r),
    onError: (status, reason) => out.errors.push({ status, reason }),
  });
  for (const c of chunks) framer.push(c);
  out.framer = framer;
  return out;
}

function fingerprint(out) {
  return JSON.stringify({
    reqs: out.reqs.map((r) => [Buffer.concat(r.parts).toString('latin1'), r.method, r.target, r.bodyLength, r.keepAlive]),
    errors: out.errors.map((e) => e.status),
  });
}


/** Whole, byte by byte and 10 random splittings give one outcome. */
function checkSplits(t, buf, limits, seed) {
  const whole = fingerprint(frame([buf], limits));
  const bytes = [];
  for (let i = 0; i < buf.length; i++) bytes.push(buf.subarray(i, i + 1));
  t.equal(fingerprint(frame(bytes, limits)), whole, 'byte by byte: same outcome');
  const rnd = prng(seed);
  for (let r = 0; r < 10; r++) {
    const cuts = [...new Set(Array.from({ length: 1 + (r % 8) }, () => Math.floor(rnd() * buf.length)))].sort((a, b) => a - b);
    const pieces = [];
    let prev = 0;
    for (const c of cuts) { pieces.push(buf.subarray(prev, c)); prev = c; }
    pieces.push(buf.subarray(prev));
    const got = fingerprint(frame(pieces, limits));
    if (got !== whole) return t.equal(got, whole, `random split ${cuts.join(',')}`);
  }
  return t.pass('random splits: same outcome');
}


/** For invalid cases: Host after the first line. */
function hostAfterFirstLine(buf) {
  const at = buf.indexOf('\r\n');
  return at < 0 ? buf : Buffer.concat([buf.subarray(0, at + 2), Buffer.from('Host: h\r\n'), buf.subarray(at + 2)]);
}

const missingHost = (out) => out.errors.length === 1 && out.errors[0].status === 400 && /without Host/.test(out.errors[0].reason);

function checkFramed(t, out, expected, casefold) {
  t.same(out.errors, [], 'no error');
  t.equal(out.reqs.length, expected.length, `${expected.length} request(s)`);
  expected.forEach((e, k) => {
    const r = out.reqs[k];
    if (!r) return;
    // casefold_http_method: gunicorn upper-cases; greenserve hands on the method as sent
    t.equal(casefold ? r.method.toUpperCase() : r.method, e.method, `#${k} method`);
    t.equal(r.target, Buffer.from(e.uri, 'utf8').toString('latin1'), `#${k} target`);
    t.equal(r.http10, e.version[1] === 0, `#${k} version`);
    t.equal(r.bodyLength, Buffer.from(e.body?.bytes_latin1 ?? '', 'latin1').length, `#${k} body length`);
  });
}

if (corpusCheck(t, 'the framer against the gunicorn request corpus', corpusDir)) {
  const counts = { valid: 0, validWithHost: 0, rejectOnPurpose: 0, invalid: 0, acceptOnPurpose: 0, incomplete: 0, skip: 0 };
  const cases = [];
  for (const kind of ['valid', 'invalid']) {
    for (const f of fs.readdirSync(path.join(corpusDir, kind)).filter((n) => n.endsWith('.http')).sort()) {
      cases.push(`${kind}/${f.slice(0, -5)}`);
    }
  }
  let seed = 1;
  for (const name of cases) {
    const spec = JSON.parse(fs.readFileSync(path.join(corpusDir, `${name}.json`), 'utf8'));
    if (SKIP[name]) {
      counts.skip++;
      t.test(name, { skip: SKIP[name] }, () => {});
      continue;
    }
    const raw = decode(path.join(corpusDir, `${name}.http`));
    const limits = limitsFor(spec.gunicorn_config);
    const caseSeed = seed++;
    t.test(name, (t) => {
      checkSplits(t, raw, limits, caseSeed);
      const out = frame([raw], limits);
      if (name === 'valid/099') {
        // expectation "unparsed" in the corpus: a POST whose Content-Length (17914) is more than
        // the 8599 body bytes present, so it waits for the rest; completed, it frames as expected.
        t.same(out.errors, []);
        t.equal(out.reqs.length, 0, 'waits for the body');
        t.equal(out.framer.inHead, false, 'head parsed');
        t.equal(out.framer.buffered, raw.length);
        const rest = 17914 - (raw.length - raw.indexOf('\r\n\r\n') - 4);
        out.framer.push(Buffer.alloc(rest, 0x2d));
        t.match(out.reqs.map((r) => [r.method, r.target, r.bodyLength]), [['POST', '/test-form', 17914]]);
        counts.valid++;
        return t.end();
      }
      if (name.startsWith('valid/')) {
        const expected = Array.isArray(spec.expect) ? spec.expect : [spec.expect];
        let got = out;
        let hostAdded = false;
        if (expected.some(lacksHost)) {
          // RFC 9112 §3.2: HTTP/1.1 without Host -> 400. Then check the rest with Host added.
          t.ok(missingHost(out) || REJECT[name], 'HTTP/1.1 without Host: 400');
          got = frame([withHost(raw, expected)], limits);
          hostAdded = true;
        }
        if (REJECT[name]) {
          const [status, reason] = REJECT[name];
          t.same(got.errors.map((e) => e.status), [status], `rejected on purpose: ${reason}`);
          counts.rejectOnPurpose++;
        } else {
          checkFramed(t, got, expected, spec.gunicorn_config?.casefold_http_method === true);
          counts[hostAdded ? 'validWithHost' : 'valid']++;
        }
        return t.end();
      }
      // invalid
      if (INCOMPLETE.has(name)) {
        t.same(out.errors, [], `${spec.expect_error}: no error yet`);
        t.equal(out.reqs.length, 0, 'no request');
        t.ok(out.framer.buffered > 0, 'bytes wait for more; EOF closes');
        counts.incomplete++;
        return t.end();
      }
      let got = out;
      if (missingHost(out)) got = frame([hostAfterFirstLine(raw)], limits); // reject for the corpus' reason
      if (ACCEPT[name]) {
        t.same(got.errors, [], `framed on purpose: ${ACCEPT[name]}`);
        t.equal(got.reqs.length, 1);
        counts.acceptOnPurpose++;
        return t.end();
      }
      t.equal(out.reqs.length, 0, 'no request reaches the app');
      t.equal(got.errors.length, 1, `${spec.expect_error}: onError`);
      const status = got.errors[0]?.status;
      t.ok(status >= 400 && status <= 599, `status ${status} (${got.errors[0]?.reason})`);
      const want = LIMIT_OVERRIDE[name]?.[0] !== undefined ? [LIMIT_OVERRIDE[name][0]] : LIMIT_STATUS[spec.expect_error];
      if (want) t.ok(want.includes(status), `${spec.expect_error} -> ${want.join('/')}${LIMIT_OVERRIDE[name] ? ` (${LIMIT_OVERRIDE[name][1]})` : ''}`);
      if (process.env.FRAMER_CORPUS_VERBOSE) console.log(`# ${name}: ${status} ${got.errors[0]?.reason}${got === out ? '' : ' (Host added)'}`);
      counts.invalid++;
      return t.end();
    });
  }
  t.teardown(() => {
    // one line for the record: how the corpus fared
    const c = counts;
    console.log(`# gunicorn corpus, ${cases.length} cases. valid: ${c.valid} framed as expected, ${c.validWithHost} framed as ` +
      `expected once Host is added, ${c.rejectOnPurpose} rejected on purpose. invalid: ${c.invalid} rejected, ` +
      `${c.incomplete} incomplete (no request, no error), ${c.acceptOnPurpose} framed on purpose. skipped: ${c.skip}`);
  });
}
