/**
 * The compact likers layout of the Redis driver (issue 21, lua/includes/likers.lua): user ids
 * as integers in intset buckets that split as a video grows, every like read and write intact
 * across splits, on one Redis and on a Cluster; and videos written before it (one set of
 * 13-character ids) read, written and migrated.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Cluster, type Redis } from 'ioredis';
import { decodeTsid, encodeTsid, TsidGenerator } from '../../src/domain/ids.ts';
import { likerMember } from '../../src/storage/redis/likers.ts';
import { RedisKeys } from '../../src/storage/redis/keys.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import type { VideoOp } from '../../src/storage/store.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL, startRedisCluster, type PrivateCluster } from '../helpers/redis.ts';
import { videoRecord } from '../helpers/stores.ts';

const LIMITS = { eventLogMax: 50, viewDedupS: 60 };
const SECRET = randomBytes(32).toString('hex');
const ids = new TsidGenerator({ nodeId: 11 });
const now = Date.now();


async function newVideo(store: RedisStore): Promise<string> {
  const owner = ids.next();
  await store.users.create({ id: owner, handle: `o${owner.toLowerCase()}`, displayName: 'o', bio: '', createdAt: new Date(now).toISOString(), passwordHash: 'x' });
  const video = videoRecord(ids, owner, now);
  await store.videos.create(video);
  return video.id;
}

/** Applies likes or unlikes of `users` in calls of 500 (as a busy actor's turns would); the changed flags. */
async function apply(store: RedisStore, videoId: string, type: 'like' | 'unlike', users: readonly string[]): Promise<boolean[]> {
  const changed: boolean[] = [];
  for (let i = 0; i < users.length; i += 500) {
    const ops: VideoOp[] = users.slice(i, i + 500).map((userId) => ({ type, userId }));
    const r = await store.videos.applyOps(videoId, ops, { now });
    for (const x of r.results) changed.push(x.ok && (x.type === 'like' || x.type === 'unlike') && x.changed);
  }
  return changed;
}

/** Every key of one video, with its type and encoding. */
async function videoKeys(redis: Redis, keys: RedisKeys, videoId: string): Promise<{ key: string; encoding: string }[]> {
  const out: { key: string; encoding: string }[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${keys.prefix}v:\\{${videoId}\\}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of found) out.push({ key, encoding: String(await redis.object('ENCODING', key)) });
  } while (cursor !== '0');
  return out;
}

/** Writes likers the way versions before the buckets did: one set of ids, no `likes` in meta. */
async function makeLegacy(redis: Redis, keys: RedisKeys, videoId: string, users: readonly string[]): Promise<void> {
  const k = keys.video(videoId);
  await redis.hdel(k.meta, 'bucketLikes', 'likerBuckets');
  await redis.del(`${k.likers}:0`);
  await redis.sadd(k.likers, ...users);
}

