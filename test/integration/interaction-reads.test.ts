/**
 * The behaviour log below transport, on both drivers: `engine.interactions.read` pages
 * through what actors wrote with resumable positions (what gRPC SubscribeInteractions
 * serves), and `engine.interactions.onRecorded` hands accepted watch reports to in-process
 * listeners (what the For You feed learns from). The progress interval runs on the injected
 * clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/domain/clock.ts';
import type { ReportedInteraction } from '../../src/actors/interactions.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import { INTERACTION_ENTRY_MAX } from '../../src/storage/interactions.ts';
import { testEngine } from '../helpers/engine.ts';
import { storeDrivers } from '../helpers/stores.ts';

const LIMITS = { eventLogMax: 100, viewDedupS: 60, interactions: { max: 1000, hold: false, entryEvents: INTERACTION_ENTRY_MAX } };

const drivers = storeDrivers('ixread', LIMITS);

for (const { name: driver, open } of drivers) {
  describe(`engine.interactions (${driver})`, () => {
    it('reads what the actors wrote, resumably, and hands accepted watch reports to listeners', async () => {
      const { store, close: cleanup } = await open();
      const clock = new ManualClock(Date.now());
      const { engine } = testEngine(store, { clock });
      try {
        const owner = await engine.createUser({ handle: `o${Date.now()}`, passwordHash: 'x' });
        const fan = await engine.createUser({ handle: `f${Date.now()}`, passwordHash: 'x' });
        const video = await engine.createVideo(owner.id, { title: 'read me' });
        const heard: ReportedInteraction[] = [];
        const stop = engine.interactions.onRecorded((events) => heard.push(...events));

        await engine.like(video.id, fan.id);
        await engine.follow(fan.id, owner.id);
        const report = { videoId: video.id, watchedMs: 1000, positionMs: 1000, durationMs: 4000, completed: false };
        await engine.interactions.progress({ userId: fan.id }, report);
        await assert.rejects(engine.interactions.progress({ userId: fan.id }, report), (e: unknown) => e instanceof TremoloError && e.code === 'E_RATE_LIMITED');
        clock.advance(2000); // the default PROGRESS_INTERVAL has passed
        await engine.interactions.progress({ userId: fan.id }, { ...report, watchedMs: 4000, positionMs: 4000, completed: true });
        stop();
        await engine.interactions.progress({ sessionId: 'anon-session-1' }, report);
        assert.deepEqual(
          heard.map((e) => e.type === 'watch' && [e.userId, e.watchedMs, e.completed]),
          [
            [fan.id, 1000, false],
            [fan.id, 4000, true],
          ],
        );

        const first = await engine.interactions.read(null, 2);
        assert.equal(first.events.length, 2);
        const rest = await engine.interactions.read(first.position, 100);
        // the store and the engine each have their own id generator here: order by time stamp
        const all = [...first.events, ...rest.events].sort((a, b) => a.at - b.at || a.type.localeCompare(b.type));
        assert.equal(new Set(all.map((e) => e.id)).size, 5, 'no event twice');
        assert.deepEqual(
          all.map((e) => e.type),
          ['follow', 'like', 'watch', 'watch', 'watch'],
        );
        // stamped by the injected clock: three before it moved on, two after
        assert.deepEqual(all.map((e) => clock.now() - e.at), [2000, 2000, 2000, 0, 0]);
        assert.ok(all.every((e) => e.v === 1));
        assert.deepEqual((await engine.interactions.read(rest.position, 100)).events, []);
        await assert.rejects(engine.interactions.read(null, 0), (e: unknown) => e instanceof TremoloError && e.code === 'E_VALIDATION');
        await assert.rejects(engine.interactions.read('garbage', 10), (e: unknown) => e instanceof TremoloError && e.code === 'E_BAD_CURSOR');
      } finally {
        await engine.shutdown(1000);
        await cleanup();
      }
    });
  });
}
