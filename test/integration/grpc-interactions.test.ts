/**
 * SubscribeInteractions over a real gRPC server and client, fed by the server's own behaviour
 * log (`engine.interactions`): batches in order, resumption from a returned position, waiting
 * when caught up, service tokens only, a bad batch size refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { Tremolo } from '../../src/main.ts';
import { TokenService } from '../../src/transport/auth/tokens.ts';
import { collect, grpcClient, type TremoloGrpcClient } from '../helpers/grpc.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';
import { TEST_SERVER_ENV } from '../helpers/server-env.ts';

interface Batch {
  events: { id: string; type: string; userId: string; videoId: string; attributesJson: string }[];
  position: string;
}

describe('gRPC SubscribeInteractions (the behaviour log)', () => {
  let server: Tremolo;
  let client: TremoloGrpcClient;
  let serviceToken: string;

  before(async () => {
    server = await startServer({ GRPC_PORT: '0', GRPC_WATCH_POLL: '100ms' });
    client = grpcClient(`127.0.0.1:${server.grpc!.port}`);
    const tokens = new TokenService({ secret: TEST_SERVER_ENV.JWT_SECRET!, issuer: 'tremolo', audience: 'tremolo', ttlS: 3600 });
    serviceToken = (await tokens.issueService('analytics', 600)).token;
  });
  after(async () => {
    client.close();
    await server.close();
  });

  it('streams batches in order, each with the position to resume after it, and waits for more when caught up', async () => {
    const owner = await newUser(server, 'owner');
    const video = await owner.http.createVideo({ title: 'liked' });
    const fans = [];
    for (let i = 0; i < 6; i++) fans.push(await newUser(server, `fan${i}`));
    // where the log stands now: the stream is read from here on
    let start: string | null = null;
    for (;;) {
      const page = await server.engine.interactions.read(start, 1000);
      start = page.position;
      if (page.events.length === 0) break;
    }
    for (const fan of fans.slice(0, 5)) await fan.http.like(video.id);

    const call = client.stream('SubscribeInteractions', { position: start ?? '', batchSize: 2 }, { token: serviceToken });
    const got = collect<Batch>(call);
    const likes = () => got.items.flatMap((b) => b.events).filter((e) => e.type === 'like' && e.videoId === video.id);
    await eventually(() => likes().length === 5, 'the five likes');
    assert.deepEqual(likes().map((e) => e.userId), fans.slice(0, 5).map((f) => f.id), 'in the order they were acknowledged');
    assert.ok(got.items.every((b) => b.events.length <= 2), 'at most batch_size events per batch');
    assert.equal(new Set(got.items.flatMap((b) => b.events.map((e) => e.id))).size, got.items.flatMap((b) => b.events).length, 'no event twice');

    await fans[5]!.http.like(video.id);
    await eventually(() => likes().length === 6, 'the like made after the stream caught up');
    assert.equal(likes()[5]!.userId, fans[5]!.id);
    call.cancel();
    await eventually(() => server.grpc!.openStreams === 0, 'the stream to be released');

    // resumed from the position after the batch holding the second like: exactly what follows it
    const second = got.items.findIndex((b) => b.events.some((e) => e.id === likes()[1]!.id));
    const resumedCall = client.stream('SubscribeInteractions', { position: got.items[second]!.position, batchSize: 100 }, { token: serviceToken });
    const resumed = collect<Batch>(resumedCall);
    const expected = got.items.slice(second + 1).flatMap((b) => b.events.map((e) => e.id));
    await eventually(() => resumed.items.flatMap((b) => b.events).length >= expected.length, 'the resumed events');
    assert.deepEqual(resumed.items.flatMap((b) => b.events.map((e) => e.id)).slice(0, expected.length), expected);
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
