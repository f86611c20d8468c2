/**
 * An in-memory stand-in for Redis pub/sub, so several tremolo nodes run in one process (as
 * socket.io-adapter's own tests run three servers on an in-memory bus): it carries the
 * Socket.IO cluster adapter's messages (room broadcasts, `serverSideEmit`) and cache
 * invalidations between the nodes. Like pub/sub, a message reaches the OTHER nodes later
 * (never within the sender's call), in the order sent on each link; it is encoded on the way,
 * as the Redis adapter encodes with msgpack, so no node ever holds another node's objects.
 * Each link between two nodes has its own latency, as real connections do, so messages of
 * different senders overtake each other as they do over Redis: events of one video committed
 * by two nodes reach a third in either order.
 */
import { Packr } from 'msgpackr';
import { ClusterAdapterWithHeartbeat, type ClusterMessage, type ClusterResponse, type Offset, type ServerId } from 'socket.io-adapter';
import type { InvalidationBus } from '../../src/storage/cache/invalidation.ts';
import type { CrossProcess } from '../../src/transport/live/gateway.ts';

const packr = new Packr({ useRecords: false });

/** The delay of the link from node `from` to node `to`, in ms (timers of one delay fire in order). */
export type LinkLatency = (from: number, to: number) => number;

/** One node's end of the bus. */
interface Member {
  readonly node: number;
}

/** One node's Socket.IO adapter: the cluster logic is socket.io-adapter's, only the transport is ours. */
class MemoryBusAdapter extends ClusterAdapterWithHeartbeat implements Member {
  constructor(
    nsp: unknown,
    private readonly bus: MemoryBus,
    readonly node: number,
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
    for (const peer of this.bus.adapters) if (peer !== this) this.bus.send(this, peer, message, (copy) => peer.onMessage(copy));
    return '';
  }

  protected override async doPublishResponse(requesterUid: ServerId, response: ClusterResponse): Promise<void> {
    for (const peer of this.bus.adapters) if (peer.serverId === requesterUid) this.bus.send(this, peer, response, (copy) => peer.onResponse(copy));
  }
}

/** Socket.IO constructs its adapter with `new`: a class bound to the bus and the node. */
function adapterClass(bus: MemoryBus, node: number) {
  return class extends MemoryBusAdapter {
    constructor(nsp: unknown) {
      super(nsp, bus, node);
    }
  };
}

/** One node's cache invalidations. */
class MemoryBusInvalidation implements InvalidationBus, Member {
  readonly handlers: ((key: string) => void)[] = [];

  constructor(
    private readonly bus: MemoryBus,
    readonly node: number,
  ) {
    bus.invalidations.add(this);
  }

  publish(key: string): void {
    for (const peer of this.bus.invalidations) {
      if (peer !== this) this.bus.send(this, peer, key, (copy) => peer.handlers.forEach((h) => h(copy)));
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
  private nodes = 0;

  /** @param latency each link's delay; by default 1 to 3 ms, different for each pair of nodes. */
  constructor(private readonly latency: LinkLatency = (from, to) => 1 + ((from + 2 * to) % 3)) {}

  /** What one more node uses to reach the others. */
  node(): { invalidation: InvalidationBus; crossProcess: CrossProcess } {
    const node = this.nodes++;
    return { invalidation: new MemoryBusInvalidation(this, node), crossProcess: { adapter: adapterClass(this, node), reachable: () => true } };
  }

  /** Later, in order on its link, and as a copy: what pub/sub does to a message. */
  send<T>(from: Member, to: Member, message: T, receive: (copy: T) => void): void {
    const bytes = packr.pack(message);
    // timers of one duration fire in the order they were set: each link stays in order
    setTimeout(() => receive(packr.unpack(bytes) as T), this.latency(from.node, to.node));
  }

  /** Stops the adapters' heartbeat timers (the gateway leaves its adapter to its owner). */
  close(): void {
    for (const adapter of this.adapters) adapter.close();
  }
}
