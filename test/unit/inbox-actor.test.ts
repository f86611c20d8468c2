/**
 * The inbox write is off the hot path: writes that notify are acknowledged without waiting
 * for it, notifications queued for one user fold into one storage call (group commit), a
 * failed inbox write loses the entry but never the write, and the live `inbox` event goes
 * out only after the entry is stored.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EngineEvent } from '../../src/actors/events.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import type { InboxItem } from '../../src/storage/social.ts';
import { testEngine } from '../helpers/engine.ts';
import { eventually } from '../helpers/eventually.ts';

function setup() {
  const store = new MemoryStore({ eventLogMax: 100, viewDedupS: 60 });
  const add = store.notifications.add.bind(store.notifications);
  const calls: InboxItem[][] = [];
  let release!: () => void;
  let gate = new Promise<void>((r) => (release = r));
  let fail = false;
  store.notifications.add = async (userId, items, opts) => {
    calls.push(items);
    await gate;
    if (fail) throw new TremoloError('E_STORAGE_UNAVAILABLE');
    return add(userId, items, opts);
  };
  const t = testEngine(store);
  const user = (handle: string) => t.engine.createUser({ handle: `${handle}${Math.floor(Math.random() * 1e9)}`, passwordHash: 'x' });
  const inboxEvents = () => t.sink.events.filter((e): e is Extract<EngineEvent, { type: 'inbox' }> => e.type === 'inbox');
  return {
    ...t,
    store,
    calls,
    user,
    inboxEvents,
    open: () => release(),
    close: () => (gate = new Promise<void>((r) => (release = r))),
    failWrites: (v: boolean) => (fail = v),
  };
}

describe('InboxActor', () => {
  it('acknowledges the writes that notify while the inbox write is held, then folds the queued notifications into few storage calls', async () => {
    const w = setup();
    const owner = await w.user('owner');
    const fans = await Promise.all([1, 2, 3, 4, 5].map((i) => w.user(`fan${i}`)));
    // every follow is acknowledged although the inbox write has not been let through
    const replies = await Promise.all(fans.map((f) => w.engine.follow(f.id, owner.id)));
    assert.ok(replies.every((r) => r.changed));
    assert.equal(w.inboxEvents().length, 0, 'nothing live before the entry is stored');
    w.open();
    await eventually(() => w.inboxEvents().at(-1)?.unread === 1, 'the folded entry is live');
    assert.ok(w.calls.length < fans.length, `group commit: ${w.calls.length} storage calls for ${fans.length} notifications`);
    assert.equal(w.calls.flat().length, fans.length);
    const page = await w.engine.social.inbox(owner.id, { limit: 10 });
    assert.deepEqual(page.items.map((e) => [e.type, e.count]), [['user:followed', 5]]);
    assert.deepEqual(w.errors, []);
  });

  it('a failed inbox write loses the entry, never the write that caused it', async () => {
    const w = setup();
    const owner = await w.user('owner');
    const video = await w.engine.createVideo(owner.id, { title: 'v' });
    const fan = await w.user('fan');
    w.failWrites(true);
    w.open();
    const like = await w.engine.like(video.id, fan.id);
    assert.equal(like.changed, true);
    await eventually(() => w.calls.length === 1, 'the inbox write was tried');
    assert.equal((await w.engine.getVideo(video.id)).value.counters.likes, 1, 'the like is stored');
    assert.equal((await w.engine.social.inbox(owner.id, { limit: 10 })).items.length, 0);
    assert.deepEqual(w.errors, [], 'an outage is not a bug');
    // the next notification lands again
    w.failWrites(false);
    await w.engine.addComment(video.id, fan.id, { text: 'hi' });
    await eventually(async () => (await w.engine.social.unread(owner.id)) === 1, 'the comment entry');
  });
});
