/**
 * What the direct-message bench's two comparison servers (dm-naive-server.ts, dm-relay-server.ts)
 * share: a bare Socket.IO server over WebSocket that signs users in with their tokens as
 * tremolo does, once per connection, and joins each socket to its user's room; and telling the
 * parent where it listens.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { loadConfig, tokenSettings } from '../../src/config.ts';
import { userRoom } from '../../src/protocol/live.ts';
import { TokenService } from '../../src/transport/auth/tokens.ts';
import { serveParent } from './child.ts';

export const benchConfig = () => loadConfig({ LOG_LEVEL: 'silent', ...process.env });

/** Listens on a free port; `onSocket` gets each signed-in socket and its user id. Resolves once the parent was told `{ ready, url }`. */
export async function serveSignedIn(onSocket: (io: Server, socket: Socket, userId: string) => void, close: () => Promise<void> = async () => {}): Promise<void> {
  const tokens = new TokenService(tokenSettings(benchConfig()));
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'] });
  io.use((socket, next) => {
    const token = (socket.handshake.auth as { token?: string }).token;
    tokens.verify(token).then(
      (p) => {
        socket.data.userId = p.userId;
        next();
      },
      () => next(new Error('E_UNAUTHORIZED')),
    );
  });
  io.on('connection', (socket) => {
    const userId = socket.data.userId as string;
    void socket.join(userRoom(userId));
    onSocket(io, socket, userId);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  serveParent({
    close: async () => {
      await io.close();
      await close();
      return {};
    },
  });
  process.send?.({ ready: true, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` });
}
