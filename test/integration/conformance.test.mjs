// Replays every case of the HTTP/1.1 conformance corpora (gunicorn, llhttp,
// http-desync-guardian; found as test/conformance-corpus.mjs says) over real sockets against greenserve with a
// recording app (test/fixtures/record.mjs). Each case goes out as one write and as seeded random
// small writes. Valid cases must reach the app with the right method, target, version, fields
// and body, pipelined ones all of them in order; invalid ones must get a 4xx/5xx or a closed
// connection and never reach the app. "Never reached the app" is proven from the app's own
// record: every call appends a line to a file, and after each phase (once the server owes no
// response) every recorded call must be one whose echo we received, and none may appear while
// only invalid cases run.
//
// Where greenserve differs from a corpus on purpose, the case is listed below with the reason and
// the deliberate outcome is asserted. Skipped cases are listed with a reason. Known bugs in lib/
// are listed in KNOWN_FAILURES (reported as todo, so the suite stays green until they are fixed).
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fixture, startServer } from '../helpers.mjs';
import { bytesOf, corpusCheck, desyncHead, lacksHost, loadDesyncGuardian, loadGunicorn, loadLlhttp, prng, withHost } from '../conformance-corpus.mjs';
import { pool, randomCuts, RawConn } from '../wire.mjs';
import { echoOf, withoutAborted } from '../fixtures/record.mjs';

const CONCURRENCY = 8;
const RESPONSE_MS = 3000; // per awaited response or close; a case that waits this long is a hang
const MODES = ['whole', 'split'];

// ---- deliberate differences and skips ---------------------------------------------------------

const SKIP = {
  'gunicorn valid/pp_01': 'PROXY protocol v1 (proxy_protocol) is not supported',
  'gunicorn valid/pp_02': 'PROXY protocol v1 (proxy_protocol) is not supported',
  'gunicorn valid/pp_03': 'runs with proxy_protocol on; PROXY protocol is not supported',
  'gunicorn valid/pp_04': 'PROXY protocol v2 (proxy_protocol) is not supported',
  'gunicorn valid/pp_05': 'PROXY protocol v2 (proxy_protocol) is not supported',
  'gunicorn invalid/pp_01': 'PROXY protocol (proxy_protocol) is not supported',
  'gunicorn invalid/pp_02': 'PROXY protocol (proxy_protocol) is not supported',
  'gunicorn invalid/pp_03': 'PROXY protocol (proxy_protocol) is not supported',
  'gunicorn invalid/019': 'needs forwarded_allow_ips: trusting X-Forwarded-* is not a framing matter',
  'gunicorn invalid/040': "needs header_map=refuse: '_' is a token character and gunicorn's default accepts it (valid/040)",
  'gunicorn invalid/chunked_07': "needs header_map=refuse: '_' is a token character and gunicorn's default accepts it (valid/040)",
  'gunicorn invalid/010': 'needs limit_request_field_size=10 (8 bytes without CRLF); greenserve\'s smallest --limit-request-field-size is 16',
};

/** llhttp cases not run, by rule (each skipped case is still listed by id in the output). */
function llhttpSkip(c) {
  if (c.file === 'pausing.md') return 'pausing is an llhttp API feature (llhttp_pause), not a wire behaviour';
  if (c.file.startsWith('lenient-')) return `lenient-only file (${c.file}): greenserve is strict`;
  if (c.meta.skipBody) return 'skipBody: the parser is told to skip the body (an llhttp API for responses to HEAD)';
  if (c.meta.type === 'request-finish') return 'tests llhttp_finish() at EOF, a parser API, not a request outcome';
  if (c.meta.type !== 'request') return `lenient-only case (meta type ${c.meta.type}): greenserve is strict`;
  return null;
}

// Valid in a corpus, rejected by greenserve on purpose: [status, reason]. A case that also lacks
// Host is checked with Host added, so the status is the one for this reason.
const REJECT = {
  'gunicorn valid/009': [400, 'Transfer-Encoding other than a lone chunked (here identity) with Content-Length (RFC 9112 §6.3)'],
  'gunicorn valid/013': [400, "whitespace after ';' in chunk extensions: llhttp, the workers' parser, rejects it too"],
  'gunicorn valid/025': [400, 'more than one Transfer-Encoding field'],
  'gunicorn valid/025_line': [501, 'gzip transfer coding: greenserve decodes none but chunked'],
  'gunicorn valid/027': [400, 'raw bytes >= 0x80 in the request-target (llhttp rejects them too)'],
  'gunicorn valid/028': [400, "whitespace before ':' (RFC 9112 §5.1 MUST reject); gunicorn's strip_header_spaces is not offered"],
  'gunicorn valid/029': [400, 'more than one Transfer-Encoding field'],
  'gunicorn valid/030': [400, 'more than one Transfer-Encoding field'],
  'gunicorn valid/compat_obs_fold': [400, 'obs-fold (RFC 9112 §5.2); permit_obsolete_folding is not offered'],
  'gunicorn valid/compat_obs_fold_huge': [400, 'obs-fold (RFC 9112 §5.2); permit_obsolete_folding is not offered'],
  'gunicorn valid/rfc9112_smuggle_gzip_chunked_01': [501, 'gzip transfer coding: greenserve decodes none but chunked'],
  'gunicorn valid/rfc9112_smuggle_te_identity_chunked_01': [501, "'identity' transfer coding is not supported"],
  'gunicorn valid/rfc9112_target_authority_connect_01': [405, 'CONNECT is refused: greenserve is not a proxy'],
  'gunicorn valid/rfc9112_target_authority_ipv6_01': [405, 'CONNECT is refused: greenserve is not a proxy'],
  // framed by the acceptor (a token is a method, RFC 9110 §9.1), then refused by llhttp in the
  // worker, which knows only its own list of methods
  'gunicorn valid/031': [400, 'unknown method "-BLARGH": llhttp in the worker accepts only the methods it knows'],
  'gunicorn valid/031compat': [400, 'unknown method "-blargh": llhttp in the worker accepts only the methods it knows'],
  'gunicorn valid/031compat2': [400, 'unknown method "-blargh": llhttp in the worker accepts only the methods it knows'],
};
// Served, but the fields the app sees differ from gunicorn's on purpose: id -> [filter, reason].
const FIELDS_DIFFER = {
  'gunicorn valid/040': [(n) => !n.includes('_'), "gunicorn drops fields whose name has '_' (header_map=drop, WSGI environ); node apps get every field verbatim"],
};

