// The default elastic ceiling (--max-threads 0): bounded by memory, at least 4 x --threads, at most 128.
import t from 'tap';
import path from 'node:path';
import { root } from '../../helpers.mjs';

const { elasticCeiling } = await import(path.join(root, 'dist/lib/supervisor/elastic.js'));
const MiB = 1048576;
const GiB = 1024 * MiB;

t.test('an explicit --max-threads is taken as given', async (t) => {
  t.equal(elasticCeiling(3, 2, 24 * GiB), 3);
  t.equal(elasticCeiling(500, 2, 512 * MiB), 500);
});

t.test('0: a thread per 16 MiB of a quarter of the memory, within [4 x threads, 128]', async (t) => {
  t.equal(elasticCeiling(0, 2, 24 * GiB), 128, 'a large machine: the cap');
  t.equal(elasticCeiling(0, 2, 2 * GiB), 32, '2 GiB: 512 MiB / 16 MiB');
  t.equal(elasticCeiling(0, 1, 512 * MiB), 8, '512 MiB: 8');
  t.equal(elasticCeiling(0, 4, 256 * MiB), 16, 'small memory: still four times --threads');
  t.equal(elasticCeiling(0, 64, 24 * GiB), 256, 'many threads: four times --threads beats the cap');
});

t.test('without a memory argument it reads this machine', async (t) => {
  const n = elasticCeiling(0, 2);
  t.ok(n >= 8 && n <= 128, `ceiling ${n}`);
});
