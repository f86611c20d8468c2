/**
 * Sampling rules, exemplars, the no-op default and the export protocol, on a real server in this process whose
 * spans go over OTLP/HTTP to a real receiver here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LiveClient } from '../../src/client/live-client.ts';
import type { Tremolo } from '../../src/main.ts';
import { createOtelTracing } from '../../src/telemetry/otel.ts';
import { parseSampleRules } from '../../src/telemetry/sampling.ts';
import { noopTracing, type Tracing } from '../../src/telemetry/tracing.ts';
import { clientTraceparent, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { eventually, liveClient, newUser, startServer } from '../helpers/server.ts';

describe('sampling by operation', () => {
  let receiver: OtlpReceiver;
  let tracing: Tracing;
  let server: Tremolo;
  const clients: LiveClient[] = [];

  before(async () => {
    receiver = await startOtlpReceiver();
    tracing = createOtelTracing({
      serviceName: 'sampling',
      serviceVersion: 'test',
      defaultRatio: 0,
      rules: parseSampleRules('video:watch=0,video:like=1,/v1/users*=1'),
      exporterUrl: receiver.url,
      env: {},
    });
    server = await startServer({}, { tracing });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    await tracing.shutdown();
    await receiver.close();
  });

  it('keeps the operations whose rule says so, drops the others, and follows a sampled parent', async () => {
    const owner = await newUser(server, 'owner'); // POST /v1/users: kept (route rule)
    const video = await owner.http.createVideo({ title: 'sampled' }); // POST /v1/videos: default 0
    const fan = await newUser(server, 'fan');
    const c = await liveClient(server, { token: fan.token });
    clients.push(c);
    await c.watch(video.id); // video:watch=0
    await c.like(video.id); // video:like=1
    const forced = clientTraceparent(true);
    await fetch(`${server.url}/v1/videos/${video.id}`, { headers: { traceparent: forced.traceparent } }); // default 0, but a sampled parent
    const unsampled = clientTraceparent(false);
    await fetch(`${server.url}/v1/users/${fan.id}`, { headers: { traceparent: unsampled.traceparent } }); // rule 1, but an unsampled parent
    await tracing.flush();

    await eventually(() => receiver.spans.some((s) => s.name === 'video:like'), 'the like is exported');
    const names = receiver.spans.map((s) => s.name);
    assert.ok(names.includes('POST /v1/users'), 'POST /v1/users matches /v1/users*=1');
    assert.ok(!names.includes('POST /v1/videos'), 'no rule: the default ratio 0');
    assert.ok(!names.includes('video:watch'), 'video:watch=0');
    const like = receiver.spans.find((s) => s.name === 'video:like')!;
    assert.ok(
      receiver.spans.some((s) => s.name === 'actor.turn video' && s.traceId === like.traceId),
      'the turn under a sampled like is sampled with it (parent-based)',
    );
    // the request's own span: its store calls (memory driver) are in the trace too
    const forcedSpan = receiver.spans.find((s) => s.traceId === forced.traceId && s.kind === 2);
    assert.equal(forcedSpan?.name, 'GET /v1/videos/:id', 'a sampled remote parent is followed');
    assert.equal(forcedSpan?.parentSpanId, forced.spanId);
    assert.ok(!receiver.spans.some((s) => s.traceId === unsampled.traceId), 'an unsampled remote parent is followed too');
  });

  it('adds trace exemplars to histograms in OpenMetrics scrapes only', async () => {
    const u = await newUser(server, 'ex'); // POST /v1/users: sampled
    await tracing.flush();
    const userSpan = receiver.spans.filter((s) => s.name === 'POST /v1/users').at(-1)!;
    assert.ok(u.id && userSpan);
    const open = await fetch(server.metricsUrl!, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
    assert.match(open.headers.get('content-type') ?? '', /openmetrics/);
    const body = await open.text();
    const exemplars = [...body.matchAll(/^tremolo_http_request_duration_seconds_bucket\{[^}]*route="\/v1\/users"[^}]*\} \d+ # \{trace_id="([0-9a-f]{32})",span_id="([0-9a-f]{16})"\}/gm)];
    assert.ok(exemplars.length > 0, 'a bucket of POST /v1/users carries an exemplar');
    assert.ok(
      exemplars.some((m) => receiver.spans.some((s) => s.traceId === m[1] && s.spanId === m[2])),
      'the exemplar names an exported span',
    );
    const plain = await (await fetch(server.metricsUrl!)).text();
    assert.doesNotMatch(plain, /trace_id=/, 'the Prometheus text format has no exemplars');
    assert.match(plain, /tremolo_http_request_duration_seconds_bucket/);
  });
});

describe('tracing off', () => {
  it('uses the no-op tracing, whose spans record nothing', async () => {
    const server = await startServer({ TRACING_ENABLED: 'false' });
    try {
      assert.equal(server.tracing, noopTracing);
      assert.equal(server.metrics.exemplars, false);
      const span = server.tracing.start('x');
      assert.equal(span.recording, false);
      assert.equal(server.tracing.inject(), undefined);
      assert.equal(server.tracing.extract(clientTraceparent().traceparent), undefined);
    } finally {
      await server.close();
    }
  });

  it('refuses bad TRACE_SAMPLE_RULES at start-up', async () => {
    await assert.rejects(startServer({ TRACE_SAMPLE_RULES: 'video:like=2' }), /TRACE_SAMPLE_RULES/);
    await assert.rejects(startServer({ TRACE_SAMPLE_RULES: 'novalue' }), /TRACE_SAMPLE_RULES/);
  });
});

describe('export protocol', () => {
  it('takes OTLP/HTTP in protobuf or JSON, and refuses another protocol at start-up', async () => {
    const opts = { serviceName: 'protocol', serviceVersion: 'test', defaultRatio: 1, rules: [] };
    for (const protocol of ['grpc', 'http/xml']) {
      assert.throws(() => createOtelTracing({ ...opts, env: { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol } }), /OTLP protocol .* is not supported: .*http\/protobuf \(the default\) or http\/json/);
    }
    // the signal's own variable wins over the general one, as the specification has it
    const receiver = await startOtlpReceiver();
    const json = createOtelTracing({ ...opts, exporterUrl: receiver.url, env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } });
    const proto = createOtelTracing({ ...opts, exporterUrl: receiver.url, env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' } });
    try {
      json.start('as json', { parent: 'root' }).end();
      await json.flush();
      proto.start('as protobuf', { parent: 'root' }).end();
      await proto.flush();
      assert.deepEqual(receiver.contentTypes, ['application/json', 'application/x-protobuf']);
      assert.deepEqual(receiver.spans.map((s) => [s.service, s.name]), [['protocol', 'as json'], ['protocol', 'as protobuf']]);
      assert.deepEqual(receiver.rejected, []);
    } finally {
      await Promise.all([json.shutdown(), proto.shutdown()]);
      await receiver.close();
    }
  });
});

describe('spans as exported', () => {
  const opts = { serviceName: 'spans', serviceVersion: 'test', defaultRatio: 1, rules: [], env: {} };
  // Date.now() moves in whole milliseconds and the spans' clock is within one of it (span-clock.ts)
  const nowNanos = (slackMs: number) => BigInt(Date.now() + slackMs) * 1_000_000n;

  it('carry their parent, times, attributes set later, failure and links, as many links as the SDK keeps', async () => {
    const receiver = await startOtlpReceiver();
    const tracing = createOtelTracing({ ...opts, exporterUrl: receiver.url });
    try {
      const before = nowNanos(-1);
      const parent = tracing.start('parent', { kind: 'server', parent: 'root', attributes: { 'tremolo.n': 1, 'tremolo.absent': undefined } });
      const messages = Array.from({ length: 130 }, () => tracing.start('message', { parent: 'root' }));
      const turn = tracing.start('turn', { parent: parent.context, links: messages.map((m) => m.context) });
      turn.set({ 'tremolo.later': 'yes', 'tremolo.unset': undefined });
      turn.fail(Object.assign(new Error('text a user wrote'), { code: 'E_BUSY' }));
      turn.end();
      turn.end(); // a second end is ignored
      turn.set({ 'tremolo.too_late': true });
      parent.end();
      for (const m of messages) m.end();
      const worker = tracing.start('worker stage', { parent: parent.context, startTime: 1_700_000_000_000, attributes: {} });
      worker.end(1_700_000_000_250.5);
      const after = nowNanos(1);
      await tracing.flush();

      const byName = (name: string) => receiver.spans.filter((s) => s.name === name);
      assert.equal(byName('turn').length, 1, 'ended twice, exported once');
      const [p, t, w] = [byName('parent')[0]!, byName('turn')[0]!, byName('worker stage')[0]!];
      assert.deepEqual(p.attributes, { 'tremolo.n': 1 }, 'undefined attributes are left out');
      assert.equal(p.kind, 2);
      assert.equal(p.parentSpanId, undefined);
      assert.deepEqual(parent.ids(), { trace_id: p.traceId, span_id: p.spanId });
      assert.equal(t.traceId, p.traceId);
      assert.equal(t.parentSpanId, p.spanId);
      assert.deepEqual(t.attributes, { 'tremolo.later': 'yes' });
      assert.equal(t.statusCode, 2);
      assert.deepEqual(t.events, [{ name: 'exception', attributes: { 'exception.type': 'Error', 'exception.message': 'E_BUSY' } }]);
      assert.equal(t.links.length, 128, 'OTEL_SPAN_LINK_COUNT_LIMIT, 128 by default');
      assert.equal(t.droppedLinksCount, 2);
      assert.deepEqual(t.links[0], { traceId: messages[0]!.ids()!.trace_id, spanId: messages[0]!.ids()!.span_id });
      assert.equal(new Set(receiver.spans.map((s) => s.spanId)).size, receiver.spans.length, 'every span id differs');
      // times from one sub-millisecond monotonic clock: each span within the test, the turn within its parent
      for (const s of [p, t]) assert.ok(before <= s.start && s.start <= s.end && s.end <= after, `${s.name} ${s.start}..${s.end} in ${before}..${after}`);
      assert.ok(p.start <= t.start && t.end <= p.end, 'the turn lies within its parent');
      // times given by the caller (work timed in a worker thread) are kept as given
      assert.equal(w.start, 1_700_000_000_000_000_000n);
      assert.equal(w.end, 1_700_000_000_250_500_000n);
      assert.equal(w.parentSpanId, p.spanId);
    } finally {
      await tracing.shutdown();
      await receiver.close();
    }
  });

  it('follow the operator OTEL_TRACES_SAMPLER in place of the rules, and refuse a sampler it does not know', async () => {
    const receiver = await startOtlpReceiver();
    const sampler = (OTEL_TRACES_SAMPLER: string, OTEL_TRACES_SAMPLER_ARG?: string) =>
      createOtelTracing({ ...opts, rules: parseSampleRules('ignored=0'), exporterUrl: receiver.url, env: { OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG } });
    const remote = clientTraceparent(true);
    const all = [sampler('always_on'), sampler('always_off'), sampler('parentbased_traceidratio', '0'), sampler('traceidratio', '1'), sampler('traceidratio', '2')];
    const [on, off, parentBased, ratioOne, badArg] = all;
    try {
      assert.equal(on!.start('ignored', { parent: 'root' }).recording, true, 'the rule ignored=0 does not apply');
      assert.equal(ratioOne!.start('root', { parent: 'root' }).recording, true);
      assert.equal(badArg!.start('root', { parent: 'root' }).recording, true, 'an argument out of range is 1, as the SDK has it');
      assert.equal(parentBased!.start('root', { parent: 'root' }).recording, false, 'ratio 0 for roots');
      const child = parentBased!.start('child', { parent: parentBased!.extract(remote.traceparent) });
      assert.equal(child.recording, true, 'a sampled remote parent is followed');
      child.end();
      // always_off is not parent-based: it drops a span even under a sampled parent, and passes the decision on
      const dropped = off!.start('dropped', { parent: off!.extract(remote.traceparent) });
      assert.equal(dropped.recording, false);
      assert.match(off!.inject(dropped.context) ?? '', new RegExp(`^00-${remote.traceId}-[0-9a-f]{16}-00$`));
      await parentBased!.flush();
      const exported = receiver.spans.find((s) => s.name === 'child');
      assert.equal(exported?.traceId, remote.traceId);
      assert.equal(exported?.parentSpanId, remote.spanId);
      assert.throws(() => sampler('jaeger_remote'), /OTEL_TRACES_SAMPLER "jaeger_remote" is not supported: set always_on, .*parentbased_traceidratio/);
    } finally {
      await Promise.all(all.map((t) => t!.shutdown()));
      await receiver.close();
    }
  });
});
