// design: `greenserve/broadcast`, a named channel between the worker threads of a server, for state
// that one thread's memory cannot hold for all: a socket.io or `ws` broadcast must reach the
// clients connected to every thread, not only the publisher's. It is node's BroadcastChannel
// (worker_threads): every other channel of the same name in the process (other threads, and other
// channels this thread opened) receives what one publishes, as a structured clone, in the order
// each thread published; the publishing channel does not receive its own messages (the publisher
// acts on them itself). Names are prefixed so
// that an app's channels cannot meet greenserve's or another library's. The channel does not keep
// a thread alive (unref). See docs/per-thread-state.md.
import { BroadcastChannel } from 'node:worker_threads';

/** The prefix of every channel name opened through this module. */
export const CHANNEL_PREFIX = 'greenserve:';

export interface Channel<T = unknown> {
  /** The name given to channel(). */
  readonly name: string;
  /** Send `message` (anything structured clone takes) to every other channel of this name: the other threads'. */
  publish(message: T): void;
  /** Call `listener` with each message another thread publishes; returns a function that stops it. */
  subscribe(listener: (message: T) => void): () => void;
  /** Stop receiving and publishing; later publish() calls throw. */
  close(): void;
}

/**
 * Open the channel `name` in this thread. Each call opens its own: close it when done (a
 * socket.io adapter closes its channel with the namespace). Messages that cannot be cloned
 * (functions, sockets) make publish() throw, as postMessage does.
 */
export function channel<T = unknown>(name: string): Channel<T> {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('channel(name): name must be a non-empty string');
  const bc = new BroadcastChannel(CHANNEL_PREFIX + name);
  const listeners = new Set<(message: T) => void>();
  let closed = false;
  bc.onmessage = (event: unknown) => {
    const data = (event as { data: T }).data;
    for (const fn of listeners) fn(data);
  };
  bc.unref();
  return {
    name,
    publish(message: T): void {
      if (closed) throw new Error(`channel ${name} is closed`);
      bc.postMessage(message);
    },
    subscribe(listener: (message: T) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close(): void {
      if (closed) return;
      closed = true;
      listeners.clear();
      bc.close();
    },
  };
}
