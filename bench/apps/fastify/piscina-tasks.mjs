// piscina's worker module for the fastify + piscina peer: one named export per offloaded task
// (pool.run(arg, { name })). Each piscina thread imports it once.
import { cpuBody } from '../shared/work.mjs';
import { blockFor } from '../shared/io.mjs';
import { openDb } from '../shared/db.mjs';

let getRow = null;

export function cpu() {
  return cpuBody();
}

export function block(ms) {
  blockFor(ms);
  return null;
}

export function sqlite(id) {
  getRow ??= openDb();
  return getRow(id);
}
