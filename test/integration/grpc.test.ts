/**
 * The gRPC interface (tremolo.v1) against a real server on a real port, through a real
 * grpc-js client built from the proto files: every RPC, auth (user and service tokens),
 * the catalog -> status mapping, WatchVideo's exactly-once offsets, cancellation,
 * deadlines, health and reflection.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { credentials, loadPackageDefinition, Metadata, status, type Client, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type { Tremolo } from '../../src/main.ts';
import { TokenService } from '../../src/transport/auth/tokens.ts';
import { collect, errorCodeOf, grpcClient, type TremoloGrpcClient } from '../helpers/grpc.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';
import { TEST_SERVER_ENV } from '../helpers/server-env.ts';

interface Counters {
  likes: number;
  comments: number;
  views: number;
  version: number;
}
interface Update {
  videoId: string;
  kind: 'snapshot' | 'event';
  snapshot?: { counters: Counters; offset: number; epoch: string; recovered?: boolean; latestComments: unknown[] };
  event?: { offset: number; kind: 'counters' | 'commentAdded' | 'commentDeleted'; commentAdded?: { id: string; text: string } };
}

/** Rejects with the call's error; fails the test when the call succeeds. */
async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  assert.fail('the call succeeded');
}

describe('gRPC interface', () => {
  let server: Tremolo;
  let grpc: TremoloGrpcClient;
  let address: string;
  let serviceToken: string;
  let alice: Awaited<ReturnType<typeof newUser>>;
  let bob: Awaited<ReturnType<typeof newUser>>;

  before(async () => {
    server = await startServer({ GRPC_PORT: '0', GRPC_WATCH_POLL: '1h' });
    assert.ok(server.grpc);
    address = `127.0.0.1:${server.grpc.port}`;
    grpc = grpcClient(address);
    const tokens = new TokenService({ secret: TEST_SERVER_ENV.JWT_SECRET, issuer: 'tremolo', audience: 'tremolo', ttlS: 3600 });
    serviceToken = (await tokens.issueService('moderation', 600)).token;
    alice = await newUser(server, 'alice');
    bob = await newUser(server, 'bob');
  });
  after(async () => {
    grpc.close();
    await server.close();
  });

  it('GetVideos: many ids in one call, in the order asked, with counters; unknown ids listed as missing', async () => {
    const a = await alice.http.createVideo({ title: 'first' });
    const b = await alice.http.createVideo({ title: 'second' });
    await bob.http.like(b.id);
    const unknown = '0'.repeat(13);
    const res = await grpc.call<{ videos: { id: string; title: string; counters: Counters; likedByMe?: boolean }[]; missing: string[] }>(
      'GetVideos',
      { ids: [b.id, unknown, a.id] },
      { token: bob.token },
    );
    assert.deepEqual(res.videos.map((v) => [v.id, v.title, v.counters.likes, v.likedByMe]), [
      [b.id, 'second', 1, true],
      [a.id, 'first', 0, false],
    ]);
    assert.deepEqual(res.missing, [unknown]);
    // a service reads without a user (no likedByMe) or for one it names
    const asService = await grpc.call<{ videos: { likedByMe?: boolean }[] }>('GetVideos', { ids: [b.id] }, { token: serviceToken });
    assert.equal(asService.videos[0]?.likedByMe, undefined);
    const forBob = await grpc.call<{ videos: { likedByMe?: boolean }[] }>('GetVideos', { ids: [b.id], userId: bob.id }, { token: serviceToken });
    assert.equal(forBob.videos[0]?.likedByMe, true);
  });

  it('GetVideos refuses an empty list, more than 500 ids and malformed ids with INVALID_ARGUMENT', async () => {
    for (const ids of [[], Array.from({ length: 501 }, (_, i) => String(i).padStart(13, '0')), ['nope']]) {
      const err = await failure(grpc.call('GetVideos', { ids }, { token: alice.token }));
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.equal(errorCodeOf(err), 'E_VALIDATION');
    }
  });

  it('Like and Unlike are idempotent and answer the counters; a service likes for the user it names', async () => {
    const v = await alice.http.createVideo({ title: 'likes' });
    const first = await grpc.call<{ changed: boolean; counters: Counters; offset: number }>('Like', { videoId: v.id }, { token: bob.token });
    const again = await grpc.call<{ changed: boolean; counters: Counters }>('Like', { videoId: v.id }, { token: bob.token });
    assert.equal(first.changed, true);
    assert.equal(first.counters.likes, 1);
    assert.ok(first.offset > 0);
    assert.equal(again.changed, false);
    const byService = await grpc.call<{ changed: boolean; counters: Counters }>('Like', { videoId: v.id, userId: alice.id }, { token: serviceToken });
    assert.equal(byService.counters.likes, 2);
    const undone = await grpc.call<{ changed: boolean; counters: Counters }>('Unlike', { videoId: v.id }, { token: bob.token });
    assert.equal(undone.changed, true);
    assert.equal((await alice.http.getVideo(v.id)).counters.likes, 1);
  });

  it('AddComment with an idempotency key appends once; DeleteComment: the author, not a stranger, and a service moderates', async () => {
    const v = await alice.http.createVideo({ title: 'comments' });
    const req = { videoId: v.id, text: 'hello over gRPC', idempotencyKey: 'k-1' };
    const one = await grpc.call<{ comment: { id: string; authorId: string; text: string }; duplicate: boolean; counters: Counters }>('AddComment', req, { token: bob.token });
    const two = await grpc.call<{ comment: { id: string }; duplicate: boolean; counters: Counters }>('AddComment', req, { token: bob.token });
    assert.equal(one.duplicate, false);
    assert.equal(two.duplicate, true);
    assert.equal(two.comment.id, one.comment.id);
    assert.equal(one.comment.authorId, bob.id);
    assert.equal((await alice.http.comments(v.id)).items.length, 1);

    const stranger = await newUser(server, 'stranger');
    const denied = await failure(grpc.call('DeleteComment', { commentId: one.comment.id }, { token: stranger.token }));
    assert.equal(denied.code, status.PERMISSION_DENIED);
    assert.equal(errorCodeOf(denied), 'E_FORBIDDEN');

    const moderated = await grpc.call<{ deleted: boolean; counters: Counters }>('DeleteComment', { commentId: one.comment.id }, { token: serviceToken });
    assert.equal(moderated.deleted, true);
    assert.equal(moderated.counters.comments, 0);
    assert.equal((await alice.http.comments(v.id)).items.length, 0);
  });

  it('Follow and GetUser', async () => {
    const carol = await newUser(server, 'carol');
    const followed = await grpc.call<{ changed: boolean }>('Follow', { targetId: carol.id }, { token: bob.token });
    assert.equal(followed.changed, true);
    const profile = await grpc.call<{ id: string; handle: string; followers: number }>('GetUser', { userId: carol.id }, { token: serviceToken });
    assert.equal(profile.handle, carol.handle);
    assert.equal(profile.followers, 1);
    const undone = await grpc.call<{ changed: boolean }>('Follow', { targetId: carol.id, unfollow: true }, { token: bob.token });
    assert.equal(undone.changed, true);
    const self = await failure(grpc.call('Follow', { targetId: bob.id }, { token: bob.token }));
    assert.equal(self.code, status.INVALID_ARGUMENT);
    assert.equal(errorCodeOf(self), 'E_SELF_FOLLOW');
    const missing = await failure(grpc.call('GetUser', { userId: '0'.repeat(13) }, { token: bob.token }));
    assert.equal(missing.code, status.NOT_FOUND);
    assert.equal(errorCodeOf(missing), 'E_USER_NOT_FOUND');
  });

  it('auth: no token, a bad token, a user acting for another, a service without a user; service tokens do not work on REST', async () => {
    const v = await alice.http.createVideo({ title: 'auth' });
    const cases: [object, string | undefined, number, string][] = [
      [{ videoId: v.id }, undefined, status.UNAUTHENTICATED, 'E_TOKEN_MISSING'],
      [{ videoId: v.id }, 'not-a-jwt', status.UNAUTHENTICATED, 'E_TOKEN_INVALID'],
      [{ videoId: v.id, userId: alice.id }, bob.token, status.PERMISSION_DENIED, 'E_FORBIDDEN'],
      [{ videoId: v.id }, serviceToken, status.INVALID_ARGUMENT, 'E_VALIDATION'],
      [{ videoId: '0'.repeat(13) }, bob.token, status.NOT_FOUND, 'E_VIDEO_NOT_FOUND'],
    ];
    for (const [req, token, code, catalog] of cases) {
      const err = await failure(grpc.call('Like', req, token === undefined ? { token: '' } : { token }));
      assert.equal(err.code, code, `${catalog}: ${err.details}`);
      assert.equal(errorCodeOf(err), catalog);
    }
    assert.equal((await alice.http.getVideo(v.id)).counters.likes, 0);
    const rest = await fetch(`${server.url}/v1/videos/${v.id}/like`, { method: 'POST', headers: { authorization: `Bearer ${serviceToken}` } });
    assert.equal(rest.status, 401);
  });

  it('WatchVideo: a snapshot, then every event in offset order; a stream resumed from offset N yields N+1 on, once each', async () => {
    const v = await alice.http.createVideo({ title: 'watched' });
    const firstCall = grpc.stream('WatchVideo', { videoId: v.id }, { token: bob.token });
    const first = collect<Update>(firstCall);
    await eventually(() => first.items.length === 1, 'the snapshot');
    const snapshot = first.items[0]!.snapshot!;
    assert.equal(first.items[0]!.kind, 'snapshot');
    assert.equal(snapshot.counters.likes, 0);

    await bob.http.like(v.id);
    await bob.http.comment(v.id, 'one');
    await alice.http.comment(v.id, 'two');
    await eventually(() => first.items.filter((u) => u.event?.kind === 'commentAdded').length === 2, 'both comments');
    const offsets = first.items.slice(1).map((u) => u.event!.offset);
    assert.deepEqual(offsets, offsets.map((_, i) => snapshot.offset + 1 + i), 'consecutive offsets after the snapshot');
    assert.equal(first.ended, undefined);

    // resume from the middle: exactly the rest, then what comes next
    const resumeAt = offsets[0]!;
    const resumedCall = grpc.stream('WatchVideo', { videoId: v.id, sinceOffset: resumeAt, epoch: snapshot.epoch }, { token: bob.token });
    const resumed = collect<Update>(resumedCall);
    await alice.http.comment(v.id, 'three');
    await eventually(() => resumed.items.some((u) => u.event?.commentAdded?.text === 'three'), 'the new comment on the resumed stream');
    await eventually(() => first.items.some((u) => u.event?.commentAdded?.text === 'three'), 'the new comment on the first stream');
    const lastOf = (c: typeof first) => c.items.at(-1)?.event?.offset;
    await eventually(() => lastOf(first) === lastOf(resumed), 'both streams to reach the same head');
    assert.ok(resumed.items.every((u) => u.kind === 'event'), 'no snapshot when the log reaches back');
    const got = resumed.items.map((u) => u.event!.offset);
    assert.deepEqual(got, got.map((_, i) => resumeAt + 1 + i));
    const all = first.items.slice(1).map((u) => u.event!.offset);
    assert.deepEqual(all, all.map((_, i) => snapshot.offset + 1 + i));

    // another epoch: a fresh snapshot, marked not recovered
    const staleCall = grpc.stream('WatchVideo', { videoId: v.id, sinceOffset: 1, epoch: 'another-epoch' }, { token: bob.token });
    const stale = collect<Update>(staleCall);
    await eventually(() => stale.items.length === 1, 'a snapshot');
    assert.equal(stale.items[0]!.snapshot!.recovered, false);
    assert.equal(stale.items[0]!.snapshot!.offset, got.at(-1));
    for (const call of [firstCall, resumedCall, staleCall]) call.cancel();
  });

  it('WatchVideo: a cancelled stream and one past its deadline let go of everything they held', async () => {
    const v = await alice.http.createVideo({ title: 'cancel' });
    const base = server.grpc!.openStreams;
    const stream = grpc.stream('WatchVideo', { videoId: v.id }, { token: bob.token });
    const watched = collect<Update>(stream);
    await eventually(() => watched.items.length === 1 && server.grpc!.openStreams === base + 1, 'the stream');
    stream.cancel();
    await eventually(() => server.grpc!.openStreams === base, 'the server to let go of the cancelled stream');
    assert.equal(watched.ended?.code, status.CANCELLED);

    const timed = collect<Update>(grpc.stream('WatchVideo', { videoId: v.id }, { token: bob.token, deadline: Date.now() + 500 }));
    await eventually(() => timed.ended !== undefined, 'the deadline');
    assert.equal(timed.ended?.code, status.DEADLINE_EXCEEDED);
    assert.equal(timed.items[0]?.kind, 'snapshot');
    await eventually(() => server.grpc!.openStreams === base, 'the server to let go of the expired stream');
  });

  it('WatchVideo ends with NOT_FOUND when the video is deleted, and refuses a bad offset', async () => {
    const v = await alice.http.createVideo({ title: 'doomed' });
    const watched = collect<Update>(grpc.stream('WatchVideo', { videoId: v.id }, { token: bob.token }));
    await eventually(() => watched.items.length === 1, 'the snapshot');
    await alice.http.deleteVideo(v.id);
    await eventually(() => watched.ended !== undefined, 'the stream to end');
    assert.equal(watched.ended?.code, status.NOT_FOUND);
    assert.equal(errorCodeOf(watched.ended), 'E_VIDEO_NOT_FOUND');

    const bad = collect<Update>(grpc.stream('WatchVideo', { videoId: 'x' }, { token: bob.token }));
    await eventually(() => bad.ended !== undefined, 'the refusal');
    assert.equal(bad.ended?.code, status.INVALID_ARGUMENT);
  });

  it("SubscribeInteractions: the server's behaviour log for services; PERMISSION_DENIED for users", async () => {
    const v = await alice.http.createVideo({ title: 'streamed' });
    await bob.http.like(v.id);
    const asService = collect<{ events: { type: string; userId: string; videoId: string }[] }>(grpc.stream('SubscribeInteractions', {}, { token: serviceToken }));
    const asUser = collect(grpc.stream('SubscribeInteractions', {}, { token: bob.token }));
    await eventually(() => asService.items.some((b) => b.events.some((e) => e.type === 'like' && e.videoId === v.id)), "bob's like in the stream");
    const like = asService.items.flatMap((b) => b.events).find((e) => e.type === 'like' && e.videoId === v.id);
    assert.equal(like?.userId, bob.id);
    await eventually(() => asUser.ended !== undefined, 'the refusal');
    assert.equal(asUser.ended?.code, status.PERMISSION_DENIED);
  });

  it('serves grpc.health.v1 and server reflection', async () => {
    const healthPkg = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as unknown as {
      grpc: { health: { v1: { Health: new (a: string, c: ReturnType<typeof credentials.createInsecure>) => Client } } };
    };
    const health = new healthPkg.grpc.health.v1.Health(address, credentials.createInsecure()) as Client & {
      Check: (req: object, cb: (err: ServiceError | null, res: { status: string }) => void) => void;
    };
    for (const service of ['', 'tremolo.v1.Tremolo']) {
      const res = await new Promise<{ status: string }>((resolve, reject) => health.Check({ service }, (err, r) => (err ? reject(err) : resolve(r))));
      assert.equal(res.status, 'SERVING');
    }
    health.close();

    const require = createRequire(import.meta.url);
    const reflectionProto = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
    const reflectionPkg = loadPackageDefinition(loadSync(reflectionProto)) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: new (a: string, c: ReturnType<typeof credentials.createInsecure>) => Client } } };
    };
    const reflection = new reflectionPkg.grpc.reflection.v1.ServerReflection(address, credentials.createInsecure()) as Client & {
      ServerReflectionInfo: (m: Metadata) => ClientDuplexStream<object, { listServicesResponse?: { service: { name: string }[] } }>;
    };
    const info = reflection.ServerReflectionInfo(new Metadata());
    const answer = new Promise<string[]>((resolve, reject) => {
      info.on('data', (d: { listServicesResponse?: { service: { name: string }[] } }) => resolve(d.listServicesResponse?.service.map((s) => s.name) ?? []));
      info.on('error', reject);
    });
    info.write({ listServices: '' });
    assert.ok((await answer).includes('tremolo.v1.Tremolo'));
    info.end();
    reflection.close();
  });
});

