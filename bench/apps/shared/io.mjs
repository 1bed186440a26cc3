// The io scenarios' wait and answer, and a synchronous wait for servers without greenserve's
// shims: Atomics.wait on a private SharedArrayBuffer blocks the calling thread for `ms`
// (the plain-Node way to wait synchronously; it freezes a single-threaded server meanwhile).

export const IO_MS = 10;
export const IO_BODY = `waited ${IO_MS} ms\n`;

const cell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks this thread for `ms` milliseconds (nothing ever notifies the cell). */
export function blockFor(ms) {
  Atomics.wait(cell, 0, 0, ms);
}
