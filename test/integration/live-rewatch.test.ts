/**
 * Exactly-once delivery across re-watches, for a plain socket.io-client (not the SDK, which
 * drops duplicates itself): while comments keep arriving, a client that re-watches with
 * `sinceOffset` gets each comment event once, in offset order, either in a watch ack or live.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io as rawIo, type Socket } from 'socket.io-client';
import type { Tremolo } from '../../src/main.ts';
import { msgpackParser } from '../../src/protocol/msgpack-parser.ts';
import type { CommentAdded, WatchReply } from '../../src/protocol/live.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';

type WatchAck = WatchReply & { ok: boolean };

/**
 * `video:watch` with a plain ack callback that records the ack's comment events the moment the
 * ack is read, so `seen` is in wire order (an awaited emitWithAck resumes only after the packets
 * that follow the ack in the same read have been handled).
 */
function watchInto(socket: Socket, seen: CommentAdded[], videoId: string, sinceOffset?: number): Promise<WatchAck> {
  return new Promise((resolve) => {
    socket.emit('video:watch', { videoId, ...(sinceOffset !== undefined ? { sinceOffset } : {}) }, (ack: WatchAck) => {
      for (const e of ack.events ?? []) if (e.type === 'comment:added') seen.push(e);
      resolve(ack);
    });
  });
}

for (const parser of ['json', 'msgpack'] as const) {
  describe(`re-watch with sinceOffset (${parser}, raw socket.io-client)`, () => {
    let server: Tremolo;
    let socket: Socket;
    before(async () => {
      server = await startServer({ SOCKET_PARSER: parser, SOCKET_EVENTS_PER_SEC: '10000', USER_EVENTS_PER_SEC: '10000' });
      socket = await connect();
    });
    after(async () => {
      socket.close();
      await server.close();
    });
    const connect = async (): Promise<Socket> => {
      const s = rawIo(server.url, { transports: ['websocket'], ...(parser === 'msgpack' ? { parser: msgpackParser } : {}) });
      await new Promise<void>((resolve, reject) => {
        s.once('connect', resolve);
        s.once('connect_error', reject);
      });
      return s;
    };

    it('delivers every comment event exactly once and in order to a client that unwatches and re-watches under writes', async () => {
      const author = await newUser(server, 'rewatch');
      const video = await author.http.createVideo({ title: 're-watch' });
      const seen: CommentAdded[] = [];
      socket.on('comment:added', (batch: CommentAdded[]) => seen.push(...batch));
      const first = await watchInto(socket, seen, video.id);
      assert.equal(first.ok, true);

      const total = 120;
      let written = 0;
      const writer = (async () => {
        for (let i = 0; i < total; i += 4) {
          await Promise.all([0, 1, 2, 3].map((k) => author.http.comment(video.id, `c${i + k}`)));
          written += 4;
        }
      })();
      let rewatches = 0;
      while (written < total) {
        // on the same connection: unwatch first, so nothing more is on its way; then resume
        assert.equal(((await socket.emitWithAck('video:unwatch', { videoId: video.id })) as { ok: boolean }).ok, true);
        const last = seen.at(-1)?.offset ?? first.snapshot.offset;
        const ack = await watchInto(socket, seen, video.id, last);
        assert.equal(ack.ok, true);
        assert.notEqual(ack.recovered, false);
        rewatches++;
      }
      await writer;
      await eventually(() => seen.length >= total, `${total} comment events`);

      const offsets = seen.map((e) => e.offset);
      assert.equal(new Set(offsets).size, offsets.length, `duplicates after ${rewatches} re-watches`);
      for (let i = 1; i < seen.length; i++) {
        assert.ok(seen[i]!.offset > seen[i - 1]!.offset, `out of order at ${i}`);
        assert.equal(seen[i]!.prev, seen[i - 1]!.offset, `gap before offset ${seen[i]!.offset}`);
      }
      assert.equal(seen.length, total);
      assert.ok(rewatches > 1);
    });

    it('delivers every comment event exactly once to fresh connections that watch with sinceOffset', async () => {
      const author = await newUser(server, 'resume');
      const video = await author.http.createVideo({ title: 'resume' });
      const seen: CommentAdded[] = [];
      const probe = await connect();
      const start = (await probe.emitWithAck('video:watch', { videoId: video.id })) as WatchReply;
      probe.close();
      const total = 80;
      let written = 0;
      const writer = (async () => {
        for (let i = 0; i < total; i += 4) {
          await Promise.all([0, 1, 2, 3].map((k) => author.http.comment(video.id, `r${i + k}`)));
          written += 4;
        }
      })();
      let since = start.snapshot.offset;
      let sockets = 0;
      // each round: a new connection (as after a network change) resumes from what it has seen
      while (written < total) {
        const s = await connect();
        s.on('comment:added', (batch: CommentAdded[]) => seen.push(...batch));
        const ack = await watchInto(s, seen, video.id, since);
        assert.equal(ack.ok, true);
        await eventually(() => seen.length >= Math.min(written, total) || written >= total, 'the connection catches up');
        s.off('comment:added'); // what arrives after this is not seen: the next connection asks again
        s.close();
        since = seen.at(-1)?.offset ?? since;
        sockets++;
      }
      await writer;
      const last = await connect();
      last.on('comment:added', (batch: CommentAdded[]) => seen.push(...batch));
      await watchInto(last, seen, video.id, since);
      last.close();

      const offsets = seen.map((e) => e.offset);
      assert.equal(new Set(offsets).size, offsets.length, `duplicates over ${sockets} connections`);
      for (let i = 1; i < seen.length; i++) assert.equal(seen[i]!.prev, seen[i - 1]!.offset, `gap or disorder at ${i}`);
      assert.equal(seen.length, total);
    });
  });
}
