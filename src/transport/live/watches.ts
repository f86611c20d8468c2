/**
 * `video:watch` and `video:unwatch`: a socket's place in a video's room, the snapshot (or the
 * events it missed) in the ack, and exactly-once delivery across the two (watch-holds.ts).
 * The socket's rooms and its pending watches are the record of what it watches: there is no
 * per-socket set of our own.
 */
import type { Engine } from '../../actors/engine.ts';
import { TremoloError } from '../../protocol/errors.ts';
import { isVideoRoom, videoRoom, type LiveVideoEvent, type WatchReply, type WatchRequest } from '../../protocol/live.ts';
import { anonymousViewerKey } from '../client-address.ts';
import type { IoSocket } from './io.ts';
import type { WatchHolds } from './watch-holds.ts';

export interface WatchDeps {
  engine: Pick<Engine, 'watch' | 'view'>;
  holds: WatchHolds;
  /** Videos one socket may watch at once. */
  maxWatches: number;
}

/** Videos a connection remembers having counted a view of. */
const MAX_VIEWED_PER_SOCKET = 256;

export class Watches {
  constructor(private readonly deps: WatchDeps) {}

  /**
   * Answers a watch. The socket is out of the room until the ack is written; `afterAck` gets
   * what puts it back in, with what the room was sent meanwhile.
   */
  async watch(socket: IoSocket, req: WatchRequest, userId: string | undefined, afterAck: (then: () => void) => void): Promise<WatchReply> {
    const { engine, holds } = this.deps;
    const { videoId } = req;
    // null is absent (clients may send it)
    const sinceOffset = req.sinceOffset ?? undefined;
    const epoch = req.epoch ?? undefined;
    const room = videoRoom(videoId);
    const watching = socket.rooms.has(room);
    // checked and held in one synchronous step, so concurrent watches cannot overshoot
    if (!watching && watchedCount(socket) + holds.pendingFor(socket.id) >= this.deps.maxWatches) {
      throw new TremoloError('E_TOO_MANY_WATCHES');
    }
    // Out of the room until the ack is written; what the room gets meanwhile is held
    // (leave and hold in one synchronous step, so nothing falls between them).
    const left = watching ? socket.leave(room) : undefined;
    const hold = holds.begin(socket.id, videoId);
    let reply: WatchReply;
    let acked: number;
    try {
      await left;
      const watch = await engine.watch(videoId, {
        ...(userId !== undefined ? { userId } : {}),
        ...(sinceOffset !== undefined ? { sinceOffset } : {}),
        ...(epoch !== undefined ? { epoch } : {}),
      });
      if (sinceOffset === undefined) this.countView(socket, videoId, userId);
      const events = watch.events?.map((e): LiveVideoEvent => ({ ...e, videoId }));
      // What the ack covers: the events it carries, or else the snapshot. The snapshot is read
      // after the events, so its head may be newer than the last of them; what lies between
      // reaches the socket through the hold or the room, as anything newer than the ack does.
      acked = events ? Math.max(sinceOffset ?? 0, ...events.map((e) => e.offset)) : watch.snapshot.offset;
      reply = {
        videoId,
        snapshot: watch.snapshot,
        ...(events ? { events } : {}),
        ...(watch.recovered !== undefined ? { recovered: watch.recovered } : {}),
      };
    } catch (err) {
      holds.end(hold);
      throw err;
    }
    afterAck(() => {
      // Another watch of this video by the same socket got in first: the room has
      // already sent this socket whatever was held here.
      const joined = socket.rooms.has(room);
      const held = holds.end(hold, acked);
      if (!socket.connected || joined) return;
      void socket.join(room);
      holds.joined(videoId, socket.id, acked);
      if (held.added.length) socket.emit('comment:added', held.added);
      if (held.deleted.length) socket.emit('comment:deleted', held.deleted);
      if (held.counters) socket.emit('video:counters', held.counters);
    });
    return reply;
  }

  async unwatch(socket: IoSocket, { videoId }: { videoId: string }): Promise<{ videoId: string }> {
    this.deps.holds.unwatched(videoId, socket.id);
    await socket.leave(videoRoom(videoId));
    return { videoId };
  }

  /**
   * A watch counts a view, once per connection and video (re-watching is free); the store
   * then counts a viewer once per VIEW_DEDUP_S: a signed-in viewer by user, an anonymous one
   * by its address, so new connections from one address do not add views either.
   */
  private countView(socket: IoSocket, videoId: string, userId: string | undefined): void {
    const viewed = (socket.data.viewed ??= new Set());
    if (viewed.has(videoId)) return;
    // bounded: a connection that watched this many videos falls back on the store's dedup alone
    if (viewed.size >= MAX_VIEWED_PER_SOCKET) viewed.delete(viewed.values().next().value as string);
    viewed.add(videoId);
    const viewer = userId !== undefined ? { userId } : { anonymousKey: anonymousViewerKey(socket.data.address) };
    this.deps.engine.view(videoId, viewer).catch(() => {}); // a view is best effort
  }
}

function watchedCount(socket: IoSocket): number {
  let n = 0;
  for (const room of socket.rooms) if (isVideoRoom(room)) n++;
  return n;
}
