/**
 * Direct messages to devices, exactly once and in order. Each socket of a member has one lane
 * per conversation that remembers the last seq it was sent (its cursor). An entry reaches a
 * socket only as the next seq after its cursor: older ones are dropped (already sent), and a
 * gap (a peer's message lost or overtaken on the cross-process channel, a sync that
 * stopped at a page) is filled from the conversation's log before anything newer is sent.
 * While a lane catches up, or its socket's `dm:sync` is being answered, what arrives for it
 * waits in the lane (bounded; what overflows is read from the log afterwards).
 *
 * A user's sockets are found through the user room in each process; a process that commits
 * hands the entries to the others (`serverSideEmit`), and each delivers to its own sockets.
 */
import type { EngineEvent } from '../../actors/events.ts';
import type { DmEvent, SyncCursor, SyncReply } from '../../protocol/dm.ts';
import { userRoom } from '../../protocol/live.ts';
import type { DmEventRange } from '../../storage/store.ts';
import type { IoServer } from './io.ts';

export interface DmLaneSettings {
  /** Entries read from the log per catch-up step. */
  page: number;
  /** Lanes one socket keeps; the least recently used idle one goes above it. */
  maxLanesPerSocket: number;
  /** Entries a waiting lane holds; beyond it they are dropped and read from the log later. */
  maxQueued: number;
}

export interface DmLaneDeps {
  io: IoServer;
  catchUp(conversationId: string, sinceSeq: number, limit: number): Promise<DmEventRange>;
  settings: DmLaneSettings;
  log: { error: (obj: object, msg: string) => void };
}

interface Lane {
  /** The last seq this socket was sent; undefined: nothing yet (the next entry starts it). */
  cursor: number | undefined;
  epoch: string | undefined;
  /** Catching up, or its socket is syncing: entries wait in `queue`. */
  busy: boolean;
  queue: DmEvent[];
  queueEpoch: string | undefined;
  overflowed: boolean;
}

interface SocketLanes {
  lanes: Map<string, Lane>;
  /** `dm:sync` requests being answered on this socket. */
  syncing: number;
}

export interface Delivery {
  conversationId: string;
  epoch: string;
  userIds: string[];
  events: DmEvent[];
}

export class DmLanes {
  private readonly sockets = new Map<string, SocketLanes>();

  constructor(private readonly deps: DmLaneDeps) {}

  /** Entries committed (here or in another process): to every local socket of every recipient. */
  deliver({ conversationId, epoch, userIds, events }: Delivery): void {
    const rooms = this.deps.io.of('/').adapter.rooms;
    const ordered = [...events].sort((a, b) => a.seq - b.seq);
    for (const userId of userIds) {
      for (const socketId of rooms.get(userRoom(userId)) ?? []) this.offer(socketId, conversationId, epoch, ordered);
    }
  }

  /** The socket is gone: its lanes go with it. */
  closed(socketId: string): void {
    this.sockets.delete(socketId);
  }

  /** The last seq a socket was sent of a conversation, when in the same epoch. */
  cursorOf(socketId: string, conversationId: string, epoch: string | undefined): number | undefined {
    const lane = this.sockets.get(socketId)?.lanes.get(conversationId);
    if (!lane || lane.cursor === undefined) return undefined;
    return epoch === undefined || lane.epoch === undefined || lane.epoch === epoch ? lane.cursor : undefined;
  }

  /** What this socket was sent of each conversation, as sync cursors. */
  heldCursors(socketId: string): SyncCursor[] {
    const out: SyncCursor[] = [];
    for (const [conversationId, lane] of this.sockets.get(socketId)?.lanes ?? []) {
      if (lane.cursor !== undefined && lane.epoch !== undefined) out.push({ conversationId, seq: lane.cursor, epoch: lane.epoch });
    }
    return out;
  }

  /** A `dm:sync` is being answered: the socket's lanes hold what arrives until `endSync`. */
  beginSync(socketId: string): void {
    this.socket(socketId).syncing++;
  }

