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
import type { Tracing } from '../../src/telemetry/tracing.ts';
import { clientTraceparent, type OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { connectRedis, dropPrefix, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually, newUser } from '../helpers/server.ts';
import { startTracedServer, type TracedServer } from '../helpers/traced-server.ts';

const STATE = 'vendor=abc,other=x1';

describe('fan-out tracing', () => {
  let traced: TracedServer;
  let receiver: OtlpReceiver;
  let tracing: Tracing;
  let server: Tremolo;

  before(async () => {
    traced = await startTracedServer('fanout-tracing');
    ({ receiver, tracing, server } = traced);
  });
  after(async () => {
    await traced.close();
    assert.deepEqual(receiver.rejected, []);
  });

  it('a post sent with a sampled traceparent: its fan-out is a feed.fanout span in that trace, under the request, with the caller tracestate', async () => {
    const author = await newUser(server, 'author');
    const fan = await newUser(server, 'fan');
    await fan.http.follow(author.id);
    const caller = clientTraceparent(true);
    const res = await fetch(`${server.url}/v1/videos`, {
      method: 'POST',
      headers: { authorization: `Bearer ${author.token}`, 'content-type': 'application/json', traceparent: caller.traceparent, tracestate: STATE },
      body: JSON.stringify({ title: 'fanned out' }),
    });
    assert.equal(res.status, 201);
    const video = (await res.json()) as { id: string };

    const trace = await traced.spansOf(caller.traceId, 'feed.fanout');
    const fanout = trace.find((s) => s.name === 'feed.fanout')!;
    const request = trace.find((s) => s.name === 'POST /v1/videos');
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
    // the tracestate went with the traceparent into the fan-out entry
    assert.ok(trace.length >= 3, trace.map((s) => s.name).join(', '));
    assert.deepEqual(
      trace.filter((s) => s.traceState !== STATE).map((s) => `${s.name}: ${s.traceState}`),
      [],
      'every span of the trace',
    );
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
