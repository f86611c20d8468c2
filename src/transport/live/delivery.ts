/**
 * Engine events to sockets. A process that commits a change hands its video events to every
 * other process (`serverSideEmit` through the cluster adapter); each process then delivers to
 * its OWN sockets (`io.local`): comments batched per tick, counters coalesced with an interval
 * sized for its own rooms and budget, big rooms in slices. User-room events (notifications,
 * feed, jobs) are plain room broadcasts that the adapter carries. What a watch being answered
 * must not miss or see twice is kept in `holds` (watch-holds.ts).
 */
import type { EngineEvent, EventSink } from '../../actors/events.ts';
import type { Clock } from '../../domain/clock.ts';
import type { Metrics } from '../../metrics.ts';
import {
  isVideoRoom,
  userRoom,
  videoRoom,
  type CommentAdded,
  type CommentCounterPayload,
  type CommentDeleted,
  type CounterPayload,
  type LiveVideoEvent,
} from '../../protocol/live.ts';
import { noopTracing, type Tracing } from '../../telemetry/tracing.ts';
import { CounterCoalescer, type Coalesced } from './counter-coalescer.ts';
import type { IoServer } from './io.ts';
import { RoomWriter, type RoomEvent, type RoomPayload } from './room-writer.ts';
import { WatchHolds } from './watch-holds.ts';

export interface DeliverySettings {
  counterIntervalMs: number;
  deliveryBudget: number;
  /** Slice size of the rolling delivery of counter updates to big rooms; 0: the whole room at once. Default 1000. */
  broadcastSlice?: number;
  /** false: one counter event per committed write, no coalescing (the naive design, for benchmarks). Default true. */
  coalesceCounters?: boolean;
}

export interface DeliveryDeps {
  io: IoServer;
  clock: Clock;
  settings: DeliverySettings;
  metrics?: Metrics;
  /**
   * With other processes: whether their channel takes a message now. Absent: this process is
   * alone and keeps its events to itself.
   */
  canReachPeers?: () => boolean;
  /**
   * Video events carry the write's `traceparent` to other processes, whose delivery joins that
   * trace; a counter emission's span links to every write it coalesced. Default: off.
   */
  tracing?: Tracing;
}

export class LiveDelivery implements EventSink {
  /** What watches being answered are owed, and what each room has been sent. */
  readonly holds = new WatchHolds();
  private readonly coalescer: CounterCoalescer;
  /** Comment like counts, coalesced per comment on the same budget rules as video counters. */
  private readonly commentCounters: CounterCoalescer<CommentCounterPayload>;
  private readonly pendingComments = new Map<string, { added: CommentAdded[]; deleted: CommentDeleted[] }>();
  private flushScheduled = false;
  private readonly tracing: Tracing;
  /** Room events of this process's own sockets, encoded once per room, written straight to each socket. */
  private readonly writer: RoomWriter;

  constructor(private readonly deps: DeliveryDeps) {
    const { io, settings } = deps;
    this.tracing = deps.tracing ?? noopTracing;
    this.writer = new RoomWriter(io);
    this.coalescer = new CounterCoalescer({
      clock: deps.clock,
      baseIntervalMs: settings.counterIntervalMs,
      budgetPerSec: settings.deliveryBudget,
      roomSize: (videoId) => io.of('/').adapter.rooms.get(videoRoom(videoId))?.size ?? 0,
      emit: (payload, coalesced) => this.deliverCounters(payload, coalesced),
    });
    io.on('video:events', ({ videoId, events, traceparent, tracestate }) => {
      if (!this.tracing.enabled) return this.deliverVideoEvents(videoId, events);
      const span = this.tracing.start('video:events receive', {
        kind: 'consumer',
        parent: this.tracing.extract(traceparent, tracestate) ?? 'root',
        attributes: { 'messaging.system': 'socket.io', 'messaging.operation.type': 'receive', 'messaging.batch.message_count': events.length, 'tremolo.video.id': videoId },
      });
      try {
        this.tracing.run(span.context, () => this.deliverVideoEvents(videoId, events));
      } finally {
        span.end();
      }
    });
    this.commentCounters = new CounterCoalescer<CommentCounterPayload>({
      clock: deps.clock,
      baseIntervalMs: settings.counterIntervalMs,
      budgetPerSec: settings.deliveryBudget,
      roomSize: (videoId) => io.of('/').adapter.rooms.get(videoRoom(videoId))?.size ?? 0,
      keyOf: (p) => `${p.videoId}/${p.commentId}`,
      rank: (p) => p.offset,
      emit: (payload) => {
        this.toRoom(payload.videoId, 'comment:counters', payload);
        this.count('comment:counters');
      },
    });
    io.of('/').adapter.on('delete-room', (room: string) => {
      if (isVideoRoom(room)) this.holds.roomClosed(room.slice(videoRoom('').length));
    });
  }

