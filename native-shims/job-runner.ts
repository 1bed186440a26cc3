// design: the module every heavy-jobs pool thread (piscina) runs: it imports the declared job
// module once per pool thread, calls its default export, and returns the outcome as data, so that an
// error keeps its name, code and other properties (piscina's own error cloning keeps only name,
// message and stack). Runs in piscina's threads: never imports the acceptor or supervisor side.
import type { ShimErrorData } from '../lib/messages.js';
import { J_STARTED } from '../lib/ring/layout.js';
import { shimErrorToData, transferablesOf } from './wire.js';

const jobs = new Map<string, Promise<(input: unknown) => unknown>>();

function load(url: string): Promise<(input: unknown) => unknown> {
  let fn = jobs.get(url);
  if (fn === undefined) {
    fn = import(url).then((mod: Record<string, unknown>) => {
      if (typeof mod['default'] !== 'function') throw new TypeError(`job module ${url} has no default export function`);
      return mod['default'] as (input: unknown) => unknown;
    });
    jobs.set(url, fn);
    fn.catch(() => jobs.delete(url));
  }
  return fn;
}

export type JobOutcome = { ok: true; value: unknown } | { ok: false; error: ShimErrorData };

export default async function runJob(task: { url: string; input: unknown; started: SharedArrayBuffer }): Promise<unknown> {
  const word = new Int32Array(task.started);
  Atomics.store(word, J_STARTED, 1);
  Atomics.notify(word, J_STARTED);
  try {
    const value = await (await load(task.url))(task.input);
    const transfer = transferablesOf(value);
    const outcome: JobOutcome = { ok: true, value };
    // piscina moves what Piscina.move() marks; a whole ArrayBuffer result need not be copied.
    if (transfer.length === 0) return outcome;
    const { Piscina } = await import('piscina');
    return Piscina.move(outcome as never);
  } catch (err) {
    return { ok: false, error: shimErrorToData(err) } satisfies JobOutcome;
  }
}
