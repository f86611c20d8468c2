/**
 * An in-memory stand-in for Redis pub/sub, so several tremolo nodes run in one process (as
 * socket.io-adapter's own tests run three servers on an in-memory bus): it carries the
 * Socket.IO cluster adapter's messages (room broadcasts, `serverSideEmit`) and cache
 * invalidations between the nodes. Like pub/sub, a message reaches the OTHER nodes, later
 * (never within the sender's call), in the order sent; it is encoded on the way, as the Redis
 * adapter encodes with msgpack, so no node ever holds another node's objects.
 */
import { Packr } from 'msgpackr';
import { ClusterAdapterWithHeartbeat, type ClusterMessage, type ClusterResponse, type Offset, type ServerId } from 'socket.io-adapter';
import type { InvalidationBus } from '../../src/storage/cache/invalidation.ts';
import type { LiveCluster } from '../../src/transport/live/gateway.ts';

const packr = new Packr({ useRecords: false });

/** Later, in order, and as a copy: what pub/sub does to a message. */
function deliver<T>(message: T, to: (copy: T) => void): void {
  const bytes = packr.pack(message);
  setImmediate(() => to(packr.unpack(bytes) as T));
}

/** One node's Socket.IO adapter: the cluster logic is socket.io-adapter's, only the transport is ours. */
class MemoryBusAdapter extends ClusterAdapterWithHeartbeat {
  constructor(
    nsp: unknown,
    private readonly bus: MemoryBus,
  ) {
    super(nsp, {});
    bus.adapters.add(this);
  }

  get serverId(): ServerId {
    return this.uid;
  }

  override close(): void {
    super.close();
    this.bus.adapters.delete(this);
  }

  protected override async doPublish(message: ClusterMessage): Promise<Offset> {
    for (const peer of this.bus.adapters) if (peer !== this) deliver(message, (copy) => peer.onMessage(copy));
    return '';
  }

  protected override async doPublishResponse(requesterUid: ServerId, response: ClusterResponse): Promise<void> {
    for (const peer of this.bus.adapters) if (peer.serverId === requesterUid) deliver(response, (copy) => peer.onResponse(copy));
  }
}

/** Socket.IO constructs its adapter with `new`: a class bound to `bus`. */
function adapterOn(bus: MemoryBus) {
  return class extends MemoryBusAdapter {
    constructor(nsp: unknown) {
      super(nsp, bus);
    }
  };
}

/** One node's cache invalidations. */
class MemoryBusInvalidation implements InvalidationBus {
  readonly handlers: ((key: string) => void)[] = [];

  constructor(private readonly bus: MemoryBus) {
    bus.invalidations.add(this);
  }

  publish(key: string): void {
    for (const peer of this.bus.invalidations) {
      if (peer !== this) deliver(key, (copy) => peer.handlers.forEach((h) => h(copy)));
    }
  }

  onRemote(handler: (key: string) => void): void {
    this.handlers.push(handler);
  }

  async close(): Promise<void> {
    this.bus.invalidations.delete(this);
  }
}

/** The bus every node of one in-process cluster shares. */
export class MemoryBus {
  readonly adapters = new Set<MemoryBusAdapter>();
  readonly invalidations = new Set<MemoryBusInvalidation>();

  /** What one more node uses to reach the others. */
  node(): { invalidation: InvalidationBus; live: LiveCluster } {
    return { invalidation: new MemoryBusInvalidation(this), live: { adapter: adapterOn(this), canPublish: () => true } };
  }

  /** Stops the adapters' heartbeat timers (the gateway leaves its adapter to the owner). */
  close(): void {
    for (const adapter of this.adapters) adapter.close();
  }
}
