/**
 * Skips derived from watch progress over a real socket: two anonymous For You sessions finish
 * the same cat and dog videos; one of them then reports two dog videos of one author watched
 * for a second and never reports them again. Once the window (2 x PROGRESS_INTERVAL on the
 * server's clock) has passed, that session's next page ranks dogs and that author lower than
 * the other session's. Also: a signed-in socket's short report followed by a longer one is no skip.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LiveClient } from '../../src/client/live-client.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import type { Tremolo } from '../../src/main.ts';
import type { ForYouVideo, Page } from '../../src/protocol/model.ts';
import { testRecommendationOptions } from '../helpers/engine.ts';
import { sample } from '../helpers/metrics.ts';
import { eventually, liveClient, newUser, startServer } from '../helpers/server.ts';

/** The store's bounds as the defaults set them (what the server runs with here). */
const LIMITS = testRecommendationOptions().limits;
const TAGS = ['cats', 'dogs', 'cars'] as const;
const skipChecks = (server: Tremolo, outcome: string) => sample(server.metrics.registry, 'tremolo_foryou_skip_checks_total', { outcome });

describe('For You skips derived from video:progress', () => {
  let server: Tremolo;
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
  /** Video id -> its tag and author index. */
  const videos = new Map<string, { tag: (typeof TAGS)[number]; author: number }>();
  const byTag = (tag: string, author?: number) => [...videos].filter(([, v]) => v.tag === tag && (author === undefined || v.author === author)).map(([id]) => id);
  let authorIds: string[];

  before(async () => {
    server = await startServer({ LIVE_ALLOW_ANONYMOUS: 'true', FORYOU_EXPLORE_SHARE: '0' }, { clock });
    const authors = await Promise.all(Array.from({ length: 4 }, () => newUser(server, 'skipauthor')));
    authorIds = authors.map((a) => a.id);
    for (let i = 0; i < 36; i++) {
      const author = i % 4;
      const v = await authors[author]!.http.createVideo({ title: `clip ${i}` });
      const tag = TAGS[i % 3]!;
      await server.engine.setTagging(v.id, { tags: [tag] });
      videos.set(v.id, { tag, author });
    }
    await server.engine.flushHotScores();
  });
  after(async () => {
    await server.close();
  });

  const watched = (videoId: string, ms: number, durationMs = 15_000) => ({ videoId, watchedMs: ms, positionMs: ms, durationMs, completed: ms >= durationMs });

  it('two unanswered short reports lower the tag and the author in the next page; a control session is unchanged', async () => {
    const skipper = await liveClient(server);
    const control = await liveClient(server);
    const sessions = { skipper: 'skipper-session-00000001', control: 'control-session-00000001' };
    try {
      const cat = byTag('cats')[0]!;
      const dog = byTag('dogs')[0]!;
      // author 1 posts dogs (i % 4 == 1 and i % 3 == 1: i = 1, 13, 25)
      const [dogOfB1, dogOfB2] = byTag('dogs', 1).filter((id) => id !== dog) as [string, string];
      for (const [client, session] of [
        [skipper, sessions.skipper],
        [control, sessions.control],
      ] as const) {
        await client.progress({ ...watched(cat, 15_000), session });
        await client.progress({ ...watched(dog, 15_000), session });
      }
      const recordedBefore = await skipChecks(server, 'recorded');
      await skipper.progress({ ...watched(dogOfB1, 900), session: sessions.skipper });
      await skipper.progress({ ...watched(dogOfB2, 1200), session: sessions.skipper });
      // the finishes are learned asynchronously (onRecorded): wait until both sessions have them
      for (const s of Object.values(sessions)) {
        await eventually(async () => (await server.store.recommendations.interests(`~s:${s}`, clock.now(), LIMITS)).has('tag:cats'), `${s} learned its finishes`);
      }

      clock.advance(2 * server.config.progressIntervalMs);
      await eventually(async () => (await skipChecks(server, 'recorded')) === recordedBefore + 2, 'two skips recorded');

      const mine = (await skipper.forYou({ limit: 10, session: sessions.skipper })) as Page<ForYouVideo>;
      const theirs = (await control.forYou({ limit: 10, session: sessions.control })) as Page<ForYouVideo>;
      const count = (page: Page<ForYouVideo>, pred: (v: { tag: string; author: number }) => boolean) => page.items.filter((v) => pred(videos.get(v.id)!)).length;
      const show = (page: Page<ForYouVideo>) => page.items.map((v) => `${videos.get(v.id)!.tag}/${videos.get(v.id)!.author}/${v.reason}`).join(' ');
      assert.ok(theirs.items.some((v) => v.reason === 'interest:dogs'), `control: ${show(theirs)}`);
      assert.ok(!mine.items.some((v) => v.reason === 'interest:dogs'), `skipper: ${show(mine)}`);
      assert.ok(mine.items.some((v) => v.reason === 'interest:cats'), `skipper still likes cats: ${show(mine)}`);
      assert.ok(count(mine, (v) => v.tag === 'dogs') < count(theirs, (v) => v.tag === 'dogs'), `dogs: ${show(mine)} vs ${show(theirs)}`);
      assert.ok(
        count(mine, (v) => v.author === 1) <= count(theirs, (v) => v.author === 1),
        `author 1: ${show(mine)} vs ${show(theirs)}`,
      );
      const weights = await server.store.recommendations.interests(`~s:${sessions.skipper}`, clock.now(), LIMITS);
      assert.ok((weights.get(`author:${authorIds[1]}`) ?? 0) < 0, `the skipped author's weight: ${weights.get(`author:${authorIds[1]}`)}`);
    } finally {
      skipper.close();
      control.close();
    }
  });

  it('a signed-in viewer whose video keeps playing does not skip it', async () => {
    const reader = await newUser(server, 'skipreader');
    let client: LiveClient | undefined;
    try {
      client = await liveClient(server, { token: reader.token });
      const cancelledBefore = await skipChecks(server, 'cancelled');
      const recordedBefore = await skipChecks(server, 'recorded');
      const cat = byTag('cats')[1]!;
      await client.progress(watched(cat, 1000));
      clock.advance(server.config.progressIntervalMs);
      await client.progress(watched(cat, 3000)); // the next report: still playing
      clock.advance(4 * server.config.progressIntervalMs);
      assert.equal(await skipChecks(server, 'cancelled'), cancelledBefore + 1);
      assert.equal(await skipChecks(server, 'recorded'), recordedBefore);
      const weights = await server.store.recommendations.interests(reader.id, clock.now(), LIMITS);
      assert.ok(!((weights.get('tag:cats') ?? 0) < 0), 'no skip of cats');
    } finally {
      client?.close();
    }
  });
});
