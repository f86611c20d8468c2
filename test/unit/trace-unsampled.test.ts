/**
 * What an unsampled trace costs and how its decision travels (telemetry/otel.ts): a root that
 * loses the draw and everything under it share one no-op span, its context leaves the process
 * as a `traceparent` flagged "not sampled", and the active context is a synchronous scope.
 * Spans that are kept go to a real OTLP/HTTP receiver in this process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseSampleRules, sampledAt } from '../../src/telemetry/sampling.ts';
import { createOtelTracing } from '../../src/telemetry/otel.ts';
import type { Tracing } from '../../src/telemetry/tracing.ts';
import { clientTraceparent, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts';

describe('unsampled traces', () => {
  let receiver: OtlpReceiver;
  let tracing: Tracing;

  before(async () => {
    receiver = await startOtlpReceiver();
    tracing = createOtelTracing({
      serviceName: 'unsampled',
      serviceVersion: 'test',
      defaultRatio: 0,
      rules: parseSampleRules('kept*=1,half=0.5'),
      exporterUrl: receiver.url,
      env: {},
    });
  });
  after(async () => {
    await tracing.shutdown();
    await receiver.close();
  });

  it('shares one span under an unsampled root, and records nothing there', () => {
    const root = tracing.start('dropped', { parent: 'root' });
    assert.equal(root.recording, false);
    assert.equal(tracing.sampled(root.context), false);
    const child = tracing.start('child', { parent: root.context, attributes: { a: 1 } });
    assert.equal(child, root, 'a child of an unsampled span is the same no-op span');
    assert.equal(tracing.start('dropped again', { parent: 'root' }), root, 'every local unsampled root too');
    tracing.run(root.context, () => {
      assert.equal(tracing.current(), root.context);
      assert.equal(tracing.ids(), undefined);
      assert.equal(tracing.start('kept-but-under-a-dropped-parent'), root, 'parent-based: the rule does not apply to a child');
    });
  });

  it('sends the decision on, so that another process drops the trace too', () => {
    const root = tracing.start('dropped', { parent: 'root' });
    const header = tracing.inject(root.context);
    assert.match(header ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    const remote = tracing.extract(header);
    assert.ok(remote);
    assert.equal(tracing.sampled(remote), false);
    assert.equal(tracing.start('kept', { parent: remote }).recording, false);
    // a remote unsampled parent goes on as it came
    const client = clientTraceparent(false);
    assert.equal(tracing.inject(tracing.extract(client.traceparent)), client.traceparent);
  });

  it('keeps a root its rule keeps, with a trace id whose tail agrees with the ratio', async () => {
    const kept = tracing.start('kept', { parent: 'root' });
    assert.equal(kept.recording, true);
    const child = tracing.start('kept child', { parent: kept.context });
    assert.equal(child.recording, true);
    child.end();
    kept.end();
    let halves = 0;
    for (let i = 0; i < 400; i++) {
      const s = tracing.start('half', { parent: 'root' });
      if (s.recording) {
        halves++;
        assert.ok(sampledAt(s.ids()!.trace_id, 0.5), 'the id a kept root gets passes the same rule');
      }
      s.end();
    }
    assert.ok(halves > 100 && halves < 300, `about half kept: ${halves}`);
    await tracing.flush();
    const traceId = kept.ids()!.trace_id;
    const spans = receiver.spans.filter((s) => s.traceId === traceId);
    assert.deepEqual(spans.map((s) => s.name).sort(), ['kept', 'kept child']);
    assert.ok(!receiver.spans.some((s) => s.name === 'dropped' || s.name === 'child'));
  });

  it('scopes the active context to the synchronous part of run, and links only to sampled spans', async () => {
    const kept = tracing.start('kept scope', { parent: 'root' });
    const dropped = tracing.start('dropped', { parent: 'root' });
    const seen: unknown[] = [];
    await tracing.run(kept.context, async () => {
      seen.push(tracing.current());
      await Promise.resolve();
      seen.push(tracing.current());
    });
    assert.deepEqual(seen, [kept.context, undefined]);
    assert.equal(tracing.start('storage call', { childOnly: true }).recording, false, 'a child-only span with no parent is not started');
    const linked = tracing.start('kept linker', { parent: 'root', links: [kept.context, dropped.context] });
    linked.end();
    kept.end();
    await tracing.flush();
    const span = receiver.spans.find((s) => s.name === 'kept linker');
    assert.ok(span);
    assert.deepEqual(
      span.links.map((l) => l.spanId),
      [kept.ids()!.span_id],
    );
  });
});
