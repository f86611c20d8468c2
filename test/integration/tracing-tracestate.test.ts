/**
 * W3C `tracestate` (vendors' entries next to `traceparent`) is read wherever a trace comes in
 * (an HTTP header, the socket handshake's `auth`, a socket event's payload, gRPC metadata) and
 * kept by the spans under it, exported with them (an HTTP post's, down to its fan-out, in
 * tracing-fanout.test.ts). Plain clients: fetch, socket.io-client, grpc-js; a real server in
 * this process and a real OTLP receiver.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io as rawIo } from 'socket.io-client';
import type { Tremolo } from '../../src/main.ts';
import type { Tracing } from '../../src/telemetry/tracing.ts';
import { grpcClient } from '../helpers/grpc.ts';
import { clientTraceparent } from '../helpers/otlp-receiver.ts';
import { newUser } from '../helpers/server.ts';
import { startTracedServer, type TracedServer } from '../helpers/traced-server.ts';

const STATE = 'vendor=abc,other=x1';

describe('tracestate', () => {
  let traced: TracedServer;
  let tracing: Tracing;
  let server: Tremolo;

  before(async () => {
    traced = await startTracedServer('tracestate', { GRPC_PORT: '0', GRPC_WATCH_POLL: '1h' });
    ({ tracing, server } = traced);
  });
  after(async () => {
    await traced.close();
    assert.deepEqual(traced.receiver.rejected, []);
  });

  const spansOf = (traceId: string, name: string) => traced.spansOf(traceId, name);

  it('a malformed tracestate member is dropped and the rest kept', async () => {
    const caller = clientTraceparent(true);
    const res = await fetch(`${server.url}/healthz`, { headers: { traceparent: caller.traceparent, tracestate: 'good=1,bad key=2' } });
    assert.equal(res.status, 200);
    const [span] = await spansOf(caller.traceId, 'GET /healthz');
    assert.equal(span?.traceState, 'good=1');
  });

  it('Socket.IO: the handshake auth tracestate goes with its traceparent; an event may bring its own', async () => {
    const fan = await newUser(server, 'sock');
    const video = await fan.http.createVideo({ title: 'socket state' });
    const handshake = clientTraceparent(true);
    const socket = rawIo(server.url, {
      transports: ['websocket'],
      auth: { token: fan.token, traceparent: handshake.traceparent, tracestate: STATE },
      reconnection: false,
      forceNew: true,
    });
    try {
      const liked = (await socket.timeout(10_000).emitWithAck('video:like', { videoId: video.id })) as { ok: boolean };
      assert.equal(liked.ok, true);
      const [like] = (await spansOf(handshake.traceId, 'video:like')).filter((s) => s.name === 'video:like');
      assert.equal(like?.traceState, STATE);

      const own = clientTraceparent(true);
      const unliked = (await socket.timeout(10_000).emitWithAck('video:unlike', { videoId: video.id, traceparent: own.traceparent, tracestate: 'mine=1' })) as { ok: boolean };
      assert.equal(unliked.ok, true);
      const [unlike] = (await spansOf(own.traceId, 'video:unlike')).filter((s) => s.name === 'video:unlike');
      assert.equal(unlike?.traceState, 'mine=1');
    } finally {
      socket.close();
    }
  });

  it('gRPC: the tracestate metadata entry', async () => {
    const alice = await newUser(server, 'grpc');
    const video = await alice.http.createVideo({ title: 'grpc state' });
    const grpc = grpcClient(`127.0.0.1:${server.grpc!.port}`);
    try {
      const caller = clientTraceparent(true);
      await grpc.call('Like', { videoId: video.id }, { token: alice.token, metadata: { traceparent: caller.traceparent, tracestate: STATE } });
      const spans = await spansOf(caller.traceId, 'tremolo.v1.Tremolo/Like');
      assert.equal(spans.find((s) => s.name === 'tremolo.v1.Tremolo/Like')?.traceState, STATE);
      assert.equal(spans.find((s) => s.name.startsWith('actor.turn'))?.traceState, STATE, 'and the turn under it');
    } finally {
      grpc.close();
    }
  });

  it('passes it on where a trace leaves the process, an unsampled one included', () => {
    const sampled = clientTraceparent(true);
    const ctx = tracing.extract(sampled.traceparent, STATE);
    assert.equal(tracing.tracestate(tracing.start('child', { parent: ctx }).context), STATE);
    const unsampled = clientTraceparent(false);
    const dropped = tracing.extract(unsampled.traceparent, STATE);
    assert.equal(tracing.inject(dropped), unsampled.traceparent);
    assert.equal(tracing.tracestate(dropped), STATE);
    assert.equal(tracing.tracestate(tracing.extract(sampled.traceparent, 'x'.repeat(9000))), undefined, 'too long: ignored');
    assert.equal(tracing.tracestate(tracing.start('root', { parent: 'root' }).context), undefined);
  });
});
