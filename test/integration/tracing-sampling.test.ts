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
