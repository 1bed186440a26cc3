// design: every message that crosses a thread boundary outside the rings is typed here. The
// request path never uses these (it goes through the rings); this is the control plane: boot,
// readiness, errors, stop.
import type { MessagePort } from 'node:worker_threads';
import type { ErrorData } from './errors.js';

export type AppInterface = 'auto' | 'node' | 'fetch';

/** workerData of a request worker. */
export interface WorkerInit {
  slot: number;
  generation: number;
  /** The app module as a file: URL (or other importable URL), and the export to use. */
  appUrl: string;
  appExport: string | null;
  interface: AppInterface;
  control: SharedArrayBuffer;
  requestRing: SharedArrayBuffer;
  responseRing: SharedArrayBuffer;
  /** Spill ports: requestSpill receives oversized request frames, responseSpill sends responses. */
  requestSpill: MessagePort;
  responseSpill: MessagePort;
  /** Max bytes of a request head the worker's parser must accept (as the acceptor framed it). */
  maxHeaderSize: number;
  keepAliveMs: number;
  /** Add `Server: greenserve` to responses that do not set their own. */
  serverHeader: boolean;
  threadConcurrency: number;
  logLevel: string;
}


export type WorkerToMain =
  | { type: 'ready'; interface: 'node' | 'fetch'; detail: string }
  | { type: 'boot-error'; error: ErrorData };

export type MainToWorker = { type: 'stop' };
