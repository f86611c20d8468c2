/**
 * Room deliveries (counters, comments) reach plain socket.io-client sockets over every
 * transport and parser: WebSocket (written straight to the connection), long polling and a
 * polling socket that upgrades (through Engine.IO), JSON and MessagePack. Each comment once,
 * in offset order, and the counters end on the final values.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io as rawIo, type Socket } from 'socket.io-client';
import type { Tremolo } from '../../src/main.ts';
import { msgpackParser } from '../../src/protocol/msgpack-parser.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';

type Transports = ['websocket'] | ['polling'] | ['polling', 'websocket'];

for (const parser of ['json', 'msgpack'] as const) {
  describe(`live room delivery (${parser})`, () => {
    let server: Tremolo;
    const sockets: Socket[] = [];
    before(async () => {
      server = await startServer({ SOCKET_PARSER: parser, LIVE_COUNTER_INTERVAL_MS: '20' });
    });
    after(async () => {
      for (const s of sockets) s.close();
      await server.close();
    });

    const open = (transports: Transports, token?: string) => {
      const s = rawIo(server.url, { transports, ...(parser === 'msgpack' ? { parser: msgpackParser } : {}), ...(token ? { auth: { token } } : {}), reconnection: false });
      sockets.push(s);
      return s;
    };

    it('delivers every comment once, in order, and the final counters, over WebSocket, long polling and an upgrade', async () => {
      const owner = await newUser(server, 'owner');
      const video = await owner.http.createVideo({ title: 'rooms' });
      const watchers = (
        [
          ['websocket'],
          ['polling'],
          ['polling', 'websocket'],
        ] as Transports[]
      ).map((transports) => {
        const socket = open(transports);
        const seen = { comments: [] as { offset: number; comment: { text: string } }[], likes: -1, commentCount: -1 };
        socket.on('comment:added', (batch: { offset: number; comment: { text: string } }[]) => seen.comments.push(...batch));
        socket.on('video:counters', (c: { likes: number; comments: number }) => {
          seen.likes = c.likes;
          seen.commentCount = c.comments;
        });
        return { transports, socket, seen };
      });
      for (const w of watchers) {
        const ack = (await w.socket.timeout(5000).emitWithAck('video:watch', { videoId: video.id })) as { ok: boolean };
        assert.equal(ack.ok, true, `${w.transports.join('+')} watches`);
      }
      const writer = open(['websocket'], owner.token);
      const texts = Array.from({ length: 8 }, (_, i) => `comment ${i}`);
      for (const text of texts) {
        const ack = (await writer.timeout(5000).emitWithAck('comment:add', { videoId: video.id, text, idempotencyKey: text })) as { ok: boolean };
        assert.equal(ack.ok, true, JSON.stringify(ack));
      }
      const liked = (await writer.timeout(5000).emitWithAck('video:like', { videoId: video.id })) as { ok: boolean };
      assert.equal(liked.ok, true);

      for (const w of watchers) {
        await eventually(() => w.seen.comments.length >= texts.length && w.seen.likes === 1 && w.seen.commentCount === texts.length, `${w.transports.join('+')}: comments and counters`);
        assert.deepEqual(
          w.seen.comments.map((c) => c.comment.text),
          texts,
          `${w.transports.join('+')}: each comment once, in order`,
        );
        const offsets = w.seen.comments.map((c) => c.offset);
        assert.deepEqual(offsets, [...offsets].sort((x, y) => x - y));
      }
      const upgraded = watchers[2]!.socket.io.engine.transport.name;
      assert.equal(upgraded, 'websocket', 'the polling socket upgraded');
    });
  });
}
