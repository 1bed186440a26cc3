// A socket.io adapter that makes broadcasts reach the clients of every greenserve worker thread.
//
// socket.io's default adapter keeps its rooms in this thread's memory, so `io.emit(...)` reaches
// only the sockets connected to the thread that calls it. This one hands every broadcast that is
// not flagged local (`io.local.emit`) to the other threads over a `greenserve/broadcast` channel
// (one per namespace); each thread then delivers it to its own sockets with the rooms and
// exceptions of the original. Rooms, `socket.broadcast`, `io.to(room)` and `io.except(room)` work
// across threads; what needs answers from other threads (broadcasts with acknowledgements,
// fetchSockets(), serverSideEmit()) still sees this thread only.
//
//   import { Server } from 'socket.io';
//   import { ThreadsAdapter } from './threads-adapter.mjs';
//   const io = new Server(server, { adapter: ThreadsAdapter });
import { Adapter } from 'socket.io-adapter';
import { channel } from 'greenserve/broadcast';

export class ThreadsAdapter extends Adapter {
  constructor(nsp) {
    super(nsp);
    this.bus = channel(`socket.io:${nsp.name}`);
    this.stop = this.bus.subscribe(({ packet, rooms, except, flags }) => {
      super.broadcast(packet, { rooms: new Set(rooms), except: new Set(except), flags: { ...flags, local: true } });
    });
  }

  broadcast(packet, opts) {
    if (!opts.flags?.local) {
      this.bus.publish({ packet, rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags ?? {} });
    }
    super.broadcast(packet, opts);
  }

  close() {
    this.stop();
    this.bus.close();
    return super.close();
  }
}
