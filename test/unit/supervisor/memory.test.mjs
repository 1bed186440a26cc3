// The memory limits and V8 heap limits workers get (docs/decisions/0028-memory-limits.md).
import t from 'tap';
import { getHeapStatistics } from 'node:v8';
import { memoryLimits, processOldSpaceMb, workerHeapLimitMb } from '../../../dist/lib/supervisor/memory.js';

t.test('V8 is given twice greenserve\'s limit, and at least 512 MiB more', async (t) => {
  t.equal(workerHeapLimitMb(128), 640);
  t.equal(workerHeapLimitMb(256), 768);
  t.equal(workerHeapLimitMb(4096), 8192);
});

t.test('--max-old-space-size is found on the command line and in NODE_OPTIONS, quoted or not', async (t) => {
  t.equal(processOldSpaceMb([], ''), null);
  t.equal(processOldSpaceMb(['--max-old-space-size=300'], ''), 300);
  t.equal(processOldSpaceMb(['--max-old-space-size', '300'], ''), 300);
  t.equal(processOldSpaceMb([], '--max_old_space_size=99 --enable-source-maps'), 99);
  // tap and other launchers quote each word of NODE_OPTIONS
  t.equal(processOldSpaceMb([], '"--max-old-space-size=768" "--import=file:///x.mjs"'), 768);
  t.equal(processOldSpaceMb(['--max-old-space-size=512'], '--max-old-space-size=768'), 512, 'the command line comes after NODE_OPTIONS');
});

t.test('the default per-worker limit is node\'s own heap limit, with V8 given room above it', { skip: processOldSpaceMb() !== null && 'the test process runs with --max-old-space-size' }, async (t) => {
  const m = memoryLimits(0, 0);
  const nodeMb = Math.floor(getHeapStatistics().heap_size_limit / 1048576);
  t.same([m.workerMb, m.workerSource, m.v8OldMb], [nodeMb, 'node-default', workerHeapLimitMb(nodeMb)]);
  const set = memoryLimits(256, 1024);
  t.same([set.workerMb, set.workerSource, set.v8OldMb, set.serverMb, set.serverSource], [256, 'setting', 768, 1024, 'setting']);
});