  publish(event: EngineEvent): void {
    const { io } = this.deps;
    switch (event.type) {
      case 'video': {
        const events = event.events.map((e): LiveVideoEvent => ({ ...e, videoId: event.videoId }));
        // The Redis adapter does not handle a failed PUBLISH: only hand events over while the
        // channel is up. Peers that miss some recover them from the log (the `prev` chain).
        if (this.deps.canReachPeers?.()) {
          const traceparent = this.tracing.inject();
          const tracestate = traceparent && this.tracing.tracestate();
          io.serverSideEmit('video:events', traceparent ? { videoId: event.videoId, events, traceparent, ...(tracestate ? { tracestate } : {}) } : { videoId: event.videoId, events });
        }
        this.deliverVideoEvents(event.videoId, events);
        return;
      }
      case 'video:deleted':
        io.to(videoRoom(event.videoId)).emit('video:deleted', { videoId: event.videoId });
        return;
      case 'notification':
        this.toUser(event.userId, (room) => room.emit('user:notification', event.notification));
        this.count('user:notification');
        return;
      case 'inbox':
        this.toUser(event.userId, (room) => {
          for (const entry of event.entries) room.emit('notification', entry);
          room.emit('unread', { count: event.unread });
        });
        this.count('notification', event.entries.length);
        return;
      case 'inbox:unread':
        this.toUser(event.userId, (room) => room.emit('unread', { count: event.unread }));
        this.count('unread');
        return;
      case 'content:hidden':
        if (event.commentId === undefined) io.to(videoRoom(event.videoId)).emit('video:hidden', { videoId: event.videoId });
        else io.to(videoRoom(event.videoId)).emit('comment:hidden', { videoId: event.videoId, commentId: event.commentId });
        this.count('content:hidden');
        return;
      case 'feed:new':
        io.to(event.userIds.map(userRoom)).emit('feed:new', { videoId: event.videoId, authorId: event.authorId });
        this.count('feed:new');
        return;
      case 'job:progress': {
        const { type: _t, userId, ...payload } = event;
        this.toUser(userId, (room) => room.emit('job:progress', payload));
        this.count('job:progress');
        return;
      }
    }
  }

  /** Sends the comments still batched and stops the counter timers (shutdown). */
  close(): void {
    this.flushComments();
    this.coalescer.close();
    this.commentCounters.close();
  }

  private deliverVideoEvents(videoId: string, events: LiveVideoEvent[]): void {
    for (const e of events) {
      if (e.type === 'counters') {
        const payload = { videoId, ...e.counters, offset: e.offset };
        this.holds.counters(payload);
        if (this.deps.settings.coalesceCounters === false) {
          this.toRoom(videoId, 'video:counters', payload, this.aheadOf(videoId, payload.offset));
          this.count('video:counters');
        } else {
          const trace = this.tracing.current();
          this.coalescer.offer(payload, trace, trace !== undefined && this.tracing.sampled(trace));
        }
      } else if (e.type === 'comment:counters') {
        const { type: _t, ...payload } = e;
        this.commentCounters.offer(payload);
      } else if (e.type === 'comment:pinned') {
        const { type: _t, ...payload } = e;
        this.toRoom(videoId, 'comment:pinned', payload);
        this.count('comment:pinned');
      } else {
        let pending = this.pendingComments.get(videoId);
        if (!pending) this.pendingComments.set(videoId, (pending = { added: [], deleted: [] }));
        if (e.type === 'comment:added') pending.added.push(e);
        else pending.deleted.push(e);
      }
    }
    if (this.pendingComments.size && !this.flushScheduled) {
      this.flushScheduled = true;
      // the end of this turn of the event loop, not a time: every event committed in it goes out together
      setImmediate(() => this.flushComments());
    }
  }

  /** Comments go out each one, but batched per tick: one message per room per tick. */
  private flushComments(): void {
    const { io } = this.deps;
    this.flushScheduled = false;
    for (const [videoId, { added, deleted }] of this.pendingComments) {
      const fresh = this.holds.freshIn(videoId);
      const skip = fresh ? new Set(fresh.keys()) : undefined;
      if (added.length) this.toRoom(videoId, 'comment:added', added, skip);
      if (deleted.length) this.toRoom(videoId, 'comment:deleted', deleted, skip);
      // sockets that joined with an ack newer than some of these get only what is above it
      for (const [id, acked] of fresh ?? []) {
        const socket = io.of('/').sockets.get(id);
        const newAdded = added.filter((e) => e.offset > acked);
        const newDeleted = deleted.filter((e) => e.offset > acked);
        if (newAdded.length) socket?.emit('comment:added', newAdded);
        if (newDeleted.length) socket?.emit('comment:deleted', newDeleted);
      }
      this.holds.comments(videoId, added, deleted);
      this.holds.passed(videoId, Math.max(...added.map((e) => e.offset), ...deleted.map((e) => e.offset)));
      this.count('comment', added.length + deleted.length);
    }
    this.pendingComments.clear();
  }

