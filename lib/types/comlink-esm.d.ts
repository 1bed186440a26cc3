// The ES module builds of comlink (4.4) ship no .d.mts, which NodeNext resolution needs for a
// deep .mjs import; they are the same API as the package's main typings.
declare module 'comlink/dist/esm/comlink.mjs' {
  export * from 'comlink';
}

declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  import type { MessagePort } from 'node:worker_threads';
  /** Adapts a node MessagePort (`on`/`off('message')`) to the Endpoint comlink expects. */
  export default function nodeEndpoint(port: MessagePort): Endpoint;
}
