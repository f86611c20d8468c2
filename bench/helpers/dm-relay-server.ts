/**
 * Child process: the direct-message bench's ceiling. A bare Socket.IO server with no storage at
 * all: each `dm:send` is broadcast at once to both members' rooms and acknowledged. Nothing is
 * stored, ordered or deduplicated, so no real design can beat it on the same clients and box;
 * its rate is what Socket.IO and the clients alone allow here. Tokens are checked as tremolo
 * checks them, once per connection.
 *
 * Env: JWT_SECRET. Tells the parent `{ ready, url }`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { loadConfig, tokenSettings } from '../../src/config.ts';
import { userRoom } from '../../src/protocol/live.ts';
import { TokenService } from '../../src/transport/auth/tokens.ts';
import { serveParent } from './child.ts';

const config = loadConfig({ LOG_LEVEL: 'silent', ...process.env });
const tokens = new TokenService(tokenSettings(config));
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
  let seq = 0;
  socket.on('dm:send', (req: { conversationId: string; text: string }, ack: (r: object) => void) => {
    // a direct conversation's id is its two members' ids (protocol/dm.ts)
    const members = String(req.conversationId).split('.');
    const message = { id: `${userId}-${seq++}`, senderId: userId, text: req.text };
    io.to(members.map(userRoom)).emit('dm:events', { conversationId: req.conversationId, events: [{ type: 'message', message }] });
    ack({ ok: true, message });
  });
});

await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
serveParent({
  close: async () => {
    await io.close();
    return {};
  },
});
process.send?.({ ready: true, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` });