  /**
   * A counter update to the local sockets of a room. A big room is delivered rolling: its
   * sockets in slices of `broadcastSlice`, the slices spread evenly over the room's interval,
   * each carrying the newest counters at the moment it goes out. Every socket still gets one
   * update per interval (the budget holds), but no socket waits behind the rest of the room,
   * and the event loop never spends more than one slice at a time: one broadcast to 10,000
   * sockets is 10,000 socket writes, ~100 ms here in which every like's ack would wait.
   */
  private deliverCounters(payload: CounterPayload, coalesced: Coalesced): void {
    const { io } = this.deps;
    const { videoId } = payload;
    const room = videoRoom(videoId);
    const members = io.of('/').adapter.rooms.get(room);
    if (!members) return;
    this.count('video:counters');
    if (this.tracing.enabled) {
      // the writes this one update stands for are its links; its parent the first sampled of them
      // (as a turn's is), else the first write, whose decision it follows (parent-based)
      const span = this.tracing.start('video:counters deliver', {
        kind: 'producer',
        parent: coalesced.links[0] ?? coalesced.first ?? 'root',
        links: coalesced.links,
        attributes: {
          'messaging.system': 'socket.io',
          'messaging.operation.type': 'send',
          'tremolo.video.id': videoId,
          'tremolo.room.size': members.size,
          'tremolo.coalesced.writes': coalesced.count,
          'tremolo.coalesce.interval_ms': Math.round(this.coalescer.intervalFor(videoId)),
        },
      });
      try {
        this.tracing.run(span.context, () => this.emitCounters(payload, members));
      } finally {
        span.end();
      }
    } else this.emitCounters(payload, members);
  }

  /** The emission itself: the room at once, or in slices over its interval. */
  private emitCounters(payload: CounterPayload, members: ReadonlySet<string>): void {
    const { videoId } = payload;
    const slice = this.deps.settings.broadcastSlice ?? 1000;
    if (slice === 0 || members.size <= slice) {
      this.writer.write(this.writer.encode('video:counters', payload), members, this.aheadOf(videoId, payload.offset));
      return;
    }
    const ids = [...members];
    const slices = Math.ceil(ids.length / slice);
    const step = this.coalescer.intervalFor(videoId) / slices;
    for (let k = 0; k < slices; k++) {
      const part = ids.slice(k * slice, (k + 1) * slice);
      // one encoding per slice, of the newest counters when the slice goes out
      const send = () => {
        const latest = this.coalescer.latest(videoId) ?? payload;
        this.writer.write(this.writer.encode('video:counters', latest), part, this.aheadOf(videoId, latest.offset));
      };
      if (k === 0) send();
      else this.deps.clock.setTimeout(send, k * step).unref?.();
    }
  }

  /**
   * Emits to a user's room (every process) when that can reach anyone: with other processes
   * always (the room may have members there), alone only when the room has members here. A
   * like notifies the video's owner, who is mostly not connected: without this check each such
   * broadcast was encoded (and its WebSocket frame built) for nobody, on every like.
   */
  private toUser(userId: string, emit: (room: ReturnType<IoServer['to']>) => void): void {
    const room = userRoom(userId);
    if (this.deps.canReachPeers !== undefined || (this.deps.io.of('/').adapter.rooms.get(room)?.size ?? 0) > 0) emit(this.deps.io.to(room));
  }

  /** One event to this process's sockets in a video's room (but `except`), encoded once. */
  private toRoom<E extends RoomEvent>(videoId: string, event: E, payload: RoomPayload<E>, except?: ReadonlySet<string>): void {
    const members = this.deps.io.of('/').adapter.rooms.get(videoRoom(videoId));
    if (members?.size) this.writer.write(this.writer.encode(event, payload), members, except);
  }

  /** Sockets that joined with an ack newer than `offset`: counters this old would step them back. */
  private aheadOf(videoId: string, offset: number): Set<string> | undefined {
    return this.holds.joinedAtOrAbove(videoId, offset);
  }

  private count(event: string, n = 1): void {
    this.deps.metrics?.liveEvents.inc({ event }, n);
  }
}
