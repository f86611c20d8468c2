/**
 * CPU of the load generator per delivered live event: the SDK's LiveClient (socket.io-client
 * underneath) against a bare `ws` socket speaking the same Engine.IO v4 / Socket.IO v5 text
 * protocol (as bench/helpers/socket-clients.ts does), both receiving the same `video:counters`
 * frames. Says what a lighter socket under LiveClient could save the capacity bench's generator.
 *
 *   node --import tsx bench/helpers/delivery-cost.ts [--sockets 1000] [--events 40] [--rounds 5]
 *
 * The sender is a child process (a minimal Socket.IO peer on `ws`: handshake, connect, watch ack,
 * then `--events` counters frames to every socket, 10 ms apart), so only the receiving side's CPU
 * (user + system of this process) is counted, per event delivered.
 */
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { LiveClient } from '../../src/client/live-client.ts';

const { values } = parseArgs({
  options: { sockets: { type: 'string', default: '1000' }, events: { type: 'string', default: '40' }, rounds: { type: 'string', default: '5' }, serve: { type: 'boolean', default: false } },
});
const VIDEO = '0000000000001';

if (values.serve) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/socket.io/', perMessageDeflate: false });
  const watching = new Set<WebSocket>();
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ sid: 'x', upgrades: [], pingInterval: 60_000, pingTimeout: 60_000, maxPayload: 1e6 }).replace(/^/, '0'));
    ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text.startsWith('40')) return ws.send('40{"sid":"s"}');
      const m = /^42(\d+)\["video:watch"/.exec(text);
      if (m) {
        watching.add(ws);
        const snapshot = { counters: { likes: 0, comments: 0, views: 0, version: 0 }, version: 0, offset: 0, epoch: 'e', latestComments: [], likedByMe: false };
        ws.send(`43${m[1]}${JSON.stringify([{ ok: true, videoId: VIDEO, snapshot }])}`);
      }
    });
    ws.on('close', () => watching.delete(ws));
  });
  wss.on('listening', () => process.send?.({ port: (wss.address() as { port: number }).port }));
  let version = 0;
  process.on('message', (m: { events: number }) => {
    let left = m.events;
    const tick = () => {
      version++;
      const frame = `42${JSON.stringify(['video:counters', { videoId: VIDEO, offset: 0, likes: version, comments: 3, views: 1000 + version, version }])}`;
      for (const ws of watching) ws.send(frame);
      if (--left > 0) setTimeout(tick, 10);
      else setTimeout(() => process.send?.({ sent: true }), 300);
    };
    tick();
  });
} else {
  const child = fork(new URL(import.meta.url).pathname, ['--serve'], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((r) => child.once('message', (m: { port: number }) => r(m.port)));
  const url = `http://127.0.0.1:${port}`;
  const n = Number(values.sockets);
  let received = 0;

  const full: LiveClient[] = [];
  for (let i = 0; i < n; i++) {
    const c = new LiveClient({ url, token: 't', socket: { localAddress: `127.0.0.${1 + (i % 8)}` } });
    c.on('counters', () => received++);
    await c.connect();
    await c.watch(VIDEO);
    full.push(c);
  }
  const bare: WebSocket[] = [];
  const bareVersion = new Map<WebSocket, number>();
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, { localAddress: `127.0.0.${1 + (i % 8)}`, perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('error', reject);
      ws.on('message', (data: Buffer) => {
        const text = data.toString();
        if (text[0] === '2') return ws.send('3');
        if (text[0] === '0') return ws.send('40{"token":"t"}');
        if (text.startsWith('40')) return ws.send(`421${JSON.stringify(['video:watch', { videoId: VIDEO }])}`);
        if (text.startsWith('431')) return resolve();
        if (text.startsWith('42')) {
          const [, p] = JSON.parse(text.slice(2)) as [string, { version: number }];
          if (p.version > (bareVersion.get(ws) ?? -1)) {
            bareVersion.set(ws, p.version);
            received++;
          }
        }
      });
    });
    bare.push(ws);
  }
  // both kinds stay connected and watching, and the sender's frames go to both: while one kind is
  // measured the other's sockets are paused (their frames wait in the kernel, read afterwards)
  const pause = (kind: 'full' | 'bare', paused: boolean) => {
    const sockets = kind === 'bare' ? bare.map((w) => (w as unknown as { _socket: import('node:net').Socket })._socket) : full.map((c) => (c.socket.io.engine.transport as unknown as { ws: { _socket: import('node:net').Socket } }).ws._socket);
    for (const s of sockets) {
      if (paused) s.pause();
      else s.resume();
    }
  };
  const measure = async (kind: 'full' | 'bare') => {
    pause(kind === 'full' ? 'bare' : 'full', true);
    received = 0;
    const c0 = process.cpuUsage();
    child.send({ events: Number(values.events) });
    await new Promise((r) => child.once('message', r));
    const c = process.cpuUsage(c0);
    const got = received;
    pause(kind === 'full' ? 'bare' : 'full', false);
    await new Promise((r) => setTimeout(r, 500)); // the paused kind drains its backlog, unmeasured
    return { us: (c.user + c.system) / got, got };
  };
  await measure('full');
  await measure('bare');
  const out: Record<'full' | 'bare', number[]> = { full: [], bare: [] };
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const kind of r % 2 ? (['bare', 'full'] as const) : (['full', 'bare'] as const)) {
      const m = await measure(kind);
      if (m.got < n * Number(values.events) * 0.9) console.error(`${kind}: only ${m.got} events arrived`);
      out[kind].push(m.us);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const kind of ['full', 'bare'] as const) console.log(`${kind === 'full' ? 'LiveClient (socket.io-client)' : 'bare ws, same protocol'}: ${med(out[kind]).toFixed(1)} µs CPU per delivered event (rounds: ${out[kind].map((x) => x.toFixed(1)).join(', ')})`);
  console.log(`bare / LiveClient: ${(med(out.bare) / med(out.full)).toFixed(2)}`);
  for (const c of full) c.close();
  for (const ws of bare) ws.close();
  child.kill();
  process.exit(0);
}
