/**
 * Child process: the direct-message bench's users, each a plain socket.io-client socket (not
 * the SDK: what a raw client sees is the server's work), signed in with its token.
 *
 * Commands:
 *   open  {url, users: [{userId, token}]}                     one socket per user
 *   send  {pairs: [{from, to, conversationId}], rate, seconds}  `rate` sends/s in all, round robin
 *         over the pairs (each alternates direction), for `seconds`; resolves when every ack
 *         came back (or its timeout passed)
 *   results {}   per send: acked or not; per delivery: latency, and duplicates or misses
 *   close {}
 *
 * A message's text names it (`<run>:<n>`), so its two devices (sender's and recipient's
 * socket, both in this process) recognise it and find when it was sent. Times are
 * performance.timeOrigin + now(), comparable across the processes of one machine.
 */
import { io, type Socket } from 'socket.io-client';
import { serveParent } from './child.ts';

const now = () => performance.timeOrigin + performance.now();
const ACK_TIMEOUT_MS = 10_000;

interface Sent {
  at: number;
  /** Devices that received it: the sender's and the recipient's sockets. */
  arrivals: number;
  /** When it first reached the recipient. */
  deliveredAt: number;
  acked: boolean;
  from: string;
}

const sockets = new Map<string, Socket>();
let sent = new Map<string, Sent>();
let duplicates = 0;
let failed = 0;
let failCodes: Record<string, number> = {};

function open(url: string, userId: string, token: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
    sockets.set(userId, socket);
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(err));
    socket.on('dm:events', (payload: { events: { type: string; message?: { text: string; senderId: string } }[] }) => {
      const at = now();
      for (const e of payload.events) {
        if (e.type !== 'message' || !e.message) continue;
        const s = sent.get(e.message.text);
        if (!s) continue; // the conversations' first messages, sent before the run
        s.arrivals++;
        if (e.message.senderId !== userId && s.deliveredAt === 0) s.deliveredAt = at;
        if (s.arrivals > 2) duplicates++;
      }
    });
  });
}

async function send(pairs: { from: string; to: string; conversationId: string }[], rate: number, seconds: number, run: string): Promise<{ ms: number; sent: number }> {
  const total = Math.round(rate * seconds);
  const started = now();
  let n = 0;
  let outstanding = 0;
  let allSent!: () => void;
  const done = new Promise<void>((resolve) => (allSent = resolve));
  const sendOne = () => {
    const i = n++;
    const p = pairs[i % pairs.length]!;
    const flip = Math.floor(i / pairs.length) % 2 === 1;
    const from = flip ? p.to : p.from;
    const text = `${run}:${i}`;
    const s: Sent = { at: now(), arrivals: 0, deliveredAt: 0, acked: false, from };
    sent.set(text, s);
    outstanding++;
    sockets
      .get(from)!
      .timeout(ACK_TIMEOUT_MS)
      .emit('dm:send', { conversationId: p.conversationId, text, idempotencyKey: text }, (err: Error | null, ack: { ok: boolean; code?: string }) => {
        if (!err && ack.ok) s.acked = true;
        else {
          failed++;
          const code = err ? 'timeout' : (ack.code ?? '?');
          failCodes[code] = (failCodes[code] ?? 0) + 1;
        }
        if (--outstanding === 0 && n === total) allSent();
      });
  };
  // a tick sends what is due by now: the rate holds however the timers are late
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((now() - started) / 1000) * rate));
      while (n < due) sendOne();
      if (n >= total) return resolve();
      setTimeout(tick, 5);
    };
    tick();
  });
  if (outstanding > 0) await done;
  return { ms: now() - started, sent: total };
}

serveParent({
  open: async (args) => {
    const { url, users } = args as { url: string; users: { userId: string; token: string }[] };
    for (let i = 0; i < users.length; i += 100) await Promise.all(users.slice(i, i + 100).map((u) => open(url, u.userId, u.token)));
    return { opened: sockets.size };
  },
  send: async (args) => {
    const { pairs, rate, seconds, run } = args as { pairs: { from: string; to: string; conversationId: string }[]; rate: number; seconds: number; run: string };
    sent = new Map();
    duplicates = 0;
    failed = 0;
    failCodes = {};
    return send(pairs, rate, seconds, run);
  },
  /** After the run has drained: acked, latencies of acked messages, and what arrived wrongly. */
  results: async () => {
    // deliveries leave after the acks (the output gate): give the last ones a moment to land
    const settleBy = now() + 5000;
    const arrived = () => [...sent.values()].every((s) => !s.acked || s.arrivals >= 2);
    while (!arrived() && now() < settleBy) await new Promise((r) => setTimeout(r, 20));
    let acked = 0;
    let missing = 0;
    const latencies: number[] = [];
    for (const s of sent.values()) {
      if (!s.acked) continue;
      acked++;
      if (s.arrivals < 2 || s.deliveredAt === 0) missing++;
      else latencies.push(s.deliveredAt - s.at);
    }
    return { acked, failed, failCodes, missing, duplicates, latencies };
  },
  close: () => {
    for (const s of sockets.values()) s.disconnect();
    sockets.clear();
    return {};
  },
});
process.send?.({ ready: true });
