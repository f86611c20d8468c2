/**
 * Child process: the bare `ws` baseline of live fan-out (issue 21). No Socket.IO, no engine,
 * no storage: one node:http + `ws` server that keeps each video's likers and counters in a
 * Map, acks likes at once, and sends counter events to the watchers of a video with the
 * same interval policy as tremolo (the same CounterCoalescer: LIVE_COUNTER_INTERVAL_MS,
 * LIVE_DELIVERY_BUDGET; rooms bigger than LIVE_BROADCAST_SLICE delivered in slices spread
 * over the interval, each slice with the newest counters). One frame string per slice,
 * written to each socket with `ws.send`: what a hand-written server does at best.
 *
 * It speaks just enough of the Engine.IO v4 / Socket.IO v5 text protocol (open, connect,
 * event, ack) for bench/helpers/socket-clients.ts to drive it exactly as it drives tremolo:
 * the same clients, the same messages. The token a client connects with is its user id.
 * Answers `counters` {videoId} besides the built-in `stats`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { loadConfig } from '../../src/config.ts';
import { systemClock } from '../../src/domain/clock.ts';
import type { CounterPayload } from '../../src/protocol/live.ts';
import { CounterCoalescer } from '../../src/transport/live/counter-coalescer.ts';
import { serveParent } from './child.ts';

const config = loadConfig({ LOG_LEVEL: 'silent', ...process.env });
const SLICE = config.liveBroadcastSlice;

interface Video {
  likers: Set<string>;
  likes: number;
  version: number;
  watchers: Set<WebSocket>;
}
const videos = new Map<string, Video>();
const videoOf = (id: string): Video => {
  let v = videos.get(id);
  if (!v) videos.set(id, (v = { likers: new Set(), likes: 0, version: 0, watchers: new Set() }));
  return v;
};

const coalescer = new CounterCoalescer({
  clock: systemClock,
  baseIntervalMs: config.liveCounterIntervalMs,
  budgetPerSec: config.liveDeliveryBudget,
  roomSize: (videoId) => videos.get(videoId)?.watchers.size ?? 0,
  emit: (payload) => deliver(payload),
});

const frame = (p: CounterPayload) => `42${JSON.stringify(['video:counters', p])}`;

/** tremolo's rolling delivery (transport/live/delivery.ts), on bare sockets. */
function deliver(payload: CounterPayload): void {
  const members = [...(videos.get(payload.videoId)?.watchers ?? [])];
  if (SLICE === 0 || members.length <= SLICE) {
    const text = frame(payload);
    for (const ws of members) ws.send(text);
    return;
  }
  const slices = Math.ceil(members.length / SLICE);
  const step = coalescer.intervalFor(payload.videoId) / slices;
  for (let k = 0; k < slices; k++) {
    const part = members.slice(k * SLICE, (k + 1) * SLICE);
    const send = () => {
      const text = frame(coalescer.latest(payload.videoId) ?? payload);
      for (const ws of part) if (ws.readyState === ws.OPEN) ws.send(text);
    };
    if (k === 0) send();
    else setTimeout(send, k * step).unref();
  }
}

const ack = (ws: WebSocket, id: string, body: object) => ws.send(`43${id}${JSON.stringify([body])}`);

const http = createServer();
const wss = new WebSocketServer({ server: http, perMessageDeflate: false, clientTracking: false });
let sid = 0;
wss.on('connection', (ws: WebSocket) => {
  let user = '';
  const watching = new Set<Video>();
  ws.on('error', () => {});
  ws.on('close', () => {
    for (const v of watching) v.watchers.delete(ws);
  });
  ws.send(`0${JSON.stringify({ sid: `s${++sid}`, upgrades: [], pingInterval: 25000, pingTimeout: 20000, maxPayload: 1e6 })}`);
  ws.on('message', (data: Buffer) => {
    const text = data.toString();
    if (text.startsWith('40')) {
      if (text.length > 2) user = (JSON.parse(text.slice(2)) as { token?: string }).token ?? '';
      return ws.send(`40${JSON.stringify({ sid: `s${sid}` })}`);
    }
    const m = /^42(\d+)/.exec(text);
    if (!m) return;
    const id = m[1]!;
    const [event, body] = JSON.parse(text.slice(2 + id.length)) as [string, { videoId: string }];
    const v = videoOf(body.videoId);
    if (event === 'video:watch') {
      v.watchers.add(ws);
      watching.add(v);
      return ack(ws, id, { ok: true, snapshot: { counters: { likes: v.likes, comments: 0, views: 0, version: v.version } } });
    }
    if (event === 'video:like' || event === 'video:unlike') {
      const changed = event === 'video:like' ? !v.likers.has(user) && v.likers.add(user) !== undefined : v.likers.delete(user);
      if (changed) {
        v.likes = v.likers.size;
        v.version++;
      }
      const counters = { likes: v.likes, comments: 0, views: 0, version: v.version };
      ack(ws, id, { ok: true, changed, counters });
      if (changed) coalescer.offer({ videoId: body.videoId, offset: v.version, ...counters });
    }
  });
});
// PORT: a fixed port where the machine's ports are shared out (default: any free one)
await new Promise<void>((r) => http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', r));
serveParent({
  counters: (args) => {
    const v = videoOf(String(args.videoId));
    return { counters: { likes: v.likes, version: v.version } };
  },
});
process.send?.({ ready: true, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, pid: process.pid });
