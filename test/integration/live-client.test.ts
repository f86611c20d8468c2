/**
 * The SDK's own reconnect rules, against a real Socket.IO server that says what the test
 * needs: a client told to come back after a shutdown notice comes back, unless it was closed.
 * (A closed client that came back reconnected forever to a server that was gone, keeping its
 * process alive.)
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { Server } from 'socket.io';
import { LiveClient } from '../../src/client/live-client.ts';

/** A Socket.IO server that sends every new socket `server:shutdown` with this retry hint and drops it, as the gateway does. */
async function shutdownNotices(retryAfterMs: number) {
  const http = createServer();
  const io = new Server(http);
  let connections = 0;
  io.on('connection', (socket) => {
    connections++;
    socket.emit('server:shutdown', { retryAfterMs });
    socket.disconnect(true);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => io.close(() => resolve())),
  };
}

describe('LiveClient after a shutdown notice', () => {
  it('stays closed when closed before the hinted reconnect', async () => {
    const server = await shutdownNotices(0);
    const client = new LiveClient({ url: server.url });
    try {
      // the SDK's own listener (registered first) schedules its reconnect; then the app closes
      const closedAfterNotice = new Promise<void>((resolve) =>
        client.socket.once('server:shutdown', () => {
          client.close();
          // a timer of the same delay set later runs later: the SDK's has run by then
          setTimeout(resolve, 0);
        }),
      );
      await client.connect();
      await closedAfterNotice;
      assert.equal(client.socket.active, false, 'not reconnecting');
      assert.equal(server.connections(), 1);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('comes back by itself when not closed', async () => {
    const server = await shutdownNotices(0);
    const client = new LiveClient({ url: server.url });
    try {
      const back = new Promise<void>((resolve) => client.once('reconnected', () => resolve()));
      await client.connect();
      await back;
      assert.ok(server.connections() >= 2);
    } finally {
      client.close();
      await server.close();
    }
  });
});