describe('Redis likers layout', () => {
  let redis: Redis;
  let store: RedisStore;
  let keys: RedisKeys;
  const prefix = randomPrefix('likers');
  before(async () => {
    redis = await connectRedis();
    store = new RedisStore({ redis, prefix, limits: LIMITS });
    keys = new RedisKeys(prefix);
  });
  after(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
  });

  it('stores a TSID as its integer and anything else as text that no integer can equal', () => {
    const id = ids.next();
    assert.equal(likerMember(id), decodeTsid(id).toString());
    assert.equal(likerMember('0000000000000'), '0');
    assert.equal(likerMember('42'), 's:42');
    assert.notEqual(likerMember(encodeTsid(42n)), likerMember('42'));
    // 65 bits of base32: above 2^63 it is not a TSID, and not an int64 either
    assert.equal(likerMember('ZZZZZZZZZZZZZ'), 's:ZZZZZZZZZZZZZ');
  });

  it('keeps 2,500 likers in intset buckets, with every like, unlike, count and check intact', async () => {
    const video = await newVideo(store);
    const users = Array.from({ length: 2500 }, () => ids.next());
    assert.ok((await apply(store, video, 'like', users)).every(Boolean), 'each first like changes');
    assert.ok((await apply(store, video, 'like', users.slice(0, 700))).every((c) => !c), 'a second like changes nothing');
    assert.equal((await store.videos.get(video))?.counters.likes, 2500);

    const k = keys.video(video);
    const buckets = Number(await redis.hget(k.meta, 'likerBuckets'));
    assert.ok(buckets >= 2500 / 256 && buckets <= 2500 / 128, `${buckets} buckets for 2,500 likers`);
    let members = 0;
    for (let b = 0; b < buckets; b++) {
      assert.equal(String(await redis.object('ENCODING', `${k.likers}:${b}`)), 'intset', `bucket ${b}`);
      const size = await redis.scard(`${k.likers}:${b}`);
      assert.ok(size > 0 && size < 512, `bucket ${b} holds ${size}`);
      members += size;
    }
    assert.equal(members, 2500, 'each liker once');

    const strangers = Array.from({ length: 50 }, () => ids.next());
    assert.deepEqual(await store.videos.likedBy(video, [...users, ...strangers]), [...users.map(() => true), ...strangers.map(() => false)]);
    assert.deepEqual(await store.videos.likedByUser(users[1234]!, [video, await newVideo(store)]), [true, false]);

    const gone = users.filter((_, i) => i % 3 === 0);
    assert.ok((await apply(store, video, 'unlike', gone)).every(Boolean));
    assert.ok((await apply(store, video, 'unlike', gone.slice(0, 100))).every((c) => !c), 'a second unlike changes nothing');
    const left = users.length - gone.length;
    assert.equal((await store.videos.get(video))?.counters.likes, left);
    assert.deepEqual(await store.videos.likedBy(video, users), users.map((_, i) => i % 3 !== 0));

    assert.equal(await store.videos.delete(video), true);
    assert.deepEqual(await videoKeys(redis, keys, video), [], 'no key of the video is left');
  });

  it('keeps ids that are not TSIDs apart from the integers', async () => {
    const video = await newVideo(store);
    const r = await apply(store, video, 'like', ['alice', '42', 'alice']);
    assert.deepEqual(r, [true, true, false]);
    assert.deepEqual(await store.videos.likedBy(video, ['alice', '42', encodeTsid(42n), 's:alice']), [true, true, false, false]);
    assert.deepEqual(await apply(store, video, 'unlike', ['alice']), [true]);
    assert.equal((await store.videos.get(video))?.counters.likes, 1);
  });

  it('creating a video again over an old one starts it with no likers', async () => {
    const record = videoRecord(ids, ids.next(), now);
    await store.videos.create(record);
    const users = Array.from({ length: 600 }, () => ids.next());
    await apply(store, record.id, 'like', users);
    await store.videos.create(record);
    assert.equal((await store.videos.get(record.id))?.counters.likes, 0);
    assert.deepEqual(await store.videos.likedBy(record.id, users.slice(0, 3)), [false, false, false]);
    assert.deepEqual(
      (await videoKeys(redis, keys, record.id)).filter((k) => k.key.includes(':likers')),
      [],
      'the old buckets are gone',
    );
  });

  it('reads and writes likers stored before the buckets, and migrates them without changing a count', async () => {
    const video = await newVideo(store);
    const old = Array.from({ length: 700 }, () => ids.next());
    await makeLegacy(redis, keys, video, old);
    assert.equal((await store.videos.get(video))?.counters.likes, 700);
    assert.deepEqual(await store.videos.likedBy(video, old.slice(0, 3)), [true, true, true]);

    const fresh = ids.next();
    assert.deepEqual(await apply(store, video, 'like', [old[0]!, fresh]), [false, true], 'an old liker liking again changes nothing');
    assert.deepEqual(await apply(store, video, 'unlike', [old[1]!, old[1]!]), [true, false]);
    assert.equal((await store.videos.get(video))?.counters.likes, 700);

    const moved = await store.migrateLikers();
    assert.deepEqual(moved, { videos: 1, likers: 699 });
    const k = keys.video(video);
    assert.equal(await redis.exists(k.likers), 0, 'the old set is gone');
    assert.equal((await store.videos.get(video))?.counters.likes, 700);
    const likers = [...old.filter((_, i) => i !== 1), fresh];
    assert.ok((await store.videos.likedBy(video, likers)).every(Boolean));
    assert.deepEqual(await store.videos.likedBy(video, [old[1]!]), [false]);
    for (const { key, encoding } of await videoKeys(redis, keys, video)) {
      if (key.includes(':likers:')) assert.equal(encoding, 'intset', key);
    }
    assert.deepEqual(await store.migrateLikers(), { videos: 0, likers: 0 }, 'running it again finds nothing');
  });

  it('counts what an older process adds to the old set during a rolling upgrade, and heals a liker in both', async () => {
    const video = await newVideo(store);
    const [a, b] = [ids.next(), ids.next()];
    await apply(store, video, 'like', [a]);
    // an older process (SADD to the one set it knows) takes b's like, and a's like again
    await redis.sadd(keys.video(video).likers, a, b);
    assert.equal((await store.videos.get(video))?.counters.likes, 3, 'a in both is counted twice until migrated');
    assert.deepEqual(await store.videos.likedBy(video, [a, b]), [true, true]);
    assert.deepEqual(await store.migrateLikers(), { videos: 1, likers: 2 });
    assert.equal((await store.videos.get(video))?.counters.likes, 2);
    await redis.sadd(keys.video(video).likers, a);
    assert.deepEqual(await apply(store, video, 'unlike', [a]), [true], 'an unlike takes them out of both');
    assert.deepEqual(await store.videos.likedBy(video, [a, b]), [false, true]);
    assert.equal((await store.videos.get(video))?.counters.likes, 1);
  });

  it('`tremolo migrate-likers` moves them with the server settings', async () => {
    const cliPrefix = randomPrefix('likers-cli');
    const cliStore = new RedisStore({ redis, prefix: cliPrefix, limits: LIMITS });
    const cliKeys = new RedisKeys(cliPrefix);
    try {
      const video = await newVideo(cliStore);
      const old = [ids.next(), ids.next()];
      await makeLegacy(redis, cliKeys, video, old);
      const run = (env: Record<string, string>) =>
        promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'migrate-likers'], {
          // the settings a server of this deployment has (STORAGE=redis requires the shared secrets)
          env: { ...process.env, REDIS_URL, REDIS_PREFIX: cliPrefix, LOG_LEVEL: 'silent', JWT_SECRET: SECRET, MEDIA_SECRET: SECRET, ...env },
        });
      const { stdout } = await run({ STORAGE: 'redis' });
      assert.match(stdout, /moved 2 likers of 1 videos/);
      assert.equal(await redis.exists(cliKeys.video(video).likers), 0);
      assert.deepEqual(await cliStore.videos.likedBy(video, old), [true, true]);
      await assert.rejects(run({ STORAGE: 'memory' }), (e: { code?: number }) => e.code === 2);
    } finally {
      await dropPrefix(redis, cliPrefix);
    }
  });

  it('deletes the old likers set with its video', async () => {
    const video = await newVideo(store);
    await makeLegacy(redis, keys, video, [ids.next(), ids.next()]);
    await apply(store, video, 'like', [ids.next()]);
    assert.equal((await store.videos.get(video))?.counters.likes, 3);
    assert.equal(await store.videos.delete(video), true);
    assert.deepEqual(await videoKeys(redis, keys, video), []);
  });
});

