// corpusCheck (test/conformance-corpus.mjs): a missing corpus is a skip that names what went
// untested, except under CI=true, where it is a failure; a present one is neither.
import t from 'tap';
import os from 'node:os';
import path from 'node:path';
import { corpusCheck } from '../conformance-corpus.mjs';

function recorder() {
  const calls = [];
  return { calls, fail: (msg) => calls.push(['fail', msg]), skip: (msg) => calls.push(['skip', msg]) };
}
const missing = path.join(os.tmpdir(), 'greenserve-no-such-corpus');

t.test('missing, not in CI: a skip naming the folder and what was not tested', async (t) => {
  for (const env of [{}, { CI: 'false' }]) {
    const r = recorder();
    t.equal(corpusCheck(r, 'the widget cases', missing, env), false);
    t.same(r.calls, [['skip', `${missing} not found: the widget cases not tested`]], JSON.stringify(env));
  }
});

t.test('missing under CI=true: a failure that says why', async (t) => {
  const r = recorder();
  t.equal(corpusCheck(r, 'the widget cases', missing, { CI: 'true' }), false);
  t.equal(r.calls.length, 1);
  t.equal(r.calls[0][0], 'fail');
  t.match(r.calls[0][1], `${missing} not found: the widget cases not tested (CI=true: the corpora must be there`);
});

t.test('present: true, and nothing reported, in CI or not', async (t) => {
  for (const env of [{}, { CI: 'true' }]) {
    const r = recorder();
    t.equal(corpusCheck(r, 'the widget cases', os.tmpdir(), env), true);
    t.same(r.calls, []);
  }
});
