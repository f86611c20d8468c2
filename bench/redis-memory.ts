/**
 * Redis memory per like and per comment, for sizing (docs/production.md).
 *
 *   npm run bench -- redis-memory [--users 1000] [--videos 200] [--likes-per-user 10] [--comments 5000]
 *
 * Writes through the Engine on the real Redis store (REDIS_URL, a random key prefix, removed
 * afterwards), so every key a like or a comment touches is counted: the like set and the user's
 * liked set, counters, the per-video event log (capped at EVENT_LOG_MAX), the behaviour-log
 * stream (kept until exported, at most EXPORT_MAX_LAG per slot), hot scores and the For You state
 * the like teaches. Memory is `MEMORY USAGE key SAMPLES 0` summed over the prefix's keys, by key
 * family, before and after each phase.
 *
 * The JSON line: value = MB per million likes, baseline = MB per million comments.
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.ts';
import { TsidGenerator } from '../src/domain/ids.ts';
import { RedisStore } from '../src/storage/redis/redis-store.ts';
import { dropPrefix, randomPrefix, REDIS_URL } from '../test/helpers/redis.ts';
import { benchEngine, inWindow } from './helpers/engine.ts';
import { report } from './report.ts';

const { values: argv } = parseArgs({
  options: {
    users: { type: 'string', default: '1000' },
    videos: { type: 'string', default: '200' },
    'likes-per-user': { type: 'string', default: '10' },
    comments: { type: 'string', default: '5000' },
  },
});
const USERS = Number(argv.users);
const VIDEOS = Number(argv.videos);
const LIKES_PER_USER = Number(argv['likes-per-user']);
const COMMENTS = Number(argv.comments);

/** Bytes under `prefix` by key family (ids replaced by `*`). */
async function usage(redis: Redis, prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    const pipeline = redis.pipeline();
    for (const k of keys) pipeline.call('MEMORY', 'USAGE', k, 'SAMPLES', '0');
    const replies = (await pipeline.exec()) ?? [];
    keys.forEach((k, i) => {
      const family = k.slice(prefix.length).replace(/[0-9A-Z]{13}/g, '*').replace(/~s:[^:}]+/g, '~s:*').replace(/^ix:\{[^}]+\}/, 'ix:{*}').replace(/:likers:\d+$/, ':likers:<n>');
      out.set(family, (out.get(family) ?? 0) + Number(replies[i]?.[1] ?? 0));
    });
  } while (cursor !== '0');
  return out;
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

function growth(before: Map<string, number>, after: Map<string, number>): [string, number][] {
  return [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as [string, number]).filter(([, d]) => d !== 0).sort((a, b) => b[1] - a[1]);
}

async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
  const prefix = randomPrefix('bench-memory');
  const limits = { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS };
  const store = await RedisStore.connect({ url: REDIS_URL, prefix, limits, timeoutMs: 5000 });
  const admin = new Redis(REDIS_URL);
  const engine = benchEngine(store, config, new TsidGenerator({ nodeId: 5 }));
  try {
    const users: string[] = [];
    await inWindow(USERS, 16, async (i) => {
      users[i] = (await engine.createUser({ handle: `mem${i}x${prefix.slice(-6)}`, passwordHash: 'x' })).id;
    });
    const videos: string[] = [];
    await inWindow(VIDEOS, 16, async (i) => {
      const v = await engine.createVideo(users[i % USERS]!, { title: `video ${i}` });
      await engine.setTagging(v.id, { tags: [`topic${i % 20}`, `topic${(i * 7) % 20}`] });
      videos[i] = v.id;
    });
    await engine.flushHotScores();
    const base = await usage(admin, prefix);

    const likes = USERS * LIKES_PER_USER;
    await inWindow(likes, 32, (i) => engine.like(videos[(Math.floor(i / USERS) * 37 + i) % VIDEOS]!, users[i % USERS]!));
    await engine.flushHotScores();
    const afterLikes = await usage(admin, prefix);

    await inWindow(COMMENTS, 32, (i) => engine.addComment(videos[i % VIDEOS]!, users[(i * 13) % USERS]!, { text: `comment number ${i}, about this video` }));
    const afterComments = await usage(admin, prefix);

    const perLike = (total(afterLikes) - total(base)) / likes;
    const perComment = (total(afterComments) - total(afterLikes)) / COMMENTS;
    const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
    console.log(`${USERS} users, ${VIDEOS} videos; ${likes} likes, ${COMMENTS} comments (comments of ~40 characters); EVENT_LOG_MAX ${config.eventLogMax}, EXPORT_MAX_LAG ${config.exportMaxLag}`);
    console.log(`\nper like: ${perLike.toFixed(0)} bytes (${mb(perLike * 1e6)} MB per million); by key family:`);
    for (const [family, d] of growth(base, afterLikes).slice(0, 12)) console.log(`  ${family.padEnd(40)} ${(d / likes).toFixed(1).padStart(8)} B/like`);
    console.log(`\nper comment: ${perComment.toFixed(0)} bytes (${mb(perComment * 1e6)} MB per million); by key family:`);
    for (const [family, d] of growth(afterLikes, afterComments).slice(0, 12)) console.log(`  ${family.padEnd(40)} ${(d / COMMENTS).toFixed(1).padStart(8)} B/comment`);
    report('redis-memory', 'MB of Redis per million likes (baseline: per million comments)', (perLike * 1e6) / 1e6, (perComment * 1e6) / 1e6);
  } finally {
    await engine.shutdown(5000);
    await store.close();
    await dropPrefix(admin, prefix);
    await admin.quit();
  }
}

await main();
process.exit(0);
