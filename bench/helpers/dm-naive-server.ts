/**
 * Child process: the direct-message bench's baseline, the naive design the issue names. A bare
 * Socket.IO server on the same Redis: each `dm:send` is one storage round trip (a one-op
 * conversation-apply, no batching, no index update, no permission check) and one broadcast to
 * both members' rooms, then the ack. Tokens are checked as tremolo checks them.
 *
 * Env: REDIS_URL, REDIS_PREFIX, JWT_SECRET. Tells the parent `{ ready, url }`.
 */
import { userRoom } from '../../src/protocol/live.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import { benchConfig, serveSignedIn } from './dm-io.ts';

const config = benchConfig();
const store = await RedisStore.connect({ url: config.redisUrl, prefix: config.redisPrefix, limits: { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS, dmLogMax: config.dmLogMax }, timeoutMs: 5000 });

await serveSignedIn(
  (io, socket, userId) => {
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
  },
  () => store.close(),
);
