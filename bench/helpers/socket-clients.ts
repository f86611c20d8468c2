/**
 * Child process: many lightweight live sockets. To keep client overhead far below the
 * server's, a Socket.IO socket here is a bare `ws` connection speaking the Engine.IO v4 /
 * Socket.IO v5 text protocol by hand (open, connect, ping/pong, events, acks) rather
 * than a full socket.io-client. `kind: 'ws'` opens plain WebSockets (the bare baseline).
 *
 * Commands: open {url, n, kind, videoId?, sampleEvery?}, results {}, close {}.
 * With a videoId each socket watches it and keeps the newest counters it received;
 * every `sampleEvery`-th socket also records (arrival time, version) of each update.
 */
import { WebSocket } from 'ws';
import { serveParent, sourceAddress } from './child.ts';

const now = () => performance.timeOrigin + performance.now();

interface Watcher {
  ws: WebSocket;
  likes: number;
  version: number;
  received: number;
  timeline?: [number, number][]; // [arrival ms, version]
}

const sockets: Watcher[] = [];
let delivered = 0;

function openOne(url: string, i: number, kind: 'sio' | 'ws', videoId: string | undefined, sample: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const target = kind === 'ws' ? url : `${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
    const ws = new WebSocket(target, { localAddress: sourceAddress(i), perMessageDeflate: false });
    const w: Watcher = { ws, likes: -1, version: -1, received: 0, ...(sample ? { timeline: [] } : {}) };
    sockets.push(w);
    const fail = (err: Error) => reject(err);
    ws.once('error', fail);
    if (kind === 'ws') {
      ws.once('open', () => resolve());
      return;
    }
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      const type = text[0];
      if (type === '2') return ws.send('3'); // engine.io ping
      if (type === '0') return ws.send('40'); // engine.io open -> socket.io connect
      if (text.startsWith('40')) {
        if (!videoId) return resolve();
        // sinceOffset: joining watchers are not counted as views (a view is a counter change, which the naive baseline would broadcast to the whole room per join)
        return ws.send(`421${JSON.stringify(['video:watch', { videoId, sinceOffset: 0 }])}`);
      }
      if (text.startsWith('431')) {
        const [ack] = JSON.parse(text.slice(3)) as [{ ok: boolean; snapshot?: { counters: { likes: number; version: number } } }];
        if (!ack.ok) return reject(new Error(`watch failed: ${text.slice(0, 200)}`));
        if (ack.snapshot && ack.snapshot.counters.version > w.version) {
          w.version = ack.snapshot.counters.version;
          w.likes = ack.snapshot.counters.likes;
        }
        return resolve();
      }
      if (text.startsWith('42')) {
        const at = now();
        const [event, payload] = JSON.parse(text.slice(2)) as [string, { likes: number; version: number }];
        if (event !== 'video:counters') return;
        delivered++;
        w.received++;
        if (payload.version > w.version) {
          w.version = payload.version;
          w.likes = payload.likes;
        }
        w.timeline?.push([at, payload.version]);
      }
      if (text.startsWith('44')) reject(new Error(`connect refused: ${text}`));
    });
  });
}

/**
 * Signed-in sockets that alternate like/unlike on one video (so every op changes the
 * counter), `ratePerSec` ops in total, for `seconds`; returns [ack time, version, send time] of each.
 */
async function like(url: string, tokens: string[], videoId: string, ratePerSec: number, seconds: number): Promise<{ acks: [number, number, number][]; failed: number; last: { likes: number; version: number } }> {
  const conns = await Promise.all(
    tokens.map(
      (token, i) =>
        new Promise<{ ws: WebSocket; liked: boolean; nextId: number; pending: Map<number, (t: string) => void> }>((resolve, reject) => {
          const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, { localAddress: sourceAddress(i + 3), perMessageDeflate: false });
          const c = { ws, liked: false, nextId: 1, pending: new Map<number, (t: string) => void>() };
          ws.once('error', reject);
          ws.on('message', (data: Buffer) => {
            const text = data.toString();
            if (text === '2') return ws.send('3');
            if (text[0] === '0') return ws.send(`40${JSON.stringify({ token })}`);
            if (text.startsWith('40')) return resolve(c);
            if (text.startsWith('44')) return reject(new Error(`connect refused: ${text}`));
            const m = /^43(\d+)/.exec(text);
            if (m) {
              const id = Number(m[1]);
              c.pending.get(id)?.(text.slice(2 + m[1]!.length));
              c.pending.delete(id);
            }
          });
        }),
    ),
  );
  const acks: [number, number, number][] = []; // [ack time, version, send time]
  let failed = 0;
  let last = { likes: -1, version: -1 };
  const total = Math.round(ratePerSec * seconds);
  const started = now();
  const inflight: Promise<void>[] = [];
  for (let k = 0; k < total; k++) {
    const due = started + (k * 1000) / ratePerSec;
    const wait = due - now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const c = conns[k % conns.length]!;
    const id = c.nextId++;
    const event = c.liked ? 'video:unlike' : 'video:like';
    c.liked = !c.liked;
    inflight.push(
      new Promise<void>((resolve) => {
        const sent = now();
        c.pending.set(id, (payload) => {
          const at = now();
          const [ack] = JSON.parse(payload) as [{ ok: boolean; counters?: { likes: number; version: number } }];
          if (ack.ok && ack.counters) {
            acks.push([at, ack.counters.version, sent]);
            if (ack.counters.version > last.version) last = { likes: ack.counters.likes, version: ack.counters.version };
          } else failed++;
          resolve();
        });
        c.ws.send(`42${id}${JSON.stringify([event, { videoId }])}`);
      }),
    );
  }
  await Promise.all(inflight);
  for (const c of conns) c.ws.terminate();
  return { acks, failed, last };
}

serveParent({
  like: async (args) => {
    const { url, tokens, videoId, ratePerSec, seconds } = args as { url: string; tokens: string[]; videoId: string; ratePerSec: number; seconds: number };
    return like(url, tokens, videoId, ratePerSec, seconds);
  },
  open: async (args) => {
    const { url, n, kind, videoId, sampleEvery, offset } = args as { url: string; n: number; kind: 'sio' | 'ws'; videoId?: string; sampleEvery?: number; offset?: number };
    const started = now();
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        await openOne(url, (offset ?? 0) + i, kind, videoId, sampleEvery !== undefined && i % sampleEvery === 0);
      }
    };
    await Promise.all(Array.from({ length: 200 }, worker));
    return { opened: n, ms: now() - started };
  },
  results: () => {
    const watching = sockets;
    const likes = watching.map((w) => w.likes);
    const versions = watching.map((w) => w.version);
    return {
      minVersion: Math.min(...versions),
      sockets: watching.length,
      delivered,
      minLikes: Math.min(...likes),
      maxLikes: Math.max(...likes),
      timelines: watching.filter((w) => w.timeline).map((w) => w.timeline),
    };
  },
  reset: () => {
    delivered = 0;
    for (const w of sockets) {
      w.received = 0;
      if (w.timeline) w.timeline = [];
    }
    return {};
  },
  close: async () => {
    for (const w of sockets) w.ws.terminate();
    sockets.length = 0;
    await new Promise((r) => setTimeout(r, 200));
    return {};
  },
});
process.send?.({ ready: true });
