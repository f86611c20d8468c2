/**
 * Child process: the simplest possible live server, a bare `ws` server on node:http
 * (no per-message compression, nothing kept per socket), as the baseline for memory
 * per connection and for broadcast latency. Answers `stats` and `broadcast`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { serveParent } from './child.ts';

const http = createServer();
const wss = new WebSocketServer({ server: http, perMessageDeflate: false, clientTracking: true });
wss.on('connection', (ws: WebSocket) => {
  ws.on('error', () => {});
});
await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
serveParent({
  sockets: () => ({ sockets: wss.clients.size }),
});
process.send?.({ ready: true, url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`, pid: process.pid });
