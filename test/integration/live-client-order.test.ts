/**
 * The SDK's side of exactly-once delivery, against a Socket.IO server that plays the
 * protocol's part by hand: events of one video may reach a room out of order (committed by
 * several processes at once), and a re-watch's ack leaves out what the room already sent the
 * socket (watch-holds.ts). A client that drops an event arriving ahead of a gap therefore
 * never sees it again: it must keep it until what precedes it arrives.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Server } from 'socket.io';
import { LiveClient } from '../../src/client/live-client.ts';
import type { ClientToServerEvents, CommentAdded, ServerToClientEvents, WatchReply } from '../../src/protocol/live.ts';
import { eventually } from '../helpers/server.ts';

const VIDEO = '0000000000001';
const added = (prev: number, offset: number): CommentAdded => ({
  type: 'comment:added',
  videoId: VIDEO,
  prev,
  offset,
  comment: { id: `${VIDEO}-${offset}`, videoId: VIDEO, authorId: '0000000000002', text: `c${offset}`, createdAt: new Date(0).toISOString() },
});
const snapshot = (offset: number): WatchReply['snapshot'] => ({
  counters: { likes: 0, comments: 0, views: 0, version: 1 },
  version: 1,
  offset,
  epoch: 'e1',
  latestComments: [],
  likedByMe: false,
});

describe('the SDK receiving comment events out of order', () => {
  const http = createServer();
  const io = new Server<ClientToServerEvents, ServerToClientEvents>(http);
  const rewatches: (number | undefined)[] = [];
  let url: string;
  before(async () => {
    io.on('connection', (socket) => {
      socket.on('video:watch', (req, ack) => {
        rewatches.push(req.sinceOffset);
        if (req.sinceOffset === undefined) {
          ack({ ok: true, videoId: VIDEO, snapshot: snapshot(0) });
          // after the ack, the room's batches: offset 4 (prev 2) overtook offset 2
          socket.emit('comment:added', [added(2, 4)]);
          socket.emit('comment:added', [added(0, 2)]);
          socket.emit('comment:added', [added(4, 6)]);
        } else {
          // the room has sent this socket everything up to 6: the ack carries none of it
          ack({ ok: true, videoId: VIDEO, snapshot: snapshot(6), events: [], recovered: true });
        }
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(async () => {
    await io.close();
  });

  it('keeps an event that arrived ahead of a gap and applies it once the gap is filled', async () => {
    const client = new LiveClient({ url });
    try {
      await client.connect();
      const seen: number[] = [];
      client.on('comment', (c) => seen.push(c.offset));
      await client.watch(VIDEO);
      await eventually(() => seen.length >= 3, 'three comments', 3000);
      assert.deepEqual(seen, [2, 4, 6]);
      assert.equal(client.offsetOf(VIDEO), 6);
    } finally {
      client.close();
    }
  });
});
