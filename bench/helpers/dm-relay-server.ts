/**
 * Child process: the direct-message bench's ceiling. A bare Socket.IO server with no storage at
 * all: each `dm:send` is broadcast at once to both members' rooms and acknowledged. Nothing is
 * stored, ordered or deduplicated, so no real design can beat it on the same clients and box;
 * its rate is what Socket.IO and the clients alone allow here.
 *
 * Env: JWT_SECRET. Tells the parent `{ ready, url }`.
 */
import { userRoom } from '../../src/protocol/live.ts';
import { serveSignedIn } from './dm-io.ts';

await serveSignedIn((io, socket, userId) => {
  let seq = 0;
  socket.on('dm:send', (req: { conversationId: string; text: string }, ack: (r: object) => void) => {
    // a direct conversation's id is its two members' ids (protocol/dm.ts)
    const members = String(req.conversationId).split('.');
    const message = { id: `${userId}-${seq++}`, senderId: userId, text: req.text };
    io.to(members.map(userRoom)).emit('dm:events', { conversationId: req.conversationId, events: [{ type: 'message', message }] });
    ack({ ok: true, message });
  });
});
