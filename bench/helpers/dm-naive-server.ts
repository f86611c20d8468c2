/**
 * Child process: the direct-message bench's baseline, the naive design the issue names. A bare
 * Socket.IO server on the same Redis: each `dm:send` is one storage round trip (a one-op
 * conversation-apply, no batching, no index update, no permission check) and one broadcast to
 * both members' rooms, then the ack. Tokens are checked as tremolo checks them.
 *
 * Env: REDIS_URL, REDIS_PREFIX, JWT_SECRET. Tells the parent `{ ready, url }`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { loadConfig, tokenSettings } from '../../src/config.ts';
import { userRoom } from '../../src/protocol/live.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import { TokenService } from '../../src/transport/auth/tokens.ts';
import { serveParent } from './child.ts';

const config = loadConfig({ LOG_LEVEL: 'silent', ...process.env });
const store = await RedisStore.connect({ url: config.redisUrl, prefix: config.redisPrefix, limits: { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS, dmLogMax: config.dmLogMax }, timeoutMs: 5000 });
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
  socket.on('dm:send', async (req: { conversationId: string; text: string; idempotencyKey: string }, ack: (r: object) => void) => {
    try {
      const id = req.conversationId;
      const r = await store.conversations.applyOps(id, [{ type: 'send', idempotencyKey: req.idempotencyKey, message: { senderId: userId, createdAt: new Date().toISOString(), text: req.text } }], { now: Date.now() });
      const first = r.results[0];
      if (!first?.ok || first.type !== 'send') return ack({ ok: false, code: first && !first.ok ? first.code : 'E_INTERNAL' });
      io.to(r.state.members.map(userRoom)).emit('dm:events', { conversationId: id, epoch: r.state.epoch, events: r.events });
      ack({ ok: true, message: first.message, duplicate: first.duplicate, epoch: r.state.epoch });
    } catch {
      ack({ ok: false, code: 'E_INTERNAL' });
    }
  });
});

await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
serveParent({
  close: async () => {
    await io.close();
    await store.close();
    return {};
  },
});
process.send?.({ ready: true, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` });
