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
  /** Log entries after a seq; `complete` false when the log no longer reaches back (the engine's ConversationService.catchUp). */
  catchUp(conversationId: string, sinceSeq: number, limit: number): Promise<{ epoch: string; events: DmEvent[]; complete: boolean; head: number }>;
  settings: DmLaneSettings;
  log: { error: (obj: object, msg: string) => void };
}

interface Lane {
  /** The last seq this socket was sent; undefined: nothing yet (the next entry starts it). */
  cursor: number | undefined;
  /** The first seq sent since the lane started without a sync (0: the socket holds everything up to `cursor`). */
  start: number;
  /** Entries after `cursor` this socket already has (sent live before a sync from further back): passed over, not sent. */
  skip: { from: number; to: number } | undefined;
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
    // a batch's entries come in seq order: copied and sorted only when they do not
    let ordered = events;
    for (let i = 1; i < events.length; i++) {
      if (events[i]!.seq < events[i - 1]!.seq) {
        ordered = [...events].sort((a, b) => a.seq - b.seq);
        break;
      }
    }
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

  /**
   * Answers a `dm:sync` for this socket: `run` makes the reply from the cursors given to it.
   * While it runs, entries for the socket wait in its lanes. Each conversation is read from
   * after what the socket holds: the client's seq, or the lane's when this socket was already
   * sent everything up to it. When the client is behind what this socket was sent live (it
   * connected, got entries, then asked from further back), those entries are left out of the
   * reply and skipped later, so none arrives twice. `done` is called once the reply is sent
   * (or with nothing if it failed): each conversation then continues after the reply's last
   * entry, and the rest of its log up to the head follows as `dm:events`.
   */
  async sync(socketId: string, given: readonly SyncCursor[], run: (cursors: SyncCursor[]) => Promise<SyncReply>): Promise<{ reply: SyncReply; done: () => void }> {
    const s = this.socket(socketId);
    s.syncing++;
    let finished = false;
    const fail = () => {
      if (finished) return;
      finished = true;
      s.syncing = Math.max(0, s.syncing - 1);
      this.releaseAll(socketId, s);
    };
    try {
      const cursors = new Map<string, SyncCursor>();
      for (const c of given) cursors.set(c.conversationId, c);
      /** Per conversation: entries this socket was sent that lie after the cursor used. */
      const skips = new Map<string, { from: number; to: number; epoch: string }>();
      for (const [conversationId, lane] of s.lanes) {
        if (lane.cursor === undefined || lane.epoch === undefined) continue;
        const c = cursors.get(conversationId);
        if (c && c.epoch !== undefined && c.epoch !== lane.epoch) continue; // the client is in another epoch: it gets a snapshot
        if (!c || c.seq >= lane.start - 1) {
          if (!c || lane.cursor > c.seq) cursors.set(conversationId, { conversationId, seq: lane.cursor, epoch: lane.epoch });
        } else if (lane.cursor >= lane.start) {
          skips.set(conversationId, { from: lane.start, to: lane.cursor, epoch: lane.epoch });
        }
      }
      const reply = await run([...cursors.values()]);
      const lastOf = new Map<string, number | undefined>();
      for (const synced of reply.conversations) {
        const id = synced.conversation.id;
        lastOf.set(id, synced.events.at(-1)?.seq ?? (synced.recovered ? cursors.get(id)?.seq : undefined));
        const skip = skips.get(id);
        if (skip && skip.epoch === synced.conversation.epoch) synced.events = synced.events.filter((e) => e.seq < skip.from || e.seq > skip.to);
      }
      const done = () => {
        if (finished) return;
        finished = true;
        s.syncing = Math.max(0, s.syncing - 1);
        for (const synced of reply.conversations) {
          const { id, epoch, head } = synced.conversation;
          const lane = this.lane(s, id);
          const skip = skips.get(id);
          lane.cursor = lastOf.get(id) ?? head;
          lane.start = 0;
          lane.epoch = epoch;
          lane.skip = skip && skip.epoch === epoch && skip.to > lane.cursor ? { from: skip.from, to: skip.to } : undefined;
          if (lane.cursor < head) {
            // the reply stopped at a page: the rest follows now
            lane.busy = true;
            void this.catchUp(socketId, id, lane, head);
          }
        }
        this.releaseAll(socketId, s);
      };
      return { reply, done };
    } catch (err) {
      fail();
      throw err;
    }
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
      lane = { cursor: undefined, start: 0, skip: undefined, epoch: undefined, busy: s.syncing > 0, queue: [], queueEpoch: undefined, overflowed: false };
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
    if (lane.epoch !== undefined && lane.epoch !== epoch) {
      // a new epoch: old seqs mean nothing
      lane.cursor = undefined;
      lane.skip = undefined;
    }
    lane.epoch = epoch;
    const fresh: DmEvent[] = [];
    for (const [i, e] of events.entries()) {
      if (lane.cursor === undefined) {
        lane.cursor = e.seq - 1;
        lane.start = e.seq;
      }
      if (e.seq <= lane.cursor) continue;
      if (this.passOver(lane, e.seq)) continue;
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
          lane.skip = undefined;
          lane.queue = [];
          lane.overflowed = false;
          this.deps.io.of('/').sockets.get(socketId)?.emit('dm:resync', { conversationId });
          break;
        }
        const read = range.events.filter((e) => e.seq > since);
        const fresh = read.filter((e) => !this.passOver(lane, e.seq));
        if (read.length) lane.cursor = read.at(-1)!.seq;
        this.emit(socketId, conversationId, range.epoch, fresh);
        if (lane.cursor !== undefined && lane.cursor >= target && read.length < this.deps.settings.page && !lane.overflowed) break;
        if (read.length === 0 && !lane.overflowed) break;
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

  /** Whether `seq` (the next after the cursor) is one the socket already has: then the cursor passes over it. */
  private passOver(lane: Lane, seq: number): boolean {
    const { skip } = lane;
    if (!skip || seq < skip.from || seq > skip.to) return false;
    lane.cursor = seq;
    if (seq >= skip.to) lane.skip = undefined;
    return true;
  }

  /** After a sync: every lane not catching up lets its held entries through. */
  private releaseAll(socketId: string, s: SocketLanes): void {
    if (s.syncing > 0) return;
    for (const [conversationId, lane] of s.lanes) if (lane.busy && !this.catchingUp.has(lane)) this.release(socketId, conversationId, lane);
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
