/**
 * WatchVideo: a video's events streamed from its log, exactly once and in offset order.
 *
 * The socket gateway delivers room broadcasts and closes the gap around a watch with holds
 * (live/watch-holds.ts). A gRPC stream belongs to one caller, so it can do simpler and
 * stricter: it never sends what it did not read from the log, and reads the log strictly
 * after the last offset it sent. The log is the one total order per video, appended in the
 * same atomic write as each change, so a stream (or a stream resumed with the last offset it
 * got, on any process, after any restart) yields the next offset on with no gap and no
 * duplicate. Wake-ups only say "read now": a change committed here or announced by another
 * process (Engine.onVideoChanged), and a slow safety poll in case an announcement was lost.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Engine } from '../../actors/engine.ts';
import type { Clock, TimerHandle } from '../../domain/clock.ts';
import { TremoloError } from '../../protocol/errors.ts';
import { eventMessage, snapshotMessage, type VideoUpdate, type WatchVideoRequest } from './messages.ts';

/** Events read from the log per storage call. */
const READ_CHUNK = 256;

export interface VideoFollowersOptions {
  engine: Pick<Engine, 'onVideoChanged'>;
  clock: Clock;
  /** Every followed video is read again this often even without an announcement. */
  pollMs: number;
}

/** Who follows which video's log in this process, woken when it changes. */
export class VideoFollowers {
  private readonly byVideo = new Map<string, Set<() => void>>();
  private readonly stopListening: () => void;
  private readonly poll: TimerHandle;

  constructor(private readonly opts: VideoFollowersOptions) {
    this.stopListening = opts.engine.onVideoChanged((videoId) => this.wake(videoId));
    this.poll = opts.clock.setInterval(() => {
      for (const id of this.byVideo.keys()) this.wake(id);
    }, opts.pollMs);
    this.poll.unref?.();
  }

  /** Calls `wake` whenever the video may have new events; returns what stops it. */
  follow(videoId: string, wake: () => void): () => void {
    let set = this.byVideo.get(videoId);
    if (!set) this.byVideo.set(videoId, (set = new Set()));
    set.add(wake);
    return () => {
      set.delete(wake);
      if (set.size === 0 && this.byVideo.get(videoId) === set) this.byVideo.delete(videoId);
    };
  }

  /** Streams following a log now. */
  get size(): number {
    let n = 0;
    for (const set of this.byVideo.values()) n += set.size;
    return n;
  }

  close(): void {
    this.stopListening();
    this.opts.clock.clearInterval(this.poll);
    this.byVideo.clear();
  }

  private wake(videoId: string): void {
    for (const wake of this.byVideo.get(videoId) ?? []) wake();
  }
}

export interface WatchStreamDeps {
  engine: Pick<Engine, 'watch' | 'videoEvents'>;
  followers: VideoFollowers;
}

/**
 * Serves one WatchVideo call until the caller cancels it, its deadline passes, the video is
 * deleted (NOT_FOUND) or the server stops. Resolves when the stream is done; throws what the
 * stream should end with.
 */
export async function serveWatch(call: ServerWritableStream<WatchVideoRequest, VideoUpdate>, deps: WatchStreamDeps, userId: string | undefined): Promise<void> {
  const { engine, followers } = deps;
  const req = call.request;
  const videoId = req.videoId ?? '';
  const since = req.sinceOffset;
  if (since !== undefined && (!Number.isSafeInteger(since) || since < 0)) {
    throw new TremoloError('E_VALIDATION', 'since_offset must be a non-negative integer', { details: { field: 'since_offset' } });
  }
  if (req.epoch !== undefined && req.epoch.length > 128) {
    throw new TremoloError('E_VALIDATION', 'epoch is at most 128 characters', { details: { field: 'epoch' } });
  }

  let ended = false;
  let pending = true; // read at once, then on each wake
  /** Resolves the wait for a wake-up; `drained` the wait for the caller to take what was written. */
  let waiting: (() => void) | undefined;
  let drained: (() => void) | undefined;
  const rouse = () => {
    pending = true;
    waiting?.();
  };
  const end = () => {
    ended = true;
    waiting?.();
    drained?.();
  };
  call.on('cancelled', end);
  call.on('close', end);
  call.on('error', end);
  // following starts before the first read: a change committed during it wakes us again
  const unfollow = followers.follow(videoId, rouse);

  const send = async (update: VideoUpdate) => {
    if (call.write(update)) return;
    // bounded: nothing more is read until the caller takes what was written
    await new Promise<void>((resolve) => {
      const done = () => {
        call.off('drain', done);
        drained = undefined;
        resolve();
      };
      drained = done;
      call.on('drain', done);
    });
  };
  const sendSnapshot = async (recovered?: boolean) => {
    const { snapshot } = await engine.watch(videoId, userId !== undefined ? { userId } : {});
    await send({ videoId, snapshot: snapshotMessage(snapshot, recovered) });
    return snapshot;
  };

  try {
    let cursor: number;
    let epoch: string;
    if (since === undefined) {
      ({ offset: cursor, epoch } = await sendSnapshot());
    } else {
      const range = await engine.videoEvents(videoId, since, 0);
      if (range.complete && (req.epoch === undefined || req.epoch === '' || req.epoch === range.epoch)) {
        cursor = since;
        epoch = range.epoch;
      } else {
        ({ offset: cursor, epoch } = await sendSnapshot(false));
      }
    }
    while (!ended) {
      if (!pending) {
        await new Promise<void>((resolve) => (waiting = resolve));
        waiting = undefined;
        continue;
      }
      pending = false;
      for (;;) {
        const range = await engine.videoEvents(videoId, cursor, READ_CHUNK);
        if (range.epoch !== epoch || !range.complete) {
          // the log was lost or trimmed past us while we were behind: start over from a snapshot
          ({ offset: cursor, epoch } = await sendSnapshot(false));
          break;
        }
        for (const event of range.events) {
          if (ended) return;
          await send({ videoId, event: eventMessage(event) });
          cursor = event.offset;
        }
        if (range.events.length < READ_CHUNK) break;
      }
    }
  } finally {
    unfollow();
    call.off('cancelled', end);
    call.off('close', end);
    call.off('error', end);
  }
}
