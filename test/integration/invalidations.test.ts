/**
 * Invalidations between processes over real Redis pub/sub: a change is named once as a typed
 * value, dropped here, and heard as the same value by the other process; messages that are
 * not a change are ignored.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Invalidations, changeKey, parseChange, type Change, type ChangeSource } from '../../src/actors/invalidations.ts';
import { RedisInvalidationBus } from '../../src/storage/cache/invalidation.ts';
import { eventually } from '../helpers/eventually.ts';
import { connectRedis, randomPrefix } from '../helpers/redis.ts';

const CHANGES: Change[] = [
  { kind: 'video', videoId: '0ABCDEFGHJKMN' },
  { kind: 'user', userId: '0ABCDEFGHJKMP' },
  { kind: 'inboxes', userIds: ['0ABCDEFGHJKMQ', '0ABCDEFGHJKMR'] },
];

describe('change keys', () => {
  it('read back every change they write, and nothing else', () => {
    for (const change of CHANGES) assert.deepEqual(parseChange(changeKey(change)), change);
    for (const junk of ['', 'video', 'video:', ':0ABCDEFGHJKMN', 'videos:0ABCDEFGHJKMN', 'feeds:', 'feeds:,,']) {
      assert.equal(parseChange(junk), undefined, junk);
    }
  });
});

describe('Invalidations over Redis', () => {
  const connections: Redis[] = [];
  const channel = `${randomPrefix('invalidate')}invalidate`;
  const connect = async () => {
    const c = await connectRedis();
    connections.push(c);
    return c;
  };
  let raw: Redis;
  before(async () => {
    raw = await connect();
  });
  after(() => connections.forEach((c) => c.disconnect()));

  /** One process's Invalidations, recording what it was told to drop. */
  const node = async (name: string) => {
    const [pub, sub] = [await connect(), await connect()];
    const dropped: [Change, ChangeSource][] = [];
    const bus = new RedisInvalidationBus(pub, sub, channel, name, (err) => assert.fail(String(err)));
    await sub.ping(); // the SUBSCRIBE went before it: the bus listens from here on
    return { dropped, invalidations: new Invalidations(bus, (change, source) => dropped.push([change, source])) };
  };

  it('drops a change here at once and in the other process when it hears of it; junk is ignored', async () => {
    const a = await node('a');
    const b = await node('b');
    for (const junk of ['x|video:0ABCDEFGHJKMN', 'x|nonsense', 'x|feeds:', 'no separator']) await raw.publish(channel, junk);
    a.invalidations.changed(CHANGES[0]!, 'actor');
    a.invalidations.changed(CHANGES[1]!);
    a.invalidations.changed(CHANGES[2]!);
    const remote = ([, source]: [Change, ChangeSource]) => source === 'remote';
    assert.deepEqual(a.dropped.filter((d) => !remote(d)), [
      [CHANGES[0], 'actor'],
      [CHANGES[1], 'here'],
      [CHANGES[2], 'here'],
    ]);
    await eventually(() => b.dropped.length >= 4, 'b to hear three changes after the junk');
    assert.deepEqual(b.dropped, [
      // `x|video:...` is a change from a process named x; the rest of the junk is no change
      [CHANGES[0], 'remote'],
      ...CHANGES.map((c) => [c, 'remote']),
    ]);
    await eventually(() => a.dropped.length >= 4, 'a to hear x');
    assert.deepEqual(a.dropped.filter(remote), [[CHANGES[0], 'remote']], 'a heard x, not its own changes again');
    await a.invalidations.close();
    await b.invalidations.close();
  });
});
