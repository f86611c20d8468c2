/**
 * WatchVideo across a server restart: tremolo runs as its own OS process on Redis; a stream
 * gets events, the process stops (the stream ends UNAVAILABLE), a new process starts on the
 * same storage, more is written, and the stream resumed from the last offset it received
 * yields every later offset once, in order: what was written while it was away, then what
 * comes next.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { HttpClient } from '../../src/client/http-client.ts';
import { collect, errorCodeOf, grpcClient } from '../helpers/grpc.ts';
import { spawnServer, type ServerProcess } from '../helpers/process.ts';
import { connectRedis, dropPrefix, freePort, randomPrefix, REDIS_URL } from '../helpers/redis.ts';
import { eventually } from '../helpers/eventually.ts';

interface Update {
  kind: 'snapshot' | 'event';
  snapshot?: { offset: number; epoch: string };
  event?: { offset: number; kind: string; commentAdded?: { text: string } };
}

describe('gRPC WatchVideo across a restart (spawned servers on Redis)', () => {
  const prefix = randomPrefix('grpc-restart');
  const running: ServerProcess[] = [];
  let grpcPort: number;
  const start = async () => {
    const server = await spawnServer({ STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, GRPC_PORT: String(grpcPort), GRPC_HOST: '127.0.0.1' });
    running.push(server);
    return server;
  };

  before(async () => {
    grpcPort = await freePort();
  });
  after(async () => {
    for (const s of running) await s.stop();
    const admin = await connectRedis();
    await dropPrefix(admin, prefix);
    admin.disconnect();
  });

  it('a stream resumed from offset N on the new process yields N+1, N+2, ... with no gap and no duplicate', async () => {
    const first = await start();
    const http = new HttpClient(first.url);
    const session = await http.register(`restart${process.pid}x${Date.now() % 1e6}`, 'correct horse battery');
    const video = await http.createVideo({ title: 'survives restarts' });

    const before = grpcClient(`127.0.0.1:${grpcPort}`, { token: session.token });
    const watched = collect<Update>(before.stream('WatchVideo', { videoId: video.id }));
    await eventually(() => watched.items.length === 1, 'the snapshot', 30_000);
    const snapshot = watched.items[0]!.snapshot!;
    await http.comment(video.id, 'before 1');
    await http.like(video.id);
    await http.comment(video.id, 'before 2');
    await eventually(() => watched.items.some((u) => u.event?.commentAdded?.text === 'before 2'), 'the events before the restart', 30_000);

    await first.stop();
    await eventually(() => watched.ended !== undefined, 'the stream to end with the server', 30_000);
    assert.equal(watched.ended?.code, status.UNAVAILABLE);
    assert.equal(errorCodeOf(watched.ended), 'E_SHUTTING_DOWN');
    before.close();
    const seen = watched.items.slice(1).map((u) => u.event!.offset);
    const lastSeen = seen.at(-1)!;

    const second = await start();
    const http2 = new HttpClient(second.url);
    await http2.login(session.user.handle, 'correct horse battery');
    await http2.comment(video.id, 'while away');
    const resumedClient = grpcClient(`127.0.0.1:${grpcPort}`, { token: session.token });
    const resumedCall = resumedClient.stream('WatchVideo', { videoId: video.id, sinceOffset: lastSeen, epoch: snapshot.epoch });
    const resumed = collect<Update>(resumedCall);
    await eventually(() => resumed.items.some((u) => u.event?.commentAdded?.text === 'while away'), 'what was written while away', 30_000);
    await http2.comment(video.id, 'after');
    await eventually(() => resumed.items.some((u) => u.event?.commentAdded?.text === 'after'), 'what came next', 30_000);

    assert.ok(resumed.items.every((u) => u.kind === 'event'), 'the log reached back: events only, no snapshot');
    const all = [...seen, ...resumed.items.map((u) => u.event!.offset)];
    assert.deepEqual(all, all.map((_, i) => snapshot.offset + 1 + i), 'one run of offsets across the restart');
    const texts = [...watched.items, ...resumed.items].flatMap((u) => (u.event?.commentAdded ? [u.event.commentAdded.text] : []));
    assert.deepEqual(texts, ['before 1', 'before 2', 'while away', 'after']);
    resumedCall.cancel();
    resumedClient.close();
  });
});