describe('Redis likers layout on a Cluster', () => {
  let cluster: PrivateCluster;
  let client: Cluster;
  let store: RedisStore;
  before(async () => {
    cluster = await startRedisCluster();
    client = new Cluster(cluster.nodes.map((n) => ({ host: n.split(':')[0]!, port: Number(n.split(':')[1]) })));
    store = new RedisStore({ redis: client, prefix: 'tremolo:', limits: LIMITS });
  });
  after(async () => {
    await client.quit();
    await cluster.stop();
  });

  it('splits buckets, checks and migrates likers inside the video slot', async () => {
    const keys = new RedisKeys('tremolo:');
    const videos = [await newVideo(store), await newVideo(store)];
    const users = Array.from({ length: 900 }, () => ids.next());
    for (const v of videos) await apply(store, v, 'like', users);
    const legacy = await newVideo(store);
    const old = [ids.next(), ids.next(), ids.next()];
    const k = keys.video(legacy);
    await client.hdel(k.meta, 'bucketLikes', 'likerBuckets');
    await client.sadd(k.likers, ...old);

    for (const v of videos) {
      assert.equal((await store.videos.get(v))?.counters.likes, 900);
      assert.ok(Number(await client.hget(keys.video(v).meta, 'likerBuckets')) > 1, 'the buckets split');
      assert.ok((await store.videos.likedBy(v, users)).every(Boolean));
    }
    assert.deepEqual(await store.videos.likedByUser(users[5]!, [...videos, legacy]), [true, true, false]);
    assert.deepEqual(await store.videos.likedByUser(old[0]!, [...videos, legacy]), [false, false, true]);
    assert.deepEqual(await store.migrateLikers(), { videos: 1, likers: 3 });
    assert.equal((await store.videos.get(legacy))?.counters.likes, 3);
    assert.deepEqual(await store.videos.likedBy(legacy, old), [true, true, true]);
    assert.equal(await store.videos.delete(videos[0]!), true);
    assert.equal(await client.exists(`${keys.video(videos[0]!).likers}:0`), 0);
  });
});