// ---- servers ----------------------------------------------------------------------------------

/**
 * gunicorn settings -> greenserve limits: its cases assume gunicorn's defaults where they set
 * none (request line 4094, 100 fields, field size 8190 counting the CRLF), which are not
 * greenserve's (docs/decisions/0015-request-limit-defaults.md). gunicorn's field size counts the
 * CRLF, greenserve's does not; 0 means gunicorn's default.
 */
function gunicornLimits(cfg = {}) {
  return {
    limitRequestLine: cfg.limit_request_line ?? 4094,
    limitRequestFields: cfg.limit_request_fields ?? 100,
    limitRequestFieldSize: Math.max(16, (cfg.limit_request_field_size || 8190) - 2),
  };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'greenserve-conformance-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const servers = new Map(); // key -> { key, handle, port, file, idle: RawConn[] (keep-alive, reusable) }

let serverCount = 0;
async function startRecordServer(key, limits) {
  const file = path.join(tmp, `record-${serverCount++}.jsonl`);
  fs.writeFileSync(file, '');
  const app = new URL(`${pathToFileURL(fixture('record.mjs')).href}?file=${encodeURIComponent(file)}`);
  const handle = await startServer(t, { app, threads: key === 'default' ? 2 : 1, ...limits });
  const srv = { key, handle, port: handle.addresses[0].port, file, idle: [] };
  t.teardown(() => { for (const c of srv.idle) c.destroy(); });
  servers.set(key, srv);
  return srv;
}

/** The app's record so far: [{ id, method, url, httpVersion, rawHeaders }], without calls their client aborted mid-body. */
function records(srv) {
  return withoutAborted(fs.readFileSync(srv.file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
}

/** Handshake instead of a sleep: the server owes no response, so every dispatched call has run. */
async function settled() {
  const deadline = Date.now() + 10_000;
  for (const srv of servers.values()) {
    while (srv.handle.stats().outstanding > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }
}

// ---- expectations -----------------------------------------------------------------------------
//
// A variant is { tag, bytes, expect } with expect = {
//   served: [{ method, target, version, headers, body }]  requests that must reach the app, in order
//           (headers: [[name, value]] compared with rawHeaders, names upper-cased for gunicorn;
//           null: not compared; body: Buffer or null)
//   after:  'open'   the connection stays open for more requests
//           'close'  the server closes after the last response
//           'reject' a response with a status in `statuses` (null: any 4xx/5xx), then close;
//                    `bareClose`: a close without any response is fine too
//           'eof'    the request is incomplete: the client half-closes and the server must close
//                    without serving anything more (a 4xx/5xx is fine)
//   why:    the deliberate difference, where there is one }

const HOST_LINE = Buffer.from('Host: h\r\n');
const latin1 = (s) => Buffer.from(s, 'latin1');

function keepAliveOf(version, headers) {
  const conn = (headers ?? []).filter(([n]) => n.toLowerCase() === 'connection').map(([, v]) => v.toLowerCase()).join(',');
  const tokens = conn.split(',').map((x) => x.trim());
  return version === '1.0' ? tokens.includes('keep-alive') : !tokens.includes('close');
}

function insertAt(buf, positions, what) {
  const parts = [];
  let prev = 0;
  for (const p of [...positions].sort((a, b) => a - b)) { parts.push(buf.subarray(prev, p), what); prev = p; }
  parts.push(buf.subarray(prev));
  return Buffer.concat(parts);
}

/** Insert Host after the first line (invalid cases: the rejection is then for the corpus' reason). */
function hostAfterFirstLine(buf) {
  const at = buf.indexOf('\n');
  return at < 0 ? buf : insertAt(buf, [at + 1], HOST_LINE);
}

/** An HTTP/1.1 request line and no Host field: greenserve answers 400 (RFC 9112 §3.2). */
function lacksHostBytes(buf) {
  const first = buf.subarray(0, Math.max(0, buf.indexOf('\n'))).toString('latin1');
  return /HTTP\/1\.1\r?$/.test(first) && !/\nhost[ \t]*:/i.test(buf.toString('latin1'));
}

// gunicorn

function gunicornCases(list) {
  return list.map((c) => {
    const id = `gunicorn ${c.id}`;
    const item = { corpus: 'gunicorn', id, server: gunicornLimits(c.spec.gunicorn_config), variants: [] };
    if (SKIP[id]) return { ...item, skip: SKIP[id] };
    if (c.kind === 'valid') gunicornValid(item, c);
    else gunicornInvalid(item, c);
    return item;
  });
}

function gunicornValid(item, c) {
  if (c.id === 'valid/099') {
    // expectation "unparsed" in the corpus: a POST whose Content-Length (17914) is more than the
    // 8599 body bytes present; sent completed with '-' bytes, it must be served as is.
    const headEnd = c.raw.indexOf('\r\n\r\n') + 4;
    const bytes = Buffer.concat([c.raw, Buffer.alloc(17914 - (c.raw.length - headEnd), 0x2d)]);
    item.variants.push({ tag: 'completed', bytes, expect: { served: [{ method: 'POST', target: '/test-form', version: '1.1', headers: null, body: bytes.subarray(headEnd) }], after: 'open' } });
    item.variants.push({ tag: 'as-is', bytes: c.raw, expect: { served: [], after: 'eof', why: 'incomplete body: waits for the rest; EOF closes' } });
    return;
  }
  const expected = Array.isArray(c.spec.expect) ? c.spec.expect : [c.spec.expect];
  const casefold = c.spec.gunicorn_config?.casefold_http_method === true;
  let bytes = c.raw;
  const servedOf = (list) => list.map((e) => ({
    method: e.method,
    casefold,
    target: Buffer.from(e.uri, 'utf8').toString('latin1'),
    version: `${e.version[0]}.${e.version[1]}`,
    headers: FIELDS_DIFFER[item.id] ? e.headers.filter(([n]) => FIELDS_DIFFER[item.id][0](n)) : e.headers,
    fieldFilter: FIELDS_DIFFER[item.id]?.[0],
    upper: true,
    hostAdded: lacksHost(e),
    body: latin1(e.body?.bytes_latin1 ?? ''),
  }));
  if (expected.some(lacksHost)) {
    // the requests before the first one without Host are served, that one gets 400
    const also = REJECT[item.id] ? [REJECT[item.id][0]] : [];
    const before = expected.slice(0, expected.findIndex(lacksHost));
    item.variants.push({ tag: 'as-is', bytes, expect: { served: servedOf(before), after: 'reject', statuses: [400, ...also], why: 'HTTP/1.1 without Host (RFC 9112 §3.2)' } });
    bytes = withHost(bytes, expected);
  }
  const tag = bytes === c.raw ? 'as-is' : '+Host';
  if (REJECT[item.id]) {
    const [status, why] = REJECT[item.id];
    item.variants.push({ tag, bytes, expect: { served: [], after: 'reject', statuses: [status], why } });
    return;
  }
  const served = servedOf(expected);
  const why = FIELDS_DIFFER[item.id]?.[1];
  const last = expected.at(-1);
  const after = keepAliveOf(`${last.version[0]}.${last.version[1]}`, last.headers) ? 'open' : 'close';
  item.variants.push({ tag, bytes, expect: { served, after, why } });
}

// Invalid in gunicorn, framed by greenserve's acceptor on purpose: what happens next.
const ACCEPT = {
  'gunicorn invalid/003c': { after: 'reject', statuses: [400], why: 'lower-case method "-bl" is a token (RFC 9110 §9.1), framed; llhttp in the worker rejects unknown methods' },
  'gunicorn invalid/041': { after: 'open', served: true, why: 'duplicate Content-Type does not affect framing; left to the app' },
};
// Incomplete requests (gunicorn: NoMoreData, ChunkMissingTerminator): they wait for more; EOF closes.
const INCOMPLETE = new Set(['gunicorn invalid/001', 'gunicorn invalid/rfc9112_chunked_missing_final_crlf_01']);
const LIMIT_STATUS = { LimitRequestLine: [414], LimitRequestHeaders: [431] };
const LIMIT_OVERRIDE = { 'gunicorn invalid/013': [400, 'obs-fold is rejected before the folded line could outgrow the limit'] };

function gunicornInvalid(item, c) {
  const variants = [{ tag: 'as-is', bytes: c.raw }];
  if (lacksHostBytes(c.raw)) variants.push({ tag: '+Host', bytes: hostAfterFirstLine(c.raw) });
  for (const v of variants) {
    if (INCOMPLETE.has(item.id)) {
      v.expect = { served: [], after: 'eof', why: `${c.spec.expect_error}: an incomplete request waits for more; EOF closes` };
    } else if (ACCEPT[item.id] && (v.tag === '+Host' || !lacksHostBytes(c.raw))) {
      const a = ACCEPT[item.id];
      v.expect = a.served
        ? { served: [{ method: 'GET', target: '/stuff/here?foo=bar', version: '1.1', headers: null, body: latin1('') }], after: a.after, why: a.why }
        : { served: [], after: a.after, statuses: a.statuses, why: a.why };
    } else {
      const override = LIMIT_OVERRIDE[item.id];
      const statuses = v.tag === 'as-is' && lacksHostBytes(c.raw) ? null : override ? [override[0]] : LIMIT_STATUS[c.spec.expect_error] ?? null;
      v.expect = { served: [], after: 'reject', statuses, bareClose: statuses === null, why: override?.[1] };
    }
    item.variants.push(v);
  }
}

// llhttp

/**
 * A span value from the log, as bytes; null when it cannot be read back exactly. The log prints
 * spans between quotes as they are (bytes >= 0x80 as UTF-8 or as Latin-1 characters).
 */
function spanBytes(text, len) {
  for (const enc of ['utf8', 'latin1']) {
    const b = Buffer.from(text, enc);
    if (b.length === len && b.toString(enc) === text) return b;
  }
  return null;
}

/**
 * The messages in an llhttp log: [{ methodAt, method, url, version, headers, trailers, body,
 * complete }]; a part that cannot be read back exactly is null (not compared).
 */
function llhttpMessages(log) {
  const msgs = [];
  let m = null;
  let field = [];
  let value = [];
  const join = (parts) => (parts.includes(null) ? null : Buffer.concat(parts));
  for (const line of log) {
    if (/ message begin$/.test(line)) {
      m = { methodAt: -1, method: [], url: [], version: null, headers: [], trailers: [], body: [], inBody: false, complete: false };
      msgs.push(m);
      continue;
    }
    if (!m) continue;
    const sp = /^off=(\d+) len=(\d+) span\[(\w+)\]=(?:"(.*)"|(\w+))$/.exec(line);
    if (sp) {
      const [, at, len, kind, quoted, word] = sp;
      const b = quoted !== undefined ? spanBytes(quoted, Number(len)) : { cr: latin1('\r'), lf: latin1('\n') }[word] ?? null;
      if (kind === 'method') {
        if (m.methodAt < 0) m.methodAt = Number(at);
        m.method.push(b);
      } else if (kind === 'url') m.url.push(b);
      else if (kind === 'header_field') field.push(b);
      else if (kind === 'header_value') value.push(b);
      else if (kind === 'body') m.body.push(b);
      continue;
    }
    if (/ header_value complete$/.test(line)) {
      const f = join(field);
      const v = join(value);
      // llhttp's value span keeps trailing whitespace; RFC 9112 §5.1 OWS is not part of the value
      (m.inBody ? m.trailers : m.headers).push(f && v ? [f.toString('latin1'), v.toString('latin1').replace(/[ \t]+$/, '')] : null);
      field = [];
      value = [];
    } else if (/ headers complete /.test(line)) {
      const v = / v=(\d+)\/(\d+) /.exec(line);
      m.version = v ? `${v[1]}.${v[2]}` : null;
      m.inBody = true;
    } else if (/ message complete$/.test(line)) {
      m.complete = true;
    }
  }
  for (const x of msgs) {
    x.method = join(x.method)?.toString('latin1') ?? null;
    x.url = join(x.url)?.toString('latin1') ?? null;
    x.body = join(x.body);
    if (x.headers.includes(null)) x.headers = null;
    if (x.trailers.includes(null)) x.trailers = null;
  }
  return msgs;
}

// llhttp cases where greenserve's outcome is not read off the log: its code 22/23 "errors" are
// pauses on CONNECT/Upgrade, and a few cases differ on purpose. id -> (served) => { expect,
// asIs (the expectation without Host added, where the case lacks it), more (extra variants) }.
const reject = (status, why) => () => ({ expect: { served: [], after: 'reject', statuses: [status], why } });
const NOT_HTTP = 'not HTTP: greenserve speaks HTTP/1.0 and HTTP/1.1 only';
const UPGRADE_IGNORED = 'Upgrade is not taken over: the app answers as plain HTTP (RFC 9110 §7.8 lets a server ignore Upgrade) and the connection stays HTTP';
const LLHTTP_BY_HAND = {
  'connection.md:544 Parsing multiple tokens / Multiple tokens with folding and LWS': (served) => ({ expect: { served, after: 'reject', statuses: [400], why: `${UPGRADE_IGNORED}; the bytes after it are not a request` } }),
  'connection.md:681 `upgrade` / Setting a flag and pausing': (served) => ({ expect: { served, after: 'open', why: UPGRADE_IGNORED } }),
  'connection.md:715 `upgrade` / Emitting part of body and pausing': (served) => ({ expect: { served, after: 'eof', why: `${UPGRADE_IGNORED}; "efgh" after the body is an unfinished request line that waits; EOF closes` } }),
  'connection.md:755 `upgrade` / Upgrade GET request': (served) => ({ expect: { served, after: 'reject', statuses: [400], why: `${UPGRADE_IGNORED}; the bytes after it are not a request` } }),
  'connection.md:814 `upgrade` / Upgrade POST request': (served) => ({ expect: { served, after: 'reject', statuses: [400], why: `${UPGRADE_IGNORED}; the bytes after it are not a request` } }),
  'method.md:29 CONNECT request': reject(405, 'CONNECT is refused: greenserve is not a proxy'),
  'method.md:64 CONNECT request with CAPS': reject(405, 'CONNECT is refused: greenserve is not a proxy'),
  'method.md:98 CONNECT with body': reject(405, 'CONNECT is refused: greenserve is not a proxy'),
  'uri.md:190 Underscore in hostname': reject(405, 'CONNECT is refused: greenserve is not a proxy'),
  'method.md:137 M-SEARCH request': reject(400, 'asterisk-form is only for OPTIONS (RFC 9112 §3.2.4); SSDP is not served'),
  'method.md:374 SOURCE request with ICE': reject(400, NOT_HTTP),
  'method.md:404 OPTIONS request with RTSP': reject(400, NOT_HTTP),
  'method.md:432 ANNOUNCE request with RTSP': reject(400, NOT_HTTP),
  'sample.md:316 No HTTP version': reject(400, 'HTTP/0.9 (a request line without version) is not supported'),
  'transfer-encoding.md:753 POST with `chunked` as last transfer-encoding': reject(501, 'deflate transfer coding: greenserve decodes none but chunked'),
  'transfer-encoding.md:795 POST with `chunked` as last transfer-encoding (multiple headers)': reject(400, 'more than one Transfer-Encoding field'),
  // llhttp fails these while the head is still open; greenserve checks at the end of the head,
  // so the unfinished head waits (EOF closes) and, once finished, gets its error
  'content-length.md:77 Error on `Content-Length` overflow': () => {
    const why = 'the head never ends (no blank line): it waits; EOF closes';
    const head = latin1('PUT /url HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000000000000000000\r\n\r\n');
    return {
      expect: { served: [], after: 'eof', why },
      asIs: { served: [], after: 'eof', why },
      more: [{ tag: '+Host, head finished', bytes: head, expect: { served: [], after: 'reject', statuses: [413], why: 'Content-Length beyond the body limit' } }],
    };
  },
  'invalid.md:492 Invalid HTTP version': () => ({
    expect: { served: [], after: 'eof', why: 'the request line never ends: it waits; EOF closes' },
    more: [{ tag: 'line finished', bytes: latin1('GET / HTTP/5.6\r\n\r\n'), expect: { served: [], after: 'reject', statuses: [505] } }],
  }),
};

function llhttpCases(list) {
  return list.map((c) => {
    const id = `llhttp ${c.id}`;
    const item = { corpus: 'llhttp', id, server: null, variants: [] };
    const skip = llhttpSkip(c);
    if (skip) return { ...item, skip };
    const msgs = llhttpMessages(c.log);
    const last = c.log.at(-1);
    const err = /error code=(\d+) reason="(.*)"$/.exec(last);
    const complete = msgs.filter((m) => m.complete);
    const hasHost = (m) => (m.headers ? m.headers.some(([n]) => n.toLowerCase() === 'host') : !lacksHostBytes(c.raw));
    const needHost = complete.filter((m) => m.version === '1.1' && !hasHost(m));
    const served = complete.map((m) => ({
      method: m.method,
      target: m.url,
      version: m.version,
      headers: m.headers,
      trailers: m.trailers,
      hostAdded: needHost.includes(m),
      body: m.body,
    }));
    const hand = LLHTTP_BY_HAND[c.id]?.(served);
    let bytes = c.raw;
    if (needHost.length > 0) {
      const status = hand?.expect.statuses?.[0];
      const asIs = hand?.asIs ?? { served: [], after: 'reject', statuses: status ? [400, status] : [400], why: 'HTTP/1.1 without Host (RFC 9112 §3.2)' };
      item.variants.push({ tag: 'as-is', bytes, expect: asIs });
      bytes = insertAt(bytes, needHost.map((m) => bytes.indexOf('\n', m.methodAt) + 1), HOST_LINE);
    } else if (complete.length === 0 && lacksHostBytes(bytes)) {
      item.variants.push({ tag: 'as-is', bytes, expect: hand?.asIs ?? { served: [], after: 'reject', statuses: null, bareClose: true } });
      bytes = hostAfterFirstLine(bytes);
    }
    const tag = bytes === c.raw ? 'as-is' : '+Host';
    let expect;
    if (hand) {
      expect = hand.expect;
    } else if (err && err[1] === '5') {
      // "Data after Connection: close": greenserve closes after that response and ignores the rest
      expect = { served, after: 'close' };
    } else if (err) {
      expect = { served, after: 'reject', statuses: null, bareClose: true };
    } else if (/ message complete$/.test(last)) {
      const lm = complete.at(-1);
      expect = { served, after: keepAliveOf(lm.version, lm.headers) ? 'open' : 'close' };
    } else {
      expect = { served, after: 'eof', why: 'the log ends inside a request: it waits for more; EOF closes' };
    }
    item.variants.push({ tag, bytes, expect }, ...(hand?.more ?? []));
    return item;
  });
}

// http-desync-guardian

// Compliant or Acceptable in desync-guardian (a proxy may pass them on), rejected by greenserve,
// which as an origin server takes the strict reading: [status, reason].
const WS_BEFORE_COLON = "whitespace between field name and ':' (RFC 9112 §5.1: MUST reject)";
const CTL_IN_NAME = 'a control character in a field name: names are tokens (RFC 9110 §5.1)';
const CTL_IN_VALUE = 'a control character in a field value (RFC 9110 §5.5)';
const MULTI_TE = 'more than one Transfer-Encoding field';
const CODINGS = 'transfer codings other than chunked: greenserve decodes none but chunked';
const CHUNKED_PARAM = 'a parameter on chunked (RFC 9112 §7: chunked has none)';
const DESYNC_REJECT = {
  'acceptable.yaml#1 No TE/CL headers, some others are non-compliant': [400, WS_BEFORE_COLON],
  'acceptable.yaml#2 TE and some others are non-compliant': [400, WS_BEFORE_COLON],
  'acceptable.yaml#3 A non-essential header with a non-printable character (x01)': [400, CTL_IN_NAME],
  'acceptable.yaml#4 CL and some others are non-compliant': [400, WS_BEFORE_COLON],
  'acceptable.yaml#7 Non-RFC, but OK HTTP/0.9': [505, 'HTTP/0.9 is not supported'],
  'acceptable.yaml#8 Empty version, which means HTTP/0.9': [400, 'HTTP/0.9 (a request line without version) is not supported'],
  'acceptable.yaml#9 Unknown but OK HTTP/1.2': [505, 'only HTTP/1.0 and HTTP/1.1 are accepted (RFC 9110 §2.5 says SHOULD treat 1.2 as 1.1; llhttp in the worker rejects it too)'],
  'bad-header-characters.yaml#12 Some-Header\\x01': [400, CTL_IN_NAME],
  'bad-header-characters.yaml#13 \\x01Some-Header': [400, CTL_IN_NAME],
  'bad-header-characters.yaml#14 Some-Header: \\x01value': [400, CTL_IN_VALUE],
  'bad-header-characters.yaml#15 Some-Header: value\\x01': [400, CTL_IN_VALUE],
  'more-compliant-tests.yaml#6 Correct TE OK': [501, CODINGS],
  'more-compliant-tests.yaml#7 Large Size OK': [413, 'Content-Length 4000000 is over --limit-request-body 1mb, set for this case (DESYNC_SERVER)'],
  'more-compliant-tests.yaml#8 Transfer-Encoding: identity and chunked OK': [501, CODINGS],
  'more-compliant-tests.yaml#9 Multiple transfer encoding headers in a single request OK': [400, MULTI_TE],
  'more-compliant-tests.yaml#10 TE with custom parameters OK': [400, CHUNKED_PARAM],
  'rfc-compliant.yaml#9 Different Transfer-Encoding headers': [400, MULTI_TE],
  'rfc-compliant.yaml#10 Different Transfer-Encoding headers combined': [501, CODINGS],
  'rfc-compliant.yaml#11 Transfer-Encoding with a param: chunked;custom_param': [400, CHUNKED_PARAM],
  'rfc-compliant.yaml#13 International in URI': [400, 'raw bytes >= 0x80 in the request-target (llhttp rejects them too)'],
  'rfc-compliant.yaml#14 Empty URI': [400, 'an empty request-target'],
  'uri-specific-test-cases.yaml#2 Extra spaces in version': [400, 'whitespace after the HTTP version'],
  'uri-specific-test-cases.yaml#4 [space] in URI': [400, 'a space inside the request-target'],
};
// Severe or Ambiguous cases where greenserve answers other than the tier asks: [expect, reason].
const SERVED = (c, body) => ({ served: [desyncServed(c, body)], after: 'open' });
const NOT_FRAMING = "an ordinary field: '_' and '-' are token characters and the name is not a framing field, so it cannot frame differently here (node apps see names verbatim)";
const BODY_ON_GET = 'GET/HEAD with a body: framed per RFC 9112 §6.3 like any request, the body goes to the app';
const DESYNC_OTHER = {
  'ambiguous.yaml#8 Transfer_Encoding with underscore.': [SERVED, NOT_FRAMING],
  'ambiguous.yaml#9 Content_Length with underscore.': [SERVED, NOT_FRAMING],
  'ambiguous.yaml#31 Transfer-Encoding with multiple hyphens': [SERVED, NOT_FRAMING],
  'ambiguous.yaml#32 Transfer-Encoding with multiple delimiters': [SERVED, NOT_FRAMING],
  'ambiguous.yaml#13 Get with a body and Content-Length': [SERVED, BODY_ON_GET],
  'ambiguous.yaml#14 Get with a body and Transfer-Encoding': [SERVED, BODY_ON_GET],
  'ambiguous.yaml#15 Head with a body and Content-Length': [SERVED, BODY_ON_GET],
  'ambiguous.yaml#16 Head with a body and Transfer-Encoding': [SERVED, BODY_ON_GET],
  'real-life-test-cases.yaml#1 Has a CL in GET': [SERVED, BODY_ON_GET],
  'real-life-test-cases.yaml#2 Has a TE in GET': [SERVED, BODY_ON_GET],
  'severe.yaml#5 Bad Content-Length (64-bits overflow)': [() => ({ served: [], after: 'reject', statuses: [413] }), 'rejected as over the body limit (413) rather than 400; the connection closes all the same'],
};

function desyncServed(c, body) {
  const hasHost = c.headers.some(([n]) => n.toString('latin1').toLowerCase() === 'host');
  const fields = c.headers.map(([n, v]) => [n.toString('latin1'), v.toString('latin1').replace(/^[ \t]+|[ \t]+$/g, '')]);
  return { method: c.spec.method, target: bytesOf(c.spec.uri).toString('latin1'), version: '1.1', headers: hasHost ? fields : [['Host', 'h'], ...fields], body };
}

function desyncBody(c) {
  const fields = c.headers.map(([n, v]) => [n.toString('latin1').toLowerCase(), v.toString('latin1').trim()]);
  if (fields.some(([n, v]) => n === 'transfer-encoding' && /chunked$/i.test(v))) return { body: latin1('hello'), wire: latin1('5\r\nhello\r\n0\r\n\r\n') };
  const cl = fields.find(([n, v]) => n === 'content-length' && /^\d+$/.test(v));
  if (cl && Number(cl[1]) <= 65536) {
    const body = Buffer.alloc(Number(cl[1]), 0x62);
    return { body, wire: body };
  }
  return { body: latin1(''), wire: latin1('') };
}

// Cases run with limits of their own: case id -> settings. A body too large to send (desyncBody)
// would leave the request waiting for it; with a body limit below it the head is refused instead.
const DESYNC_SERVER = {
  'more-compliant-tests.yaml#7 Large Size OK': { limitRequestBody: 1048576 },
};

function desyncCases(list) {
  return list.map((c) => {
    const id = `desync-guardian ${c.id}`;
    const item = { corpus: 'desync-guardian', id, server: DESYNC_SERVER[c.id] ?? null, variants: [] };
    const tier = c.spec.expected.tier;
    const hasHost = c.headers.some(([n]) => n.toString('latin1').toLowerCase() === 'host');
    const { body, wire } = desyncBody(c);
    const bytes = Buffer.concat([desyncHead(c, hasHost ? [] : [['Host', 'h']]), wire]);
    const tag = hasHost ? 'as-is' : '+Host';
    let expect;
    if (DESYNC_REJECT[c.id]) {
      const [status, why] = DESYNC_REJECT[c.id];
      expect = { served: [], after: 'reject', statuses: [status], why };
    } else if (DESYNC_OTHER[c.id]) {
      const [e, why] = DESYNC_OTHER[c.id];
      expect = { ...e(c, body), why };
    } else if (tier === 'Compliant' || tier === 'Acceptable') {
      expect = SERVED(c, body);
    } else if (tier === 'Severe') {
      expect = { served: [], after: 'reject', statuses: [400] };
    } else {
      expect = { served: [], after: 'reject', statuses: null, bareClose: true };
    }
    item.variants.push({ tag, bytes, expect });
    return item;
  });
}

// Known bugs in lib/ (see the report in the test's header comment): case id -> reason.
// Their subtests are todo: they run and report, but do not fail the suite.
const KNOWN_FAILURES = {
  // none at present. (gunicorn invalid/016, an absolute-form target with an invalid authority,
  // was one until the framer learned to check the authority.)
};

// ---- running ----------------------------------------------------------------------------------

/** Field values as node hands them over (Latin-1, or UTF-8 where the bytes are UTF-8) vs the bytes. */
const sameValue = (got, want) => got === want || Buffer.from(got, 'utf8').toString('latin1') === want;

function pairs(flat) {
  const out = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

function sameFields(got, want) {
  return got.length === want.length && got.every(([n, v], i) => n === want[i][0] && sameValue(v, want[i][1]));
}

/** Compare one echoed request with its expectation; returns problems. */
function checkServed(echo, want, k) {
  const p = [];
  const method = want.casefold ? echo.method.toUpperCase() : echo.method;
  if (want.method !== null && method !== want.method) p.push(`#${k} method ${JSON.stringify(echo.method)} != ${JSON.stringify(want.method)}`);
  if (want.target !== null && echo.url !== want.target) p.push(`#${k} target ${JSON.stringify(echo.url)} != ${JSON.stringify(want.target)}`);
  if (want.version && echo.httpVersion !== want.version) p.push(`#${k} version ${echo.httpVersion} != ${want.version}`);
  if (want.headers) {
    let raw = pairs(echo.rawHeaders);
    if (want.hostAdded && raw[0]?.[0] === 'Host' && raw[0][1] === 'h') raw = raw.slice(1);
    if (want.upper) raw = raw.map(([n, v]) => [n.toUpperCase(), v]);
    if (want.fieldFilter) raw = raw.filter(([n]) => want.fieldFilter(n));
    if (!sameFields(raw, want.headers)) p.push(`#${k} fields ${JSON.stringify(raw)} != ${JSON.stringify(want.headers)}`);
  }
  if (want.trailers && !sameFields(pairs(echo.rawTrailers), want.trailers)) {
    p.push(`#${k} trailers ${JSON.stringify(echo.rawTrailers)} != ${JSON.stringify(want.trailers)}`);
  }
  if (want.body) {
    const got = Buffer.from(echo.body, 'base64');
    if (!got.equals(want.body)) p.push(`#${k} body ${JSON.stringify(got.toString('latin1').slice(0, 80))} (${got.length}) != ${JSON.stringify(want.body.toString('latin1').slice(0, 80))} (${want.body.length})`);
  }
  return p;
}

/** Next final (non-1xx) response. */
async function nextFinal(conn, head) {
  for (;;) {
    const r = await conn.next(RESPONSE_MS, { head });
    if (r.response && r.response.status >= 100 && r.response.status < 200) continue;
    return r;
  }
}

const isError = (s) => s >= 400 && s <= 599;

/** One variant in one mode. Returns { problems, echoes (ids), observed }. */
async function exchange(srv, v, mode, seed) {
  const e = v.expect;
  const reuse = e.after === 'open';
  let conn = null;
  while (reuse && srv.idle.length > 0 && conn === null) {
    const c = srv.idle.pop();
    if (!c.closed) conn = c;
    else c.destroy();
  }
  conn ??= await RawConn.open(srv.port);
  const cuts = mode === 'split' ? randomCuts(v.bytes.length, prng(seed)) : [];
  const sending = conn.send(v.bytes, cuts).catch(() => false);
  if (e.after === 'eof') sending.then(() => conn.end());
  const problems = [];
  const echoes = [];
  const seen = [];
  let keep = false;
  try {
    for (let k = 0; k < e.served.length; k++) {
      const r = await nextFinal(conn, e.served[k].method === 'HEAD');
      if (!r.response) {
        seen.push(r.closed ? 'closed' : r.timeout ? 'hang' : `malformed (${r.malformed})`);
        problems.push(`request #${k}: expected 200, got ${seen.at(-1)}`);
        return { problems, echoes, observed: seen.join(' ') };
      }
      seen.push(String(r.response.status));
      const echo = echoOf(r.response);
      if (echo) echoes.push(echo.id);
      if (r.response.status !== 200 || !echo) {
        problems.push(`request #${k}: expected 200 from the app, got ${r.response.status}${echo ? '' : ' (no echo)'}`);
        return { problems, echoes, observed: seen.join(' ') };
      }
      problems.push(...checkServed(echo, e.served[k], k));
    }
    if (e.after === 'open') {
      await new Promise((r) => setImmediate(r));
      if (conn.closed) problems.push('closed, expected keep-alive');
      else if (conn.buf.length > 0) problems.push(`unexpected bytes after the responses: ${JSON.stringify(conn.buf.subarray(0, 60).toString('latin1'))}`);
      else keep = true;
      seen.push(conn.closed ? 'closed' : 'open');
      return { problems, echoes, observed: seen.join(' ') };
    }
    const r = await nextFinal(conn, false);
    if (r.response) {
      const echo = echoOf(r.response);
      if (echo) echoes.push(echo.id);
      seen.push(String(r.response.status) + (echo ? ' (from the app)' : ''));
      if (echo) problems.push(`the app answered a request it must not see: ${echo.method} ${echo.url}`);
      const ok = e.after === 'reject'
        ? (e.statuses ? e.statuses.includes(r.response.status) : isError(r.response.status))
        : isError(r.response.status) && e.after === 'eof';
      if (!ok) problems.push(`got ${r.response.status}, expected ${e.after === 'reject' ? (e.statuses ?? ['4xx/5xx']).join('/') : e.after === 'close' ? 'close' : 'close or 4xx/5xx'}`);
      const closed = await conn.waitClose(RESPONSE_MS);
      const tail = closed ? await conn.next(0) : null;
      if (tail?.response) problems.push(`a further response after the rejection: ${tail.response.status}`);
      seen.push(closed ? 'closed' : 'open');
      if (!closed) problems.push('connection left open after the rejection');
    } else if (r.closed) {
      seen.push('closed');
      if (e.after === 'reject' && !e.bareClose) problems.push(`closed without a response, expected ${(e.statuses ?? ['4xx/5xx']).join('/')}`);
    } else if (r.timeout) {
      seen.push('hang');
      problems.push(`no response and no close within ${RESPONSE_MS} ms (hang)`);
    } else {
      seen.push(`malformed (${r.malformed})`);
      problems.push(`malformed response: ${r.malformed}`);
    }
    return { problems, echoes, observed: seen.join(' ') };
  } finally {
    if (keep) srv.idle.push(conn);
    else conn.destroy();
    await sending;
  }
}

// ---- the run ----------------------------------------------------------------------------------

if (corpusCheck(t, 'the gunicorn, llhttp and http-desync-guardian conformance cases')) {
  const started = Date.now();
  const items = [
    ...gunicornCases(loadGunicorn()),
    ...llhttpCases(loadLlhttp()),
    ...desyncCases(await loadDesyncGuardian()),
  ];

  await startRecordServer('default', {});
  const limitSets = new Map();
  for (const it of items) if (it.server && !it.skip) limitSets.set(JSON.stringify(it.server), it.server);
  await Promise.all([...limitSets].map(([key, limits]) => startRecordServer(key, limits)));
  const serverOf = (it) => servers.get(it.server ? JSON.stringify(it.server) : 'default');

  // Every (variant, mode) of every case that runs; valid ones (some request must be served)
  // first, then those where nothing may reach the app.
  const runs = [];
  let seed = 1;
  for (const it of items) {
    if (it.skip) continue;
    it.results = [];
    for (const v of it.variants) for (const mode of MODES) runs.push({ it, v, mode, seed: seed++ });
  }
  const phases = [runs.filter((r) => r.v.expect.served.length > 0), runs.filter((r) => r.v.expect.served.length === 0)];
  const leaks = []; // [{ record, server }] calls the app got that no echo answered
  const echoed = new Set();
  for (const [n, phase] of phases.entries()) {
    const before = new Map([...servers.values()].map((s) => [s, records(s).length]));
    await pool(phase, CONCURRENCY, async (r) => {
      const res = await exchange(serverOf(r.it), r.v, r.mode, r.seed);
      for (const id of res.echoes) echoed.add(`${serverOf(r.it).key}|${id}`);
      r.it.results.push({ v: r.v, mode: r.mode, ...res });
    });
    await settled();
    for (const srv of servers.values()) {
      const recs = records(srv);
      // phase 0: every call must have been answered to us; phase 1: no call at all
      for (const rec of recs.slice(n === 0 ? 0 : before.get(srv))) {
        if (n === 1 || !echoed.has(`${srv.key}|${rec.id}`)) leaks.push({ rec, srv, phase: n });
      }
    }
  }
  // A leaked call is blamed on the cases (on that server) whose bytes hold its method, target and fields.
  const holds = (bytes, rec) => [rec.method, rec.url, ...rec.rawHeaders].every((x) => bytes.includes(latin1(x)) || bytes.includes(Buffer.from(x)));
  for (const leak of leaks) {
    const suspects = items.filter((it) => !it.skip && serverOf(it) === leak.srv && it.variants.some((v) => holds(v.bytes, leak.rec)));
    leak.suspects = suspects.map((s) => s.id);
    for (const s of suspects) (s.leaks ??= []).push(leak.rec);
  }

  const counts = {};
  for (const it of items) {
    const c = (counts[it.corpus] ??= { cases: 0, run: 0, passed: 0, deliberate: 0, known: 0, skipped: 0 });
    c.cases++;
    if (it.skip) {
      c.skipped++;
      t.test(it.id, { skip: it.skip }, (t) => t.end());
      continue;
    }
    c.run++;
    const failed = it.results.some((r) => r.problems.length > 0) || (it.leaks?.length ?? 0) > 0;
    const deliberate = it.variants.some((v) => v.expect.why && v.tag !== 'as-is') || it.variants.every((v) => v.expect.why);
    if (!failed) c.passed++;
    if (!failed && deliberate) c.deliberate++;
    const known = KNOWN_FAILURES[it.id];
    if (known) c.known++;
    // a known failure still runs and reports; its assertions are todo
    const todo = known ? { todo: known } : {};
    t.test(it.id, (t) => {
      for (const r of it.results) {
        const label = `${r.v.tag}, ${r.mode}: ${r.observed}${r.v.expect.why ? ` (${r.v.expect.why})` : ''}`;
        t.same(r.problems, [], label, todo);
      }
      t.same((it.leaks ?? []).map((x) => `${x.method} ${x.url}`), [], 'no call reached the app without its answer reaching us', todo);
      t.end();
    });
  }
  t.test('the app saw only the requests whose answers we got', (t) => {
    // calls blamed only on KNOWN_FAILURES cases are reported (as todo) in those cases' subtests
    const unexplained = leaks.filter((l) => !(l.suspects.length > 0 && l.suspects.every((id) => KNOWN_FAILURES[id])));
    t.same(unexplained.map((l) => ({ server: l.srv.key, phase: l.phase, call: `${l.rec.method} ${l.rec.url}`, suspects: l.suspects })), []);
    t.end();
  });
  t.teardown(() => {
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    for (const [corpus, c] of Object.entries(counts)) {
      console.log(`# conformance ${corpus}: ${c.cases} cases, ${c.run} run, ${c.passed} passed ` +
        `(${c.deliberate} of them with a deliberate difference), ${c.run - c.passed} failed (${c.known} known), ${c.skipped} skipped`);
    }
    console.log(`# conformance: ${runs.length} exchanges (${MODES.join(' + ')}) in ${secs} s`);
  });
  if (process.env.CONFORMANCE_DUMP) {
    fs.writeFileSync(process.env.CONFORMANCE_DUMP, items.filter((it) => !it.skip).map((it) =>
      it.results.map((r) => `${it.id} | ${r.v.tag} ${r.mode} | ${r.observed} | ${r.problems.join('; ')}`).join('\n')).join('\n') + '\n');
  }
}
