/**
 * The watch-progress interval holds across processes: two `tremolo serve` processes on one
 * Redis share the progress windows (rl:progress:<viewer>|<video>), so a client that spreads
 * its reports over both servers, by socket or REST, is still held to one per interval.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HttpClient } from '../../src/client/http-client.ts';
import type { LiveClient } from '../../src/client/live-client.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { liveClient, newUser } from '../helpers/server.ts';

const codeOf = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (e: { code?: string }) => e.code,
  );

describe('progress rate limit across processes (Redis)', () => {
  const prefix = randomPrefix('progress');
  let a: ServerProcess;
  let b: ServerProcess;
  const clients: LiveClient[] = [];
  const env = (nodeId: number) => ({ STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, NODE_ID: String(nodeId), PROGRESS_INTERVAL: '1h', STORAGE_TIMEOUT: '10s' });

  before(async () => {
    [a, b] = await Promise.all([spawnServer(env(51)), spawnServer(env(52))]);
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all([a?.stop(), b?.stop()]);
    const redis = await connectRedis();
    await dropPrefix(redis, prefix);
    await redis.quit();
  });

  it('a report accepted by one server makes the other refuse the same viewer and video until the interval is over', async () => {
    const owner = await newUser(a, 'pown');
    const viewer = await newUser(a, 'pvw');
    const other = await newUser(b, 'pot');
    const [v1, v2] = await Promise.all([owner.http.createVideo({ title: 'p1' }), owner.http.createVideo({ title: 'p2' })]);
    const report = (videoId: string) => ({ videoId, watchedMs: 1000, positionMs: 1000, durationMs: 5000, completed: false });
    const onA = await liveClient(a, { token: viewer.token });
    const onB = await liveClient(b, { token: viewer.token });
    const otherOnB = await liveClient(b, { token: other.token });
    clients.push(onA, onB, otherOnB);

    assert.equal(await codeOf(onA.progress(report(v1.id))), undefined, 'the first report is accepted');
    assert.equal(await codeOf(onB.progress(report(v1.id))), 'E_RATE_LIMITED', 'the other server knows it');
    const viaRest = new HttpClient(b.url, { token: viewer.token });
    assert.equal(await codeOf(viaRest.reportEvents({ events: [{ type: 'watch', ...report(v1.id) }] })), 'E_RATE_LIMITED', 'REST on the other server too');
    assert.equal(await codeOf(onB.progress(report(v2.id))), undefined, 'another video has its own window');
    assert.equal(await codeOf(otherOnB.progress(report(v1.id))), undefined, 'another viewer has their own window');
    assert.equal(await codeOf(onA.progress(report(v2.id))), 'E_RATE_LIMITED', 'and back on the first server');
  });
});
