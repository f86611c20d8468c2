/**
 * A plain socket.io-client whose parser is not the server's learns why at once, through
 * `connect_error` in its own format, instead of reconnecting silently until its timeout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io as rawIo, type Socket } from 'socket.io-client';
import type { Tremolo } from '../../src/main.ts';
import { msgpackParser } from '../../src/protocol/msgpack-parser.ts';
import { startServer } from '../helpers/server.ts';

type Outcome = { connected: true } | { connected: false; message: string; code: unknown };

/** The first connect or connect_error of a raw client (the test runner's timeout bounds it). */
function firstOutcome(socket: Socket): Promise<Outcome> {
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ connected: true }));
    socket.once('connect_error', (err: Error & { data?: { code?: unknown } }) =>
      resolve({ connected: false, message: err.message, code: err.data?.code }),
    );
  });
}

for (const server of ['json', 'msgpack'] as const) {
  const other = server === 'json' ? 'msgpack' : 'json';
  describe(`a ${server} server`, () => {
    let tremolo: Tremolo;
    const sockets: Socket[] = [];
    const open = (parser: 'json' | 'msgpack') => {
      const s = rawIo(tremolo.url, { transports: ['websocket'], ...(parser === 'msgpack' ? { parser: msgpackParser } : {}) });
      sockets.push(s);
      return s;
    };
    before(async () => {
      tremolo = await startServer({ SOCKET_PARSER: server });
    });
    after(async () => {
      for (const s of sockets) s.close();
      await tremolo.close();
    });

    it(`refuses a ${other} client with connect_error E_PARSER_MISMATCH, and it does not retry`, async () => {
      const socket = open(other);
      let attempts = 0;
      socket.io.on('reconnect_attempt', () => attempts++);
      const outcome = await firstOutcome(socket);
      assert.ok(!outcome.connected);
      assert.equal(outcome.code, 'E_PARSER_MISMATCH');
      assert.match(outcome.message, new RegExp(`speaks ${server}`));
      assert.equal(attempts, 0);
      assert.equal(socket.connected, false);
    });

    it(`still connects a ${server} client`, async () => {
      assert.deepEqual(await firstOutcome(open(server)), { connected: true });
    });
  });
}