  /**
   * The sync reply was sent (or failed: `reply` undefined). Each conversation in it continues
   * from its last entry there; the rest of the log up to the head follows as `dm:events`.
   */
  endSync(socketId: string, reply: SyncReply | undefined): void {
    const s = this.sockets.get(socketId);
    if (!s) return;
    s.syncing = Math.max(0, s.syncing - 1);
    for (const synced of reply?.conversations ?? []) {
      const { id, epoch, head } = synced.conversation;
      const lane = this.lane(s, id);
      const before = lane.epoch === epoch ? lane.cursor : undefined;
      const last = synced.events.at(-1)?.seq;
      // the socket now holds up to the reply's last entry; with none, what it held (or, holding nothing, the head)
      lane.cursor = Math.max(last ?? before ?? head, before ?? 0);
      lane.epoch = epoch;
      if (lane.cursor < head) {
        // the reply stopped at a page: the rest follows now
        lane.busy = true;
        void this.catchUp(socketId, id, lane, head);
      }
    }
    if (s.syncing > 0) return;
    for (const [conversationId, lane] of s.lanes) if (lane.busy && !this.catchingUp.has(lane)) this.release(socketId, conversationId, lane);
  }

  // ------------------------------------------------------------ internals

  private readonly catchingUp = new WeakSet<Lane>();

  private socket(socketId: string): SocketLanes {
    let s = this.sockets.get(socketId);
    if (!s) this.sockets.set(socketId, (s = { lanes: new Map(), syncing: 0 }));
    return s;
  }

  private lane(s: SocketLanes, conversationId: string): Lane {
    let lane = s.lanes.get(conversationId);
    if (lane) {
      s.lanes.delete(conversationId); // re-inserted last: the map is in recency order
    } else {
      if (s.lanes.size >= this.deps.settings.maxLanesPerSocket) {
        for (const [id, l] of s.lanes) {
          if (!l.busy) {
            s.lanes.delete(id);
            break;
          }
        }
      }
      lane = { cursor: undefined, epoch: undefined, busy: s.syncing > 0, queue: [], queueEpoch: undefined, overflowed: false };
    }
    s.lanes.set(conversationId, lane);
    return lane;
  }

  private offer(socketId: string, conversationId: string, epoch: string, events: DmEvent[]): void {
    const s = this.socket(socketId);
    const lane = this.lane(s, conversationId);
    if (s.syncing > 0) lane.busy = true;
    if (lane.busy) {
      this.hold(lane, epoch, events);
      return;
    }
    this.apply(socketId, conversationId, lane, epoch, events);
  }

  private hold(lane: Lane, epoch: string, events: DmEvent[]): void {
    if (lane.queueEpoch !== undefined && lane.queueEpoch !== epoch) lane.queue = [];
    lane.queueEpoch = epoch;
    const room = this.deps.settings.maxQueued - lane.queue.length;
    if (events.length > room) lane.overflowed = true;
    lane.queue.push(...events.slice(0, Math.max(0, room)));
  }

  /** Sends what follows the cursor; at a gap, holds the rest and reads the gap from the log. */
  private apply(socketId: string, conversationId: string, lane: Lane, epoch: string, events: DmEvent[]): void {
    if (lane.epoch !== undefined && lane.epoch !== epoch) lane.cursor = undefined; // a new epoch: old seqs mean nothing
    lane.epoch = epoch;
    const fresh: DmEvent[] = [];
    for (const [i, e] of events.entries()) {
      lane.cursor ??= e.seq - 1;
      if (e.seq <= lane.cursor) continue;
      if (e.seq !== lane.cursor + 1) {
        this.emit(socketId, conversationId, epoch, fresh);
        lane.busy = true;
        this.hold(lane, epoch, events.slice(i));
        void this.catchUp(socketId, conversationId, lane, e.seq - 1);
        return;
      }
      fresh.push(e);
      lane.cursor = e.seq;
    }
    this.emit(socketId, conversationId, epoch, fresh);
  }

