import t from 'tap';
import { globProblem, globToRegExp } from '../../dist/lib/glob.js';

const matches = (glob, path) => globToRegExp(glob).test(path);

t.test('* and ? stay within a segment; ** crosses them', async (t) => {
  t.ok(matches('*.mjs', 'app.mjs'));
  t.notOk(matches('*.mjs', 'src/app.mjs'), '* does not cross /');
  t.notOk(matches('*.mjs', 'app.mjs.swp'), 'anchored at the end');
  t.ok(matches('a?c', 'abc'));
  t.notOk(matches('a?c', 'a/c'));
  t.ok(matches('src/**/*.ts', 'src/a/b/c.ts'));
  t.ok(matches('src/**/*.ts', 'src/c.ts'), '**/ also matches no directory');
  t.ok(matches('build/**', 'build/x/y.js'));
  t.notOk(matches('build/**', 'src/build/x.js'), 'anchored at the start');
});

t.test('classes, negated classes and escapes', async (t) => {
  t.ok(matches('[ab].js', 'a.js'));
  t.notOk(matches('[ab].js', 'c.js'));
  t.ok(matches('[!ab].js', 'c.js'));
  t.ok(matches('v[0-9].json', 'v7.json'));
  t.ok(matches('\\*.js', '*.js'));
  t.notOk(matches('\\*.js', 'a.js'));
  t.ok(matches('a.b', 'a.b'));
  t.notOk(matches('a.b', 'axb'), 'regex characters are literal');
  t.ok(matches('.*', '.git'));
  t.ok(matches('(x)+', '(x)+'));
});

t.test('problems are named', async (t) => {
  t.equal(globProblem('*.js'), null);
  t.match(globProblem('[ab.js'), /no closing "\]"/);
  t.match(globProblem('a\\'), /lone "\\"/);
  t.match(globProblem('a\0b'), /NUL/);
});
