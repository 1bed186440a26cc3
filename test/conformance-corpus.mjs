// Loaders for the HTTP/1.1 conformance corpora: gunicorn (.http + .json), llhttp (Markdown: meta,
// http block, log block) and http-desync-guardian (YAML). They are not part of this repository:
// they are read from `shared/conformance` in the folder that holds the repository's folder
// (corpusRoot below), one subfolder per corpus (gunicorn/, llhttp/, desync-guardian/). Without
// them the tests that use them skip and say what went untested; with CI=true they fail instead
// (corpusCheck). Each loader returns plain case objects with the raw request bytes;
// the tests decide what each case means for greenserve. Shared by
// test/integration/conformance.test.mjs and test/integration/fuzz.test.mjs.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';

function findRepoRoot(dir) {
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above the test');
    dir = up;
  }
  return dir;
}
export const repoRoot = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));
export const corpusRoot = path.resolve(repoRoot, '../shared/conformance');
export const corpusPresent = () => fs.existsSync(corpusRoot);

/**
 * Whether the corpus folder `dir` is there. When it is not, `t` gets a skipped test that names
 * the folder and `untested`, what goes untested without it; except in CI (`CI=true`), where it
 * gets a failure instead: a CI run must test everything it reports on.
 */
export function corpusCheck(t, untested, dir = corpusRoot, env = process.env) {
  if (fs.existsSync(dir)) return true;
  const msg = `${dir} not found: ${untested} not tested`;
  if (env.CI === 'true') t.fail(`${msg} (CI=true: the corpora must be there; see test/conformance-corpus.mjs)`);
  else t.skip(msg);
  return false;
}

/** Small deterministic PRNG (mulberry32): same seed, same cases, same splits. */
export function prng(seed) {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- gunicorn ---------------------------------------------------------------------------------

/** The .http format: file newlines are not data; \r \n \t \0 \xHH are bytes. */
export function decodeGunicorn(src) {
  const out = [];
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === 0x0a) continue;
    if (c === 0x5c) {
      const n = String.fromCharCode(src[i + 1]);
      const simple = { r: 0x0d, n: 0x0a, t: 0x09, 0: 0x00 }[n];
      if (simple !== undefined) { out.push(simple); i++; continue; }
      if (n === 'x') { out.push(parseInt(String.fromCharCode(src[i + 2], src[i + 3]), 16)); i += 3; continue; }
    }
    out.push(c);
  }
  return Buffer.from(out);
}

/** [{ id: 'valid/001', kind: 'valid'|'invalid', raw, spec }] */
export function loadGunicorn() {
  const dir = path.join(corpusRoot, 'gunicorn');
  const cases = [];
  for (const kind of ['valid', 'invalid']) {
    for (const f of fs.readdirSync(path.join(dir, kind)).filter((n) => n.endsWith('.http')).sort()) {
      const name = f.slice(0, -5);
      cases.push({
        id: `${kind}/${name}`,
        kind,
        raw: decodeGunicorn(fs.readFileSync(path.join(dir, kind, f))),
        spec: JSON.parse(fs.readFileSync(path.join(dir, kind, `${name}.json`), 'utf8')),
      });
    }
  }
  return cases;
}

// ---- llhttp -----------------------------------------------------------------------------------

