/**
 * A re-watch's ack covers only the events it carries. The engine reads a watch's missed
 * events from the log, then the snapshot; a comment committed between the two reads is in the
 * snapshot's head but not in the events. Counting the ack as covering the snapshot's head lost
 * that comment for good: held back during the watch as "already in the ack", filtered from the
 * room afterwards for the same reason. Across processes this happens whenever writes on other
 * nodes continue during a re-watch (test/integration/cluster-redis.test.ts); here it is made
 * to happen every time, by committing the comment from inside the log read.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io as rawIo, type Socket } from 'socket.io-client';
import type { Tremolo } from '../../src/main.ts';
import type { CommentAdded, WatchReply } from '../../src/protocol/live.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';

describe('a re-watch racing a write', () => {
  let server: Tremolo;
  let socket: Socket;
  before(async () => {
    server = await startServer();
    socket = rawIo(server.url, { transports: ['websocket'] });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
  });
  after(async () => {
    socket.close();
    await server.close();
  });

  it('delivers a comment committed between the log read and the snapshot, once', async () => {
    const author = await newUser(server, 'race');
    const video = await author.http.createVideo({ title: 'race' });
    const seen: CommentAdded[] = [];
    socket.on('comment:added', (batch: CommentAdded[]) => seen.push(...batch));
    const watch = (sinceOffset?: number) =>
      socket.emitWithAck('video:watch', { videoId: video.id, ...(sinceOffset !== undefined ? { sinceOffset } : {}) }) as Promise<WatchReply & { ok: boolean }>;
    const first = await watch();
    await author.http.comment(video.id, 'before');
    await eventually(() => seen.length === 1, 'the first comment live');

    // the next log read commits a comment before it returns
    const videos = server.store.videos;
    const read = videos.events.bind(videos);
    let during: Promise<unknown> | undefined;
    videos.events = async (...args) => {
      const range = await read(...args);
      during ??= server.engine.addComment(video.id, author.id, { text: 'during', idempotencyKey: 'during' });
      await during;
      return range;
    };
    let ack: WatchReply & { ok: boolean };
    try {
      ack = await watch(seen.at(-1)!.offset);
    } finally {
      videos.events = read;
    }
    assert.equal(ack.ok, true);
    assert.equal(ack.recovered, true);
    for (const e of ack.events ?? []) if (e.type === 'comment:added') seen.push(e);
    assert.ok(ack.snapshot.offset > first.snapshot.offset);

    await eventually(() => seen.some((e) => e.comment.text === 'during'), 'the comment written during the watch', 3000);
    await author.http.comment(video.id, 'after');
    await eventually(() => seen.some((e) => e.comment.text === 'after'), 'a later comment');
    assert.deepEqual(
      seen.map((e) => e.comment.text),
      ['before', 'during', 'after'],
    );
  });
});
