// plainUrl (lib/worker/fetch-request.ts) says `${scheme}://${host}${target}` is already the href
// the URL parser would give; where it says so, the parser must agree, for random hosts and targets.
import t from 'tap';
import { plainUrl } from '../../../dist/lib/worker/fetch-request.js';

const HOST_CHARS = 'aZz09.-_:[]x%';
const TARGET_CHARS = "/?.%2eE'aZ09!$&()*+,;=:@_~|{}^`\\#\" <>";

function rnd(chars, max) {
  let s = '';
  const n = Math.floor(Math.random() * max);
  for (let i = 0; i < n; i++) s += chars[Math.floor(Math.random() * chars.length)];
  return s;
}

function parsed(url) {
  try {
    return new URL(url).href;
  } catch {
    return null;
  }
}

t.test('where plainUrl answers, the URL parser gives the same string', async (t) => {
  const hosts = ['localhost', 'example.com', 'a.b.c', '127.0.0.1', '10.0.0.255', 'localhost.', '1.2.3', '0x7f.1', '256.1.1.1', 'a.1', 'a.0x', 'xn--abc', 'Ex.com', 'a_b', 'h:80', 'h:443', 'h:8080', 'h:65535', 'h:65536', 'h:080', '[::1]'];
  const targets = ['/', '/a', '/a/b?c=d&e=f', '/a/./b', '/a/../b', '/%2e/x', '/a/.b', '/..', '/a?b=/../', "/a'b", "/a?b='", '/a%20b', '/a%zz', '/a b', '/a|b', '/a\\b', '/a#b', '', '*', 'http://x/'];
  let answered = 0;
  const check = (scheme, host, target) => {
    const mine = plainUrl(scheme, host, target);
    if (mine === null) return;
    answered++;
    t.equal(mine, parsed(`${scheme}://${host}${target}`), `${scheme} ${JSON.stringify(host)} ${JSON.stringify(target)}`);
  };
  for (const scheme of ['http', 'https']) {
    for (const host of hosts) for (const target of targets) check(scheme, host, target);
    for (let i = 0; i < 20000; i++) check(scheme, rnd(HOST_CHARS, 12) || 'h', `/${rnd(TARGET_CHARS, 16)}`);
  }
  t.ok(answered > 1000, `answered ${answered} times`);
  // The common case takes the plain path.
  t.equal(plainUrl('http', '127.0.0.1:3000', '/users/7?q=a%20b&x=1'), 'http://127.0.0.1:3000/users/7?q=a%20b&x=1');
  t.equal(plainUrl('https', 'api.example.com', '/v1/items'), 'https://api.example.com/v1/items');
  t.equal(plainUrl('http', 'Example.com', '/'), null);
  t.equal(plainUrl('http', 'example.com:80', '/'), null);
});
