/**
 * VideoActor on the memory store: group commit (one storage write per turn), idempotent
 * likes and comments, per-message errors that leave the rest of the batch alone, the output
 * gate (nothing published before the write resolved) and the read-staleness bound.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordingSink, type EngineEvent } from '../../src/actors/events.ts';
import { ActorSystem } from '../../src/actors/runtime.ts';
import { VIDEO_ACTOR, videoActor, type VideoMsg, type VideoReply, type VideoSnapshot } from '../../src/actors/video-actor.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { TsidGenerator } from '../../src/domain/ids.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import type { Comment, Counters, VideoEvent, VideoRecord } from '../../src/protocol/model.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import type { LogHead, Store, VideoStore } from '../../src/storage/store.ts';

const LIMITS = { eventLogMax: 100, viewDedupS: 60 };
const READ_STALE_MS = 500;
const OWNER = 'OWNER00000000';

type WriteReply = { changed: boolean; counters: Counters; log: LogHead };
type CommentReply = { comment: Comment; duplicate: boolean; counters: Counters; log: LogHead };

/**
 * A VideoActor in an ActorSystem over a memory store whose `videos` records every call by
 * name; `hold()` makes the next `applyOps` wait until released.
 */
function world() {
  // after the TSID epoch (2024): ManualClock's default start predates it
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const memory = new MemoryStore(LIMITS);
  const calls: string[] = [];
  let gate: { wait: Promise<void>; entered: () => void } | undefined;
  const videos = new Proxy(memory.videos, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        calls.push(String(prop));
        if (prop === 'applyOps' && gate) {
          const held = gate;
          gate = undefined;
          held.entered();
          await held.wait;
        }
        return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      };
    },
  }) as VideoStore;
  const store = Object.assign(Object.create(memory) as Store, { videos });
  const sink = new RecordingSink();
  const countersChanged: Counters[] = [];
  const ids = new TsidGenerator({ nodeId: 3, clock });
  const behavior = videoActor({
    store,
    sink,
    clock,
    ids,
    readStaleMs: READ_STALE_MS,
    onCountersChanged: (_video, counters) => countersChanged.push(counters),
  });
  const system = new ActorSystem(clock, { idleMs: 60_000, maxActive: 100, maxBatch: 100, mailboxLimit: 100 });
  system.register(VIDEO_ACTOR, behavior);
  const ask = <R extends VideoReply>(videoId: string, msg: VideoMsg) => system.ask<VideoMsg, VideoReply>(VIDEO_ACTOR, videoId, msg) as Promise<R>;
  const video = async (): Promise<VideoRecord> => {
    const record: VideoRecord = { id: ids.next(), ownerId: OWNER, title: 't', description: '', createdAt: new Date(clock.now()).toISOString(), media: {} };
    await memory.videos.create(record);
    return record;
  };
  /** Holds the next applyOps: `entered` resolves when it is called, `release` lets it run. */
  const hold = () => {
    let release!: () => void;
    let entered!: () => void;
    const called = new Promise<void>((r) => (entered = r));
    gate = { wait: new Promise<void>((r) => (release = r)), entered };
    return { release, entered: called };
  };
  /** Calls of one method made so far. */
  const count = (method: keyof VideoStore) => calls.filter((c) => c === method).length;
  return { clock, memory, sink, countersChanged, behavior, ask, video, hold, count, calls };
}

const videoEvents = (events: EngineEvent[]) => events.filter((e): e is Extract<EngineEvent, { type: 'video' }> => e.type === 'video');
const notifications = (events: EngineEvent[]) =>
  events.filter((e): e is Extract<EngineEvent, { type: 'notification' }> => e.type === 'notification').map((e) => e.notification);
const rejectsWith = (code: string) => (e: unknown) => e instanceof TremoloError && e.code === code;

