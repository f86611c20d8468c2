/**
 * SubscribeInteractions over a real gRPC server and client, fed by an in-memory stand-in for
 * the interaction event stream (`engine.interactions`, which the analytics work builds and this
 * build does not have yet; tests/grpc.test.ts checks the UNIMPLEMENTED answer without it):
 * batches in order, resumption from a returned position, waiting when caught up, service
 * tokens only, a bad batch size refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { systemClock } from '../../src/domain/clock.ts';
import type { Tremolo } from '../../src/main.ts';
import { MemoryRateLimitStore } from '../../src/storage/rate-limits.ts';
import { TokenService } from '../../src/transport/auth/tokens.ts';
import { RateLimits } from '../../src/transport/http/rate-limits.ts';
import type { InteractionRecord, InteractionSource } from '../../src/transport/grpc/interactions-stream.ts';
import { GrpcServer } from '../../src/transport/grpc/server.ts';
import { collect, grpcClient, type TremoloGrpcClient } from '../helpers/grpc.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';
import { TEST_SERVER_ENV } from '../helpers/server-env.ts';

/** An append-only list; a position is the index of the next event. */
class ListSource implements InteractionSource {
  readonly events: InteractionRecord[] = [];
  async read(position: string | null, limit: number) {
    const from = position === null ? 0 : Number(position);
    const events = this.events.slice(from, from + limit);
    return { events, position: String(from + events.length) };
  }
}

interface Batch {
  events: { id: string; type: string; userId: string; videoId: string; attributesJson: string }[];
  position: string;
}

describe('gRPC SubscribeInteractions (with an interaction stream)', () => {
  let server: Tremolo;
  let grpc: GrpcServer;
  let client: TremoloGrpcClient;
  let serviceToken: string;
  const source = new ListSource();
  const tokens = new TokenService({ secret: TEST_SERVER_ENV.JWT_SECRET!, issuer: 'tremolo', audience: 'tremolo', ttlS: 3600 });

  before(async () => {
    server = await startServer();
    grpc = new GrpcServer({
      engine: server.engine,
      tokens,
      limits: new RateLimits({ ipPerMin: 1000, userPerMin: 1000, loginPerMin: 10, counters: new MemoryRateLimitStore() }),
      clock: systemClock,
      presentMedia: (v) => v,
      interactions: source,
      onError: (err) => assert.fail(String(err)),
      settings: { host: '127.0.0.1', port: 0, maxMessageBytes: 65536, maxStreams: 10, watchPollMs: 50 },
    });
    client = grpcClient(`127.0.0.1:${await grpc.listen()}`);
    serviceToken = (await tokens.issueService('analytics', 600)).token;
  });
  after(async () => {
    client.close();
    await grpc.close(1000);
    await server.close();
  });

  it('streams batches in order, each with the position to resume after it, and waits for more when caught up', async () => {
    for (let i = 0; i < 5; i++) source.events.push({ id: `e${i}`, type: 'like', userId: 'u1', videoId: 'v1', weight: i });
    const call = client.stream('SubscribeInteractions', { batchSize: 2 }, { token: serviceToken });
    const got = collect<Batch>(call);
    await eventually(() => got.items.flatMap((b) => b.events).length === 5, 'the first five events');
    assert.deepEqual(got.items.map((b) => b.events.map((e) => e.id)), [['e0', 'e1'], ['e2', 'e3'], ['e4']]);
    assert.deepEqual(got.items.map((b) => b.position), ['2', '4', '5']);
    assert.equal(got.items[0]!.events[0]!.userId, 'u1');
    assert.deepEqual(JSON.parse(got.items[0]!.events[1]!.attributesJson), { weight: 1 });
    source.events.push({ id: 'e5', type: 'comment' });
    await eventually(() => got.items.at(-1)?.events[0]?.id === 'e5', 'the event appended later');
    call.cancel();
    await eventually(() => grpc.openStreams === 0, 'the stream to be released');

    // resumed from a position: exactly what follows it
    const resumedCall = client.stream('SubscribeInteractions', { position: '4', batchSize: 10 }, { token: serviceToken });
    const resumed = collect<Batch>(resumedCall);
    await eventually(() => resumed.items.length === 1, 'the resumed batch');
    assert.deepEqual(resumed.items[0]!.events.map((e) => e.id), ['e4', 'e5']);
    resumedCall.cancel();
  });

  it('is for service tokens only, and refuses a bad batch size', async () => {
    const user = await newUser(server, 'consumer');
    const asUser = collect(client.stream('SubscribeInteractions', {}, { token: user.token }));
    const tooBig = collect(client.stream('SubscribeInteractions', { batchSize: 5000 }, { token: serviceToken }));
    await eventually(() => asUser.ended !== undefined && tooBig.ended !== undefined, 'both refusals');
    assert.equal(asUser.ended?.code, status.PERMISSION_DENIED);
    assert.equal(tooBig.ended?.code, status.INVALID_ARGUMENT);
  });
});