/** An http block as llhttp's test/md-test.ts turns it into bytes. */
export function decodeLlhttp(block) {
  let s = block.replace(/\n$/, '');
  s = s.replace(/\\(\r\n|\r|\n)/g, '');
  s = s.replace(/\r\n|\r|\n/g, '\r\n');
  s = s.replace(/\\r/g, '\r').replace(/\\n/g, '\n').replace(/\\t/g, '\t').replace(/\\f/g, '\f');
  s = s.replace(/\\x([0-9a-fA-F]+)/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
  s = s.replace(/\\([0-7]{1,3})/g, (_, d) => String.fromCharCode(parseInt(d, 8)));
  s = s.replace(/\$\{(.+?)\}/g, (_, code) => String(vm.runInNewContext(code)));
  return Buffer.from(s, 'latin1');
}

/**
 * [{ id: 'sample.md:12 Simple request', file, title, meta, raw, log: [lines] }] for every case
 * with an http block (response cases included; the test filters on meta.type).
 */
export function loadLlhttp() {
  const dir = path.join(corpusRoot, 'llhttp');
  const cases = [];
  for (const file of fs.readdirSync(dir).filter((n) => n.endsWith('.md')).sort()) {
    const lines = fs.readFileSync(path.join(dir, file), 'utf8').split('\n');
    const titles = [];
    let cur = null;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const h = /^(#+)\s+(.*)$/.exec(line);
      if (h) { titles[h[1].length - 1] = h[2]; titles.length = h[1].length; continue; }
      const m = /^<!--\s*meta=(\{.*\})\s*-->/.exec(line);
      if (m) {
        cur = { id: `${file}:${i + 1} ${titles.filter(Boolean).join(' / ')}`, file, title: titles.at(-1), meta: JSON.parse(m[1]), raw: /** @type {Buffer | null} */ (null), log: /** @type {string[] | null} */ (null) };
        cases.push(cur);
        continue;
      }
      const fence = /^```(\w+)\s*$/.exec(line);
      if (fence && cur) {
        const body = [];
        for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
        const text = body.length ? body.join('\n') + '\n' : '';
        if (fence[1] === 'http' && cur.raw === null) cur.raw = decodeLlhttp(text);
        // like llhttp's md-test: escaped tabs and form feeds in the log are the characters
        else if (fence[1] === 'log' && cur.log === null) cur.log = body.filter((l) => l.trim() !== '').map((l) => l.replace(/\\t/g, '\t').replace(/\\f/g, '\f'));
      }
    }
  }
  return cases.filter((c) => c.raw !== null && c.log !== null);
}

// ---- http-desync-guardian ---------------------------------------------------------------------

/** A YAML string as bytes: \xHH escapes (code points below 256) are bytes, other characters UTF-8. */
export function bytesOf(s) {
  const out = [];
  for (const ch of String(s)) {
    const cp = /** @type {number} */ (ch.codePointAt(0));
    if (cp < 256) out.push(cp);
    else out.push(...Buffer.from(ch, 'utf8'));
  }
  return Buffer.from(out);
}

/**
 * [{ id: 'severe.yaml#3 Multiple Content-Length', file, spec, head }] where head is the request
 * line and fields as bytes, ending in the blank line (no body: the test adds one). The YAML
 * parser is the `yaml` package (a devDependency).
 */
export async function loadDesyncGuardian() {
  const { parse } = await import('yaml');
  const dir = path.join(corpusRoot, 'desync-guardian');
  const cases = [];
  for (const file of fs.readdirSync(dir).filter((n) => n.endsWith('.yaml')).sort()) {
    const docs = parse(fs.readFileSync(path.join(dir, file), 'utf8')) ?? [];
    docs.forEach((spec, k) => {
      cases.push({ id: `${file}#${k + 1} ${spec.name}`, file, spec, headers: (spec.headers ?? []).map((h) => [bytesOf(h.name), bytesOf(h.value)]) });
    });
  }
  return cases;
}

/** Request line + fields (`name: value`) + blank line, with extra fields (e.g. Host) after the request line. */
export function desyncHead(c, extra = []) {
  const { method, uri, version } = c.spec;
  const line = Buffer.concat([bytesOf(method), Buffer.from(' '), bytesOf(uri), version === '' ? Buffer.alloc(0) : Buffer.concat([Buffer.from(' '), bytesOf(version)]), Buffer.from('\r\n')]);
  const fields = [...extra.map(([n, v]) => [Buffer.from(n), Buffer.from(v)]), ...c.headers].map(([n, v]) => Buffer.concat([n, Buffer.from(': '), v, Buffer.from('\r\n')]));
  return Buffer.concat([line, ...fields, Buffer.from('\r\n')]);
}

/** A gunicorn expected request (decodeGunicorn) that is HTTP/1.1 and carries no Host field. */
export const lacksHost = (e) => e.version[0] === 1 && e.version[1] === 1 && !e.headers.some(([n]) => n === 'HOST');

/** Insert `Host: h` after the request line of each expected HTTP/1.1 request that lacks it. */
export function withHost(buf, expected) {
  let s = buf.toString('latin1');
  let from = 0;
  for (const e of expected) {
    const line = `${e.method} ${Buffer.from(e.uri, 'utf8').toString('latin1')} HTTP/1.1\r\n`.toLowerCase();
    const at = s.toLowerCase().indexOf(line, from); // lower-cased: casefold_http_method cases
    if (at < 0 || !lacksHost(e)) continue;
    s = s.slice(0, at + line.length) + 'Host: h\r\n' + s.slice(at + line.length);
    from = at + line.length;
  }
  return Buffer.from(s, 'latin1');
}
