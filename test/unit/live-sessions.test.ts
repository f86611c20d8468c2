import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/domain/clock.ts';
import type { SocketData } from '../../src/protocol/live.ts';
import { OriginPolicy } from '../../src/transport/http/origins.ts';
import type { IoSocket } from '../../src/transport/live/io.ts';
import { LiveSessions } from '../../src/transport/live/sessions.ts';

/** The part of a Socket.IO socket sessions touch, recording what is done to it. */
function fakeSocket(token?: string) {
  const log: string[] = [];
  const socket = {
    conn: {},
    handshake: { auth: token ? { token } : {}, address: '127.0.0.1' },
    data: {} as SocketData,
    join: (room: string) => log.push(`join ${room}`),
    on: () => socket,
    emit: (event: string, payload: unknown) => log.push(`${event} ${JSON.stringify(payload)}`),
    disconnect: (close: boolean) => log.push(`disconnect ${close}`),
  };
  return { socket: socket as unknown as IoSocket, log };
}

function sessions(clock: ManualClock, expiresInS: number) {
  return new LiveSessions({
    clock,
    origins: new OriginPolicy({ listed: [] }),
    tokens: { verify: async () => ({ userId: '0000000000001', expiresAt: Math.floor(clock.now() / 1000) + expiresInS }) },
    settings: { allowAnonymous: true, maxSocketsPerUser: 2, maxSocketsPerIp: 10 },
  });
}

describe('LiveSessions', () => {
  it('ends a socket when its token expires, on the injected clock', async () => {
    const clock = new ManualClock(1_800_000_000_000);
    const live = sessions(clock, 10);
    const { socket, log } = fakeSocket('a.token');
    await live.handshake(socket);
    live.connected(socket);
    assert.deepEqual(log, ['join user:0000000000001']);

    clock.advance(9_000);
    assert.equal(log.length, 1, 'still valid');
    clock.advance(2_000);
    assert.deepEqual(log.slice(1), ['session:expired {"code":"E_TOKEN_EXPIRED"}', 'disconnect true']);
    live.close();
  });

  it('stops looking for expired tokens once closed', () => {
    const clock = new ManualClock();
    const live = sessions(clock, 10);
    assert.equal(clock.pendingTimers, 1);
    live.close();
    assert.equal(clock.pendingTimers, 0);
  });

  it('holds a place under the per-user cap from the handshake', async () => {
    const clock = new ManualClock();
    const live = sessions(clock, 60);
    for (let i = 0; i < 2; i++) {
      const { socket } = fakeSocket('a.token');
      await live.handshake(socket);
      live.connected(socket);
    }
    await assert.rejects(live.handshake(fakeSocket('a.token').socket), { code: 'E_TOO_MANY_CONNECTIONS' });
    live.close();
  });
});