describe('gRPC interface: shutdown and limits', () => {
  it('a graceful stop ends open streams with UNAVAILABLE (E_SHUTTING_DOWN), so clients resume elsewhere', async () => {
    const server = await startServer({ GRPC_PORT: '0' });
    const user = await newUser(server, 'stopper');
    const v = await user.http.createVideo({ title: 'stop' });
    const grpc = grpcClient(`127.0.0.1:${server.grpc!.port}`, { token: user.token });
    const watched = collect<Update>(grpc.stream('WatchVideo', { videoId: v.id }));
    await eventually(() => watched.items.length === 1, 'the snapshot');
    await server.close();
    await eventually(() => watched.ended !== undefined, 'the stream to end');
    assert.equal(watched.ended?.code, status.UNAVAILABLE);
    assert.equal(errorCodeOf(watched.ended), 'E_SHUTTING_DOWN');
    grpc.close();
  });

  it('GRPC_MAX_STREAMS bounds the streams one process serves: the next gets UNAVAILABLE (E_BUSY)', async () => {
    const server = await startServer({ GRPC_PORT: '0', GRPC_MAX_STREAMS: '1' });
    const user = await newUser(server, 'bounded');
    const v = await user.http.createVideo({ title: 'bounded' });
    const grpc = grpcClient(`127.0.0.1:${server.grpc!.port}`, { token: user.token });
    const one = grpc.stream('WatchVideo', { videoId: v.id });
    const held = collect<Update>(one);
    await eventually(() => held.items.length === 1, 'the first stream');
    const refused = collect<Update>(grpc.stream('WatchVideo', { videoId: v.id }));
    await eventually(() => refused.ended !== undefined, 'the refusal');
    assert.equal(refused.ended?.code, status.UNAVAILABLE);
    assert.equal(errorCodeOf(refused.ended), 'E_BUSY');
    one.cancel();
    grpc.close();
    await server.close();
  });
});
