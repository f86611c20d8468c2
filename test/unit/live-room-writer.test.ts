import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ws from 'ws';
import type { IoServer } from '../../src/transport/live/io.ts';
import { RoomWriter, webSocketFrame } from '../../src/transport/live/room-writer.ts';
import { WatchHolds } from '../../src/transport/live/watch-holds.ts';

/** `ws`'s own framing (untyped in @types/ws): what every WebSocket client here decodes. */
const wsFrame = (data: Buffer, opcode: number): Buffer =>
  Buffer.concat(
    (ws as unknown as { Sender: { frame(data: Buffer, o: object): Buffer[] } }).Sender.frame(data, { fin: true, opcode, mask: false, readOnly: false, rsv1: false }),
  );

/** A socket as the writer sees it: an Engine.IO connection over a `ws` WebSocket, recording what went where. */
function fakeSocket(id: string, conn: { readyState?: string; transport?: string; writable?: boolean; queued?: number; supportsBinary?: boolean } = {}) {
  const direct: Buffer[] = [];
  const queued: unknown[] = [];
  const socket = {
    id,
    conn: {
      readyState: conn.readyState ?? 'open',
      writeBuffer: new Array(conn.queued ?? 0).fill('earlier'),
      transport: {
        name: conn.transport ?? 'websocket',
        writable: conn.writable ?? true,
        supportsBinary: conn.supportsBinary ?? true,
        socket: { readyState: 1, _sender: { sendFrame: (list: Buffer[]) => direct.push(...list) } },
      },
    },
    client: { _packet: (packets: unknown) => queued.push(packets) },
  };
  return { socket, direct, queued };
}

function fakeIo(sockets: ReturnType<typeof fakeSocket>[], encode: (packet: object) => (string | Uint8Array)[]) {
  const map = new Map(sockets.map((s) => [s.socket.id, s.socket]));
  return { encoder: { encode }, of: () => ({ sockets: map }) } as unknown as IoServer;
}

const jsonEncode = (p: object) => [`2${JSON.stringify((p as { data: unknown }).data)}`];
const counters = { videoId: 'v', offset: 1, likes: 1, comments: 0, views: 0, version: 1 };

describe('live room writer', () => {
  it('builds the same WebSocket frame as ws, for every length encoding', () => {
    for (const n of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
      const data = Buffer.alloc(n, 0x61);
      assert.deepEqual(webSocketFrame(data, 0x1), wsFrame(data, 0x1), `text, ${n} bytes`);
      assert.deepEqual(webSocketFrame(data, 0x2), wsFrame(data, 0x2), `binary, ${n} bytes`);
    }
  });

  it('encodes once and writes the Engine.IO message frame to each open WebSocket', () => {
    const sockets = [fakeSocket('a'), fakeSocket('b'), fakeSocket('c')];
    let encodes = 0;
    const writer = new RoomWriter(
      fakeIo(sockets, (p) => {
        encodes++;
        return jsonEncode(p);
      }),
    );
    const written = writer.write(writer.encode('video:counters', counters), ['a', 'b', 'c', 'gone'], new Set(['c']));
    assert.equal(written, 2, 'an excepted socket and one no longer here are skipped');
    assert.equal(encodes, 1);
    const expected = wsFrame(Buffer.from(`42${JSON.stringify(['video:counters', counters])}`), 0x1);
    assert.deepEqual(sockets[0]!.direct, [expected]);
    assert.deepEqual(sockets[1]!.direct, [expected]);
    assert.deepEqual(sockets[2]!.direct, []);
  });

  it('queues behind what Engine.IO still holds for a socket, so nothing overtakes an earlier packet', () => {
    const busy = fakeSocket('busy', { queued: 1 });
    const inFlight = fakeSocket('inflight', { writable: false });
    const polling = fakeSocket('polling', { transport: 'polling' });
    const closing = fakeSocket('closing', { readyState: 'closing' });
    const writer = new RoomWriter(fakeIo([busy, inFlight, polling, closing], jsonEncode));
    writer.write(writer.encode('comment:pinned', { videoId: 'v', offset: 3, commentId: 'c' }), ['busy', 'inflight', 'polling', 'closing']);
    for (const s of [busy, inFlight, polling, closing]) {
      assert.deepEqual(s.direct, [], `${s.socket.id}: not written past Engine.IO`);
      assert.deepEqual(s.queued, [['2["comment:pinned",{"videoId":"v","offset":3,"commentId":"c"}]']], `${s.socket.id}: handed to Socket.IO's own path`);
    }
  });

  it('writes binary (MessagePack) packets as binary frames, and base64-only sockets through Engine.IO', () => {
    const packed = Uint8Array.from([0x82, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x02]);
    const binary = fakeSocket('bin');
    const b64 = fakeSocket('b64', { supportsBinary: false });
    const writer = new RoomWriter(fakeIo([binary, b64], () => [packed]));
    writer.write(writer.encode('video:counters', counters), ['bin', 'b64']);
    assert.deepEqual(binary.direct, [wsFrame(Buffer.from(packed), 0x2)]);
    assert.deepEqual(b64.direct, []);
    assert.equal(b64.queued.length, 1);
  });
});

describe('live watch holds: fresh joiners a counter update concerns', () => {
  it('finds the joiners whose ack covered the offset, and none once every joiner is below it, before and after one leaves', () => {
    const holds = new WatchHolds();
    holds.joined('v', 'a', 5);
    holds.joined('v', 'b', 9);
    assert.deepEqual(holds.joinedAtOrAbove('v', 6), new Set(['b']));
    assert.deepEqual(holds.joinedAtOrAbove('v', 5), new Set(['a', 'b']));
    assert.equal(holds.joinedAtOrAbove('v', 10), undefined);
    holds.unwatched('v', 'b');
    assert.equal(holds.joinedAtOrAbove('v', 6), undefined, 'the one above left');
    holds.joined('v', 'c', 12);
    assert.deepEqual(holds.joinedAtOrAbove('v', 6), new Set(['c']), 'a later joiner counts again');
    holds.passed('v', 13);
    assert.equal(holds.joinedAtOrAbove('v', 0), undefined, 'settled by a comment batch above every ack');
    assert.equal(holds.joinedAtOrAbove('other', 0), undefined);
  });
});
