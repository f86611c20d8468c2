/**
 * Script spans on the Redis driver (storage/redis/scripts.ts): an `EVALSHA <script>` client span
 * per call under a sampled span, that has ended by the time its caller resumes (it ends on a
 * branch of the call's own promise, telemetry/tracing.ts `endWith`, so tracing adds no microtask
 * hop to the caller), marked failed when Redis refuses the script, and carrying the script's
 * name and number of keys, never a key. A real Redis and a real OTLP/HTTP receiver.
 */
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { after, before, describe, it } from 'node:test';
import { Scripts } from '../../src/storage/redis/scripts.ts';
import { createOtelTracing } from '../../src/telemetry/otel.ts';
import type { Tracing } from '../../src/telemetry/tracing.ts';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { connectRedis, dropPrefix, randomPrefix } from '../helpers/redis.ts';

describe('script spans on the Redis driver', () => {
  let receiver: OtlpReceiver;
  let tracing: Tracing;
  let redis: Redis;
  const prefix = randomPrefix('trace-scripts');

  before(async () => {
    receiver = await startOtlpReceiver();
    tracing = createOtelTracing({ serviceName: 'script-spans', serviceVersion: 'test', defaultRatio: 1, rules: [], exporterUrl: receiver.url, env: {} });
    redis = await connectRedis();
  });
  after(async () => {
    await dropPrefix(redis, prefix);
    redis.disconnect();
    await tracing.shutdown();
    await receiver.close();
  });

  it('ends each script span before its caller resumes, failed when Redis refuses the script', async () => {
    const scripts = new Scripts(redis, undefined, tracing);
    const hot = `${prefix}hot`;
    const notAZset = `${prefix}text`;
    await redis.set(notAZset, 'not a sorted set');
    const root = tracing.start('scripts-test', { parent: 'root' });
    const page = await tracing.run(root.context, () => scripts.run('hot-after', [hot], ['100', 'zzz', 5]));
    assert.deepEqual(page, [], 'an empty ranking has an empty page');
    // WRONGTYPE from Redis: a driver bug as far as the caller knows
    await assert.rejects(
      tracing.run(root.context, () => scripts.run('hot-after', [notAZset], ['100', 'zzz', 5])),
      { code: 'E_INTERNAL' },
    );
    root.end();
    // no waiting for spans to turn up: both have ended, so this flush sends them
    await tracing.flush();
    const traceId = root.ids()!.trace_id;
    const spans = receiver.spans.filter((s) => s.traceId === traceId && s.name === 'EVALSHA hot-after');
    assert.equal(spans.length, 2, `both script spans exported by the flush: ${receiver.spans.map((s) => s.name).join(', ')}`);
    assert.ok(spans.every((s) => s.parentSpanId === root.ids()!.span_id && s.kind === 3), 'client spans, children of the caller');
    assert.deepEqual(spans.map((s) => s.statusCode).sort(), [0, 2], 'the refused call is marked failed');
    for (const s of spans) {
      assert.equal(s.attributes['db.system.name'], 'redis');
      assert.equal(s.attributes['db.stored_procedure.name'], 'hot-after');
      assert.equal(s.attributes['tremolo.redis.keys'], 1);
      for (const v of Object.values(s.attributes)) assert.ok(!String(v).includes(prefix), 'no key in any attribute');
    }
    assert.deepEqual(receiver.rejected, []);
  });
});