  /** Reads the log after the lane's cursor up to at least `target`, sends it, then lets held entries through. */
  private async catchUp(socketId: string, conversationId: string, lane: Lane, target: number): Promise<void> {
    if (this.catchingUp.has(lane)) return;
    this.catchingUp.add(lane);
    try {
      for (;;) {
        if (!this.sockets.get(socketId)?.lanes.has(conversationId)) return; // gone or evicted
        const since = lane.cursor ?? 0;
        const range = await this.deps.catchUp(conversationId, since, this.deps.settings.page);
        if (!range.complete || (lane.epoch !== undefined && range.epoch !== lane.epoch)) {
          // the log no longer reaches back: the device must sync; nothing it holds is repeated
          lane.cursor = undefined;
          lane.queue = [];
          lane.overflowed = false;
          this.deps.io.of('/').sockets.get(socketId)?.emit('dm:resync', { conversationId });
          break;
        }
        const fresh = range.events.filter((e) => e.seq > since);
        if (fresh.length) {
          lane.cursor = fresh.at(-1)!.seq;
          this.emit(socketId, conversationId, range.epoch, fresh);
        }
        if (lane.cursor !== undefined && lane.cursor >= target && fresh.length < this.deps.settings.page && !lane.overflowed) break;
        if (fresh.length === 0 && !lane.overflowed) break;
        lane.overflowed = false;
      }
    } catch (err) {
      // storage failed: what was held goes out on the next delivery's gap, or the next sync
      this.deps.log.error({ err, conversationId }, 'direct-message catch-up failed');
    } finally {
      this.catchingUp.delete(lane);
    }
    const s = this.sockets.get(socketId);
    if (s && s.syncing === 0) this.release(socketId, conversationId, lane);
  }

  /** Lets a lane's held entries through, in order. */
  private release(socketId: string, conversationId: string, lane: Lane): void {
    lane.busy = false;
    const held = lane.queue.sort((a, b) => a.seq - b.seq);
    const epoch = lane.queueEpoch ?? lane.epoch;
    lane.queue = [];
    lane.queueEpoch = undefined;
    if (held.length && epoch !== undefined) this.apply(socketId, conversationId, lane, epoch, held);
  }

  private emit(socketId: string, conversationId: string, epoch: string, events: DmEvent[]): void {
    if (events.length === 0) return;
    this.deps.io.of('/').sockets.get(socketId)?.emit('dm:events', { conversationId, epoch, events });
  }
}

type DmEngineEvent = Extract<EngineEvent, { type: 'dm:events' | 'dm:receipt' | 'dm:typing' }>;

/** Direct-message engine events to sockets: log entries through the lanes, receipts and typing as user-room broadcasts. */
export class DmDelivery {
  constructor(
    private readonly io: IoServer,
    private readonly lanes: DmLanes,
    /** With other processes: whether their channel takes a message now (absent: alone). */
    private readonly canReachPeers?: () => boolean,
  ) {
    io.on('dm:events', (payload) => lanes.deliver(payload));
  }

  static handles(event: EngineEvent): event is DmEngineEvent {
    return event.type === 'dm:events' || event.type === 'dm:receipt' || event.type === 'dm:typing';
  }

  publish(event: DmEngineEvent): void {
    switch (event.type) {
      case 'dm:events': {
        const { type: _t, ...delivery } = event;
        // peers that miss it find the gap at their next delivery and read it from the log
        if (this.canReachPeers?.()) this.io.serverSideEmit('dm:events', delivery);
        this.lanes.deliver(delivery);
        return;
      }
      case 'dm:receipt':
        this.io.to(event.userIds.map(userRoom)).emit('dm:receipt', event.receipt);
        return;
      case 'dm:typing':
        this.io.to(event.userIds.map(userRoom)).emit('dm:typing', event.typing);
        return;
    }
  }
}
