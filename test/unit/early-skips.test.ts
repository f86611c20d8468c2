/**
 * Skips derived from watch reports (actors/early-skips.ts), on a ManualClock: a short,
 * unfinished report becomes one `skip` when no later report follows within the window and the
 * viewer neither liked nor finished the video; a later report cancels it; pending checks are
 * bounded. Then through the Engine on the memory store, for a user and an anonymous session.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EarlySkips, type SkipCheckOutcome } from '../../src/actors/early-skips.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import { testEngine, testRecommendationOptions } from '../helpers/engine.ts';
import { eventually } from '../helpers/eventually.ts';

function detector(opts: { skipMs?: number; windowMs?: number; pendingMax?: number; engaged?: Set<string> } = {}) {
  const clock = new ManualClock();
  const skips: string[] = [];
  const outcomes: SkipCheckOutcome[] = [];
  const errors: unknown[] = [];
  const skipsOf = new EarlySkips({
    clock,
    options: { skipMs: opts.skipMs ?? 3000, windowMs: opts.windowMs ?? 4000, pendingMax: opts.pendingMax ?? 100 },
    engaged: async (subject, videoId) => opts.engaged?.has(`${subject}|${videoId}`) ?? false,
    skip: async (subject, videoId) => {
      skips.push(`${subject}|${videoId}`);
    },
    onError: (err) => errors.push(err),
    onOutcome: (o) => outcomes.push(o),
  });
  /** Advances the clock and waits for the checks it fired to decide. */
  const advance = async (ms: number): Promise<void> => {
    const before = outcomes.length + skipsOf.size;
    clock.advance(ms);
    // each check that fired ends with exactly one outcome
    await eventually(() => outcomes.length + skipsOf.size >= before, 'fired checks decided');
  };
  return { clock, skips, outcomes, errors, skipsOf, advance };
}

const short = (videoId: string, watchedMs = 1200) => ({ videoId, watchedMs, completed: false });

describe('EarlySkips', () => {
  it('records one skip when no later report follows within the window', async () => {
    const d = detector();
    d.skipsOf.observe('u1', short('v1'));
    await d.advance(3999);
    assert.deepEqual(d.skips, [], 'not before the window ends');
    await d.advance(1);
    assert.deepEqual(d.skips, ['u1|v1']);
    await d.advance(60_000);
    assert.deepEqual(d.skips, ['u1|v1'], 'once');
    assert.deepEqual(d.outcomes, ['recorded']);
    assert.equal(d.skipsOf.size, 0);
  });

  it('a later report within the window cancels the check; a later short one starts a new one', async () => {
    const d = detector();
    d.skipsOf.observe('u1', short('v1'));
    await d.advance(2000);
    d.skipsOf.observe('u1', { videoId: 'v1', watchedMs: 4000, completed: false }); // still playing
    await d.advance(10_000);
    assert.deepEqual(d.skips, []);

    d.skipsOf.observe('u1', short('v2', 500));
    await d.advance(2000);
    d.skipsOf.observe('u1', short('v2', 2500)); // played on, then the viewer swiped away
    await d.advance(3000);
    assert.deepEqual(d.skips, [], 'the window runs from the latest report');
    await d.advance(1000);
    assert.deepEqual(d.skips, ['u1|v2']);
    assert.deepEqual(d.outcomes, ['cancelled', 'cancelled', 'recorded']);
  });

  it('is not a skip when finished, long enough, liked or finished elsewhere, or turned off', async () => {
    const d = detector({ engaged: new Set(['u1|v3']) });
    d.skipsOf.observe('u1', { videoId: 'v1', watchedMs: 800, completed: true }); // a 0.8 s clip played to the end
    d.skipsOf.observe('u1', { videoId: 'v2', watchedMs: 3000, completed: false });
    d.skipsOf.observe('u1', short('v3')); // liked: engaged() says so when the check decides
    d.skipsOf.observe('u1', short('v4'));
    d.skipsOf.cancel('u1', 'v4'); // liked in this process
    d.skipsOf.observe('u2', short('v1')); // another viewer of v1 is its own check
    await d.advance(4000);
    assert.deepEqual(d.skips, ['u2|v1']);
    assert.deepEqual([...d.outcomes].sort(), ['engaged', 'engaged', 'recorded']);

    const off = detector({ skipMs: 0 });
    off.skipsOf.observe('u1', short('v1', 0));
    assert.equal(off.skipsOf.size, 0);
    assert.equal(off.clock.pendingTimers, 0);
  });

  it('keeps at most pendingMax checks, dropping the oldest', async () => {
    const d = detector({ pendingMax: 2 });
    d.skipsOf.observe('u1', short('v1'));
    d.clock.advance(10);
    d.skipsOf.observe('u1', short('v2'));
    d.clock.advance(10);
    d.skipsOf.observe('u1', short('v3'));
    assert.equal(d.skipsOf.size, 2);
    assert.deepEqual(d.outcomes, ['dropped']);
    await d.advance(4000);
    assert.deepEqual(d.skips, ['u1|v2', 'u1|v3']);
    assert.equal(d.clock.pendingTimers, 0, 'the dropped check left no timer behind');
  });

  it('close() drops pending checks', async () => {
    const d = detector();
    d.skipsOf.observe('u1', short('v1'));
    await d.skipsOf.close();
    d.clock.advance(10_000);
    assert.equal(d.skipsOf.size, 0);
    assert.deepEqual(d.skips, []);
  });

  it('reports a failing skip write to onError', async () => {
    const clock = new ManualClock();
    const errors: unknown[] = [];
    const s = new EarlySkips({
      clock,
      options: { skipMs: 3000, windowMs: 100, pendingMax: 10 },
      engaged: async () => false,
      skip: async () => {
        throw new Error('storage down');
      },
      onError: (err) => errors.push(err),
    });
    s.observe('u1', short('v1'));
    clock.advance(100);
    await eventually(() => errors.length === 1, 'the failure reported');
  });
});