describe('VideoActor', () => {
  it('group commit: a batch of likes, unlikes, comments, views and a read is ONE applyOps, every reply with the committed counters', async () => {
    const w = world();
    const v = await w.video();
    // sent together to a fresh activation: they queue behind its load and form one batch
    const replies = Promise.all([
      w.ask<WriteReply>(v.id, { type: 'like', userId: 'U1' }),
      w.ask<WriteReply>(v.id, { type: 'like', userId: 'U2' }),
      w.ask<WriteReply>(v.id, { type: 'unlike', userId: 'U1' }),
      w.ask<CommentReply>(v.id, { type: 'comment', authorId: 'U3', text: 'first!', idempotencyKey: 'k1' }),
      w.ask(v.id, { type: 'view', viewerId: 'U4' }),
      w.ask<VideoSnapshot>(v.id, { type: 'read' }),
    ]);
    const [like1, like2, unlike1, comment, view, read] = await replies;
    assert.deepEqual(w.calls, ['get', 'applyOps'], 'one load, then one write for the whole batch');

    const committed: Counters = { likes: 1, comments: 1, views: 1, version: 5 };
    assert.deepEqual([like1.changed, like2.changed, unlike1.changed], [true, true, true]);
    assert.deepEqual(view, { counted: true, counters: committed, log: like1.log });
    assert.equal(comment.duplicate, false);
    assert.deepEqual(
      { ...comment.comment, id: undefined },
      { id: undefined, videoId: v.id, authorId: 'U3', text: 'first!', createdAt: new Date(w.clock.now()).toISOString() },
    );
    assert.match(comment.comment.id, new RegExp(`^${v.id}-[0-9A-Z]{13}$`));
    for (const r of [like1, like2, unlike1, comment]) assert.deepEqual(r.counters, committed);
    // a read in a writing batch answers with the state after the write
    assert.deepEqual(read.counters, committed);
    assert.equal(read.video.id, v.id);
    assert.equal(read.log.offset, 2, 'comment:added then counters');
    assert.deepEqual((await w.memory.videos.get(v.id))!.counters, committed);
    assert.deepEqual(w.countersChanged, [committed], 'told once per committed turn');
  });

  it('likes are idempotent: liking twice counts once, in one batch or across turns, and a no-op turn publishes nothing', async () => {
    const w = world();
    const v = await w.video();
    const [a, b] = await Promise.all([
      w.ask<WriteReply>(v.id, { type: 'like', userId: 'U1' }),
      w.ask<WriteReply>(v.id, { type: 'like', userId: 'U1' }),
    ]);
    assert.deepEqual([a.changed, b.changed], [true, false]);
    assert.deepEqual(b.counters, { likes: 1, comments: 0, views: 0, version: 1 });
    const published = w.sink.events.length;

    const again = await w.ask<WriteReply>(v.id, { type: 'like', userId: 'U1' });
    assert.equal(again.changed, false);
    assert.deepEqual(again.counters, { likes: 1, comments: 0, views: 0, version: 1 }, 'version moves only with a change');
    assert.equal(w.sink.events.length, published, 'nothing changed: no event, no notification');
    assert.equal(w.countersChanged.length, 1);

    const gone = await w.ask<WriteReply>(v.id, { type: 'unlike', userId: 'U1' });
    const goneAgain = await w.ask<WriteReply>(v.id, { type: 'unlike', userId: 'U1' });
    assert.deepEqual([gone.changed, goneAgain.changed], [true, false]);
    assert.deepEqual(goneAgain.counters, { likes: 0, comments: 0, views: 0, version: 2 });
  });

  it('comments are idempotent per author and key: a retry answers with the original comment, another author\u2019s same key is a new comment', async () => {
    const w = world();
    const v = await w.video();
    const [first, retry] = await Promise.all([
      w.ask<CommentReply>(v.id, { type: 'comment', authorId: 'U1', text: 'hello', idempotencyKey: 'k' }),
      w.ask<CommentReply>(v.id, { type: 'comment', authorId: 'U1', text: 'hello', idempotencyKey: 'k' }),
    ]);
    assert.equal(first.duplicate, false);
    assert.equal(retry.duplicate, true);
    assert.deepEqual(retry.comment, first.comment);

    w.clock.advance(10_000);
    const late = await w.ask<CommentReply>(v.id, { type: 'comment', authorId: 'U1', text: 'hello (edited retry)', idempotencyKey: 'k' });
    assert.equal(late.duplicate, true);
    assert.deepEqual(late.comment, first.comment, 'the stored original, not the retry\u2019s text or time');

    const other = await w.ask<CommentReply>(v.id, { type: 'comment', authorId: 'U2', text: 'me too', idempotencyKey: 'k' });
    assert.equal(other.duplicate, false);
    assert.notEqual(other.comment.id, first.comment.id);
    assert.equal(other.counters.comments, 2);
    const added = videoEvents(w.sink.events).flatMap((e) => e.events.filter((x) => x.type === 'comment:added'));
    assert.deepEqual(
      added.map((e) => (e as Extract<VideoEvent, { type: 'comment:added' }>).comment.id),
      [first.comment.id, other.comment.id],
      'one comment:added per stored comment',
    );
  });

  it('a failing message gets its own error; the rest of its batch commits and the actor keeps its state', async () => {
    const w = world();
    const v = await w.video();
    const elsewhere = await w.video();
    const foreign = await w.ask<CommentReply>(elsewhere.id, { type: 'comment', authorId: 'U1', text: 'on the other video', idempotencyKey: 'f' });
    const own = await w.ask<CommentReply>(v.id, { type: 'comment', authorId: 'U1', text: 'mine', idempotencyKey: 'o' });
    const loads = w.count('get');

    const settled = await Promise.allSettled([
      w.ask<WriteReply>(v.id, { type: 'like', userId: 'U2' }),
      w.ask<CommentReply>(v.id, { type: 'comment', authorId: 'U2', text: 'reply', replyTo: foreign.comment.id, idempotencyKey: 'r1' }),
      w.ask<CommentReply>(v.id, { type: 'comment', authorId: 'U2', text: 'real reply', replyTo: own.comment.id, idempotencyKey: 'r2' }),
      w.ask(v.id, { type: 'deleteComment', commentId: own.comment.id, userId: 'U9' }),
      w.ask(v.id, { type: 'deleteComment', commentId: `${v.id}-0000000000000`, userId: 'U1' }),
      w.ask<WriteReply>(v.id, { type: 'like', userId: 'U3' }),
    ]);
    assert.deepEqual(
      settled.map((s) => (s.status === 'fulfilled' ? 'ok' : (s.reason as TremoloError).code)),
      ['ok', 'E_REPLY_TARGET', 'ok', 'E_FORBIDDEN', 'E_COMMENT_NOT_FOUND', 'ok'],
    );
    const last = (settled[5] as PromiseFulfilledResult<WriteReply>).value;
    assert.deepEqual(last.counters, { likes: 2, comments: 2, views: 0, version: 4 });
    const reply = (settled[2] as PromiseFulfilledResult<CommentReply>).value;
    assert.equal(reply.comment.replyTo, own.comment.id);
    assert.equal(w.count('get'), loads, 'per-message errors do not fail the turn: no reload');
    assert.deepEqual((await w.memory.videos.comments(v.id, 'oldest', { limit: 10 })).items.map((c) => c.id), [own.comment.id, reply.comment.id]);

    // the owner may delete anyone's comment; the author their own
    const byOwner = await w.ask<{ deleted: boolean; counters: Counters; log: LogHead }>(v.id, { type: 'deleteComment', commentId: reply.comment.id, userId: OWNER });
    assert.equal(byOwner.deleted, true);
    assert.equal(byOwner.counters.comments, 1);
  });

  it('publishes only after the write resolved: offsets in order, comment events chained by prev, notifications to the owner', async () => {
    const w = world();
    const v = await w.video();
    const held = w.hold();
    const replies = Promise.all([
      w.ask<CommentReply>(v.id, { type: 'comment', authorId: 'U1', text: 'one', idempotencyKey: 'a' }),
      w.ask<WriteReply>(v.id, { type: 'like', userId: 'U1' }),
      w.ask<WriteReply>(v.id, { type: 'like', userId: OWNER }),
      w.ask<CommentReply>(v.id, { type: 'comment', authorId: OWNER, text: 'two', idempotencyKey: 'b' }),
      w.ask<WriteReply>(v.id, { type: 'like', userId: 'U2' }),
    ]);
    let answered = false;
    void replies.then(() => (answered = true));
    await held.entered;
    assert.equal(w.count('applyOps'), 1, 'the write is in flight');
    assert.equal(w.sink.events.length, 0, 'nothing published while the write is in flight');
    assert.equal(answered, false, 'nothing acknowledged while the write is in flight');
    held.release();
    const [c1, , , c2] = await replies;

    const first = videoEvents(w.sink.events);
    assert.equal(first.length, 1, 'one video event per turn');
    const log = (await w.memory.videos.get(v.id))!.log;
    assert.equal(first[0]!.epoch, log.epoch);
    assert.deepEqual(
      first[0]!.events.map((e) => [e.type, e.offset, 'prev' in e ? e.prev : null]),
      [
        ['comment:added', 1, 0],
        ['comment:added', 2, 1],
        ['counters', 3, null],
      ],
    );
    assert.deepEqual(notifications(w.sink.events), [
      { type: 'video:commented', videoId: v.id, commentId: c1.comment.id, authorId: 'U1', text: 'one' },
      { type: 'video:liked', videoId: v.id, likerIds: ['U1', 'U2'], likes: 3 },
    ]);
    assert.ok(!notifications(w.sink.events).some((n) => n.type === 'video:commented' && n.commentId === c2.comment.id), 'not told of their own comment');

    // the next turn continues the offsets and the prev chain
    w.sink.events.length = 0;
    await w.ask<CommentReply>(v.id, { type: 'comment', authorId: 'U3', text: 'three', idempotencyKey: 'c' });
    assert.deepEqual(
      videoEvents(w.sink.events).flatMap((e) => e.events.map((x) => [x.type, x.offset, 'prev' in x ? x.prev : null])),
      [
        ['comment:added', 4, 2],
        ['counters', 5, null],
      ],
    );
  });

  it('afterCommit is where a turn publishes: the turn itself publishes nothing', async () => {
    const w = world();
    const v = await w.video();
    const state = await w.behavior.activate(v.id);
    const outcome = await w.behavior.turn(state, [{ type: 'like', userId: 'U1' }], v.id);
    assert.equal(w.sink.events.length, 0);
    assert.equal(w.countersChanged.length, 0);
    assert.ok(outcome.afterCommit);
    outcome.afterCommit();
    assert.deepEqual(
      w.sink.events.map((e) => e.type),
      ['video', 'notification'],
    );
    assert.equal(w.countersChanged.length, 1);
  });

  it('reads serve the activation\u2019s state for at most readStaleMs, then reload from storage', async () => {
    const w = world();
    const v = await w.video();
    const read = () => w.ask<VideoSnapshot>(v.id, { type: 'read' });
    assert.equal((await read()).counters.likes, 0);
    assert.equal(w.count('get'), 1);

    // another process likes the video: this activation does not see it yet
    await w.memory.videos.applyOps(v.id, [{ type: 'like', userId: 'ELSEWHERE' }], { now: w.clock.now() });
    w.clock.advance(READ_STALE_MS);
    assert.equal((await read()).counters.likes, 0, 'exactly readStaleMs old: still served from memory');
    assert.equal(w.count('get'), 1);
    w.clock.advance(1);
    const fresh = await read();
    assert.equal(fresh.counters.likes, 1, 'older than readStaleMs: reloaded');
    assert.equal(fresh.log.offset, 1);
    assert.equal(w.count('get'), 2);

    // a write brings the state up to date as well, restarting the bound
    w.clock.advance(READ_STALE_MS - 1);
    await w.ask<WriteReply>(v.id, { type: 'like', userId: 'U1' });
    await w.memory.videos.applyOps(v.id, [{ type: 'view' }], { now: w.clock.now() });
    w.clock.advance(READ_STALE_MS);
    assert.deepEqual((await read()).counters, { likes: 2, comments: 0, views: 0, version: 2 });
    assert.equal(w.count('get'), 2);
    w.clock.advance(1);
    assert.deepEqual((await read()).counters, { likes: 2, comments: 0, views: 1, version: 3 });
    assert.equal(w.count('get'), 3);
  });

  it('a video that is gone: activation and writes fail with E_VIDEO_NOT_FOUND', async () => {
    const w = world();
    await assert.rejects(w.ask(`${'0'.repeat(13)}`, { type: 'read' }), rejectsWith('E_VIDEO_NOT_FOUND'));
    const v = await w.video();
    const state = await w.behavior.activate(v.id);
    await w.memory.videos.delete(v.id);
    await assert.rejects(w.behavior.turn(state, [{ type: 'like', userId: 'U1' }], v.id), rejectsWith('E_VIDEO_NOT_FOUND'));
    assert.equal(w.sink.events.length, 0);
  });
});
