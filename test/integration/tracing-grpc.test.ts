/**
 * gRPC calls are traced: a server span per call named after the RPC semantic conventions,
 * continuing the `traceparent` metadata entry OpenTelemetry's gRPC instrumentation sends, with
 * the actor turn and storage call of a Like under it. A real gRPC client, a real server in
 * this process, spans exported over OTLP/HTTP to a real receiver here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { Tremolo } from '../../src/main.ts';
import type { Tracing } from '../../src/telemetry/tracing.ts';
import { grpcClient, type TremoloGrpcClient } from '../helpers/grpc.ts';
import { clientTraceparent, type OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { newUser } from '../helpers/server.ts';
import { startTracedServer, type TracedServer } from '../helpers/traced-server.ts';

describe('gRPC tracing', () => {
  let traced: TracedServer;
  let receiver: OtlpReceiver;
  let tracing: Tracing;
  let server: Tremolo;
  let grpc: TremoloGrpcClient;
  let alice: Awaited<ReturnType<typeof newUser>>;
  let videoId: string;

  before(async () => {
    // roots are sampled only by the GetUser rule here: otherwise only what the caller's traceparent says is
    traced = await startTracedServer('grpc-tracing', { GRPC_PORT: '0', GRPC_WATCH_POLL: '1h' }, { rules: 'tremolo.v1.Tremolo/GetUser=1' });
    ({ receiver, tracing, server } = traced);
    grpc = grpcClient(`127.0.0.1:${server.grpc!.port}`);
    alice = await newUser(server, 'alice');
    videoId = (await alice.http.createVideo({ title: 'traced over gRPC' })).id;
  });
  after(async () => {
    grpc.close();
    await traced.close();
    assert.deepEqual(receiver.rejected, []);
  });

  it('continues the caller trace: the call span, then the actor turn and the storage call under it', async () => {
    const caller = clientTraceparent(true);
    const reply = await grpc.call<{ changed: boolean }>('Like', { videoId }, { token: alice.token, metadata: { traceparent: caller.traceparent } });
    assert.equal(reply.changed, true);
    await tracing.flush();

    const trace = receiver.spans.filter((s) => s.traceId === caller.traceId);
    const call = trace.find((s) => s.name === 'tremolo.v1.Tremolo/Like');
    assert.ok(call, `spans of the trace: ${trace.map((s) => s.name).join(', ')}`);
    assert.equal(call.parentSpanId, caller.spanId);
    assert.equal(call.kind, 2, 'server');
    assert.equal(call.statusCode, 0);
    assert.deepEqual(call.attributes, {
      'rpc.system': 'grpc',
      'rpc.service': 'tremolo.v1.Tremolo',
      'rpc.method': 'Like',
      'rpc.grpc.status_code': 0,
      'enduser.id': alice.id,
    });
    const turn = trace.find((s) => s.name.startsWith('actor.turn'));
    assert.equal(turn?.parentSpanId, call.spanId, 'the turn is the call span child');
    assert.ok(
      trace.some((s) => s.parentSpanId === turn.spanId && s.kind === 3),
      'the storage call is the turn child',
    );
  });

  it('records a refused call with its status code; only server faults are errors', async () => {
    const caller = clientTraceparent(true);
    const err = await grpc.call('Like', { videoId }, { token: 'not a token', metadata: { traceparent: caller.traceparent } }).then(
      () => assert.fail('the call succeeded'),
      (e: unknown) => e as ServiceError,
    );
    assert.equal(err.code, status.UNAUTHENTICATED);
    await tracing.flush();
    const call = receiver.spans.find((s) => s.traceId === caller.traceId && s.name === 'tremolo.v1.Tremolo/Like');
    assert.equal(call?.attributes['rpc.grpc.status_code'], status.UNAUTHENTICATED);
    assert.equal(call.statusCode, 0, 'the caller doing, not the server: no error status');
    assert.equal(call.attributes['enduser.id'], undefined);
  });

  it('follows an unsampled caller: nothing of that call is recorded', async () => {
    const caller = clientTraceparent(false);
    await grpc.call('Unlike', { videoId }, { token: alice.token, metadata: { traceparent: caller.traceparent } });
    await tracing.flush();
    assert.deepEqual(
      receiver.spans.filter((s) => s.traceId === caller.traceId),
      [],
    );
    assert.ok(!receiver.spans.some((s) => s.name === 'tremolo.v1.Tremolo/Unlike'), 'no root of its own either (default ratio 0)');
  });

  it('samples a call without traceparent by the rule that names its method', async () => {
    await grpc.call('GetUser', { userId: alice.id }, { token: alice.token });
    await tracing.flush();
    const root = receiver.spans.find((s) => s.name === 'tremolo.v1.Tremolo/GetUser');
    assert.ok(root, 'tremolo.v1.Tremolo/GetUser=1');
    assert.equal(root.parentSpanId, undefined, 'a trace of its own');
  });

  it('observes each call duration by method and status code, its trace as the exemplar', async () => {
    const count = async (labels: string) => {
      const text = await (await fetch(server.metricsUrl!)).text();
      return Number(new RegExp(`^tremolo_grpc_server_duration_seconds_count\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    };
    const [ok, refused] = [await count('method="Like",code="OK"'), await count('method="Like",code="UNAUTHENTICATED"')];
    assert.ok(ok >= 1 && refused >= 1, 'the calls above are counted');
    await grpc.call('Like', { videoId }, { token: alice.token });
    await grpc.call('Like', { videoId }, { token: 'not a token' }).catch(() => undefined);
    assert.equal(await count('method="Like",code="OK"'), ok + 1);
    assert.equal(await count('method="Like",code="UNAUTHENTICATED"'), refused + 1);
    const sampled = clientTraceparent(true);
    await grpc.call('GetUser', { userId: alice.id }, { token: alice.token, metadata: { traceparent: sampled.traceparent } });
    const openMetrics = await (await fetch(server.metricsUrl!, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } })).text();
    assert.match(openMetrics, new RegExp(`tremolo_grpc_server_duration_seconds_bucket\\{[^}]*method="GetUser"[^}]*\\} \\d+ # \\{trace_id="${sampled.traceId}"`));
  });
});