describe('derived skips through the Engine (memory store)', () => {
  it('a short watch report lowers the video\'s tag and author for a user and an anonymous session; a like prevents it', async () => {
    const clock = new ManualClock(1_800_000_000_000);
    const store = new MemoryStore({ eventLogMax: 100, viewDedupS: 60 });
    const { engine, errors } = testEngine(store, { clock });
    const author = await engine.createUser({ handle: 'skipauthor', passwordHash: 'x' });
    const viewer = await engine.createUser({ handle: 'skipviewer', passwordHash: 'x' });
    const cats = await engine.createVideo(author.id, { title: 'cats' });
    await engine.setTagging(cats.id, { tags: ['cats'] });
    const dogs = await engine.createVideo(author.id, { title: 'dogs' });
    await engine.setTagging(dogs.id, { tags: ['dogs'] });
    const session = { sessionId: 'skip-session-000000001' };
    const report = (videoId: string) => ({ videoId, watchedMs: 1500, positionMs: 1500, durationMs: 15_000, completed: false });

    await engine.interactions.progress({ userId: viewer.id }, report(cats.id));
    await engine.interactions.progress(session, report(cats.id));
    await engine.interactions.progress({ userId: viewer.id }, report(dogs.id));
    await engine.like(dogs.id, viewer.id);
    await engine.recommendations.learned(viewer.id); // a like is learned behind its ack
    const before = await store.recommendations.interests(viewer.id, clock.now(), testLimits());

    clock.advance(3999); // 2 x the default PROGRESS_INTERVAL (2 s), less 1 ms
    assert.equal((await store.recommendations.interests(viewer.id, clock.now(), testLimits())).get('tag:cats'), undefined);
    clock.advance(1);
    await eventually(async () => ((await store.recommendations.interests(viewer.id, clock.now(), testLimits())).get('tag:cats') ?? 0) < 0, 'the user skipped cats');
    await eventually(async () => ((await store.recommendations.interests('~s:skip-session-000000001', clock.now(), testLimits())).get('tag:cats') ?? 0) < 0, 'the session skipped cats');
    const weights = await store.recommendations.interests(viewer.id, clock.now(), testLimits());
    assert.ok(weights.get(`author:${author.id}`)! < before.get(`author:${author.id}`)!, 'the author went down too');
    // only decay moved it (a skip would take 0.4 off)
    assert.ok(Math.abs(weights.get('tag:dogs')! - before.get('tag:dogs')!) < 0.001, 'a liked video is no skip');
    assert.deepEqual(errors, []);
    await engine.shutdown(1000);
  });
});

const testLimits = () => testRecommendationOptions().limits;
