/**
 * A post's fan-out continues the post's trace: the durable fan-out entry keeps the request's
 * `traceparent` (both drivers), and each claim of it, in whichever process and after a
 * takeover too, is a `feed.fanout` span under it with its storage calls as children. A real
 * server in this process with spans exported to a real OTLP receiver here, and a real Redis.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Tremolo } from '../../src/main.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import { createOtelTracing } from '../../src/telemetry/otel.ts';
import type { Tracing } from '../../src/telemetry/tracing.ts';
import { clientTraceparent, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';

describe('fan-out tracing', () => {
  let receiver: OtlpReceiver;
  let tracing: Tracing;
  let server: Tremolo;

  before(async () => {
    receiver = await startOtlpReceiver();
    tracing = createOtelTracing({ serviceName: 'fanout-tracing', serviceVersion: 'test', defaultRatio: 0, rules: [], exporterUrl: receiver.url, env: {} });
    server = await startServer({}, { tracing });
  });
  after(async () => {
    await server.close();
    await tracing.shutdown();
    await receiver.close();
    assert.deepEqual(receiver.rejected, []);
  });

  it('a post sent with a sampled traceparent: its fan-out is a feed.fanout span in that trace, under the request', async () => {
    const author = await newUser(server, 'author');
    const fan = await newUser(server, 'fan');
    await fan.http.follow(author.id);
    const caller = clientTraceparent(true);
    const res = await fetch(`${server.url}/v1/videos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${author.token}`, 'content-type': 'application/json', traceparent: caller.traceparent },
      body: JSON.stringify({ title: 'fanned out' }),
    });
    assert.equal(res.status, 201);
    const video = (await res.json()) as { id: string };

    const fanoutSpan = () => receiver.spans.find((s) => s.name === 'feed.fanout' && s.traceId === caller.traceId);
    await eventually(async () => {
      await tracing.flush();
      return fanoutSpan() !== undefined;
    }, 'the fan-out span is exported');
    const fanout = fanoutSpan()!;
    const request = receiver.spans.find((s) => s.traceId === caller.traceId && s.name === 'POST /v1/videos');
    assert.ok(request);
    assert.equal(fanout.parentSpanId, request.spanId, 'a child of the request that posted');
    assert.deepEqual(fanout.links, [{ traceId: caller.traceId, spanId: request.spanId }], 'and linked to it, as a job attempt is');
    assert.equal(fanout.kind, 5, 'consumer');
    assert.deepEqual(fanout.attributes, {
      'tremolo.video.id': video.id,
      'tremolo.fanout.resumed': false,
      'tremolo.fanout.outcome': 'done',
      'tremolo.fanout.followers': 1,
      'tremolo.fanout.pages': 1,
    });
    const children = receiver.spans.filter((s) => s.parentSpanId === fanout.spanId).map((s) => s.name);
    assert.ok(children.includes('feeds.pushToInboxes') && children.includes('fanout.complete'), `its storage calls: ${children.join(', ')}`);
  });

  it('a post without a trace leaves an entry without one: no fan-out span at ratio 0', async () => {
    const author = await newUser(server, 'quiet');
    const before = receiver.spans.length;
    const video = await author.http.createVideo({ title: 'untraced' });
    await server.engine.feed.idle();
    await tracing.flush();
    assert.ok(!receiver.spans.slice(before).some((s) => s.attributes['tremolo.video.id'] === video.id));
  });

  it('on Redis the entry keeps the traceparent, for a new claim and for a takeover', async () => {
    const prefix = randomPrefix('fanout-trace');
    const store = await RedisStore.connect({ url: REDIS_URL, prefix, limits: { eventLogMax: 100, viewDedupS: 60 }, timeoutMs: 2000 });
    try {
      const traced = clientTraceparent(true).traceparent;
      await store.fanout.enqueue({ videoId: 'v1', authorId: 'a1', at: 1, traceparent: traced }, 10);
      await store.fanout.enqueue({ videoId: 'v2', authorId: 'a1', at: 2 }, 10);
      const first = await store.fanout.claim('one', { limit: 2, leaseMs: 60_000, now: 0 });
      assert.deepEqual(
        first.map((c) => [c.task.videoId, c.task.traceparent, c.resumed]),
        [
          ['v1', traced, false],
          ['v2', undefined, false],
        ],
      );
      // `one` goes silent: after its lease another process takes both over, trace included
      let taken: Awaited<ReturnType<typeof store.fanout.claim>> = [];
      await eventually(async () => {
        taken = [...taken, ...(await store.fanout.claim('two', { limit: 2, leaseMs: 1, now: 0 }))];
        return taken.length === 2;
      }, 'the lease lapses');
      assert.deepEqual(
        taken.map((c) => [c.task.videoId, c.task.traceparent, c.resumed]),
        [
          ['v1', traced, true],
          ['v2', undefined, true],
        ],
      );
    } finally {
      await store.close();
      const admin = await connectRedis();
      await dropPrefix(admin, prefix);
      admin.disconnect();
    }
  });
});
