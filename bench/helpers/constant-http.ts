/**
 * Child process: a bare node:http server answering every request with one constant JSON
 * body (BODY_BYTES long), the ceiling an HTTP endpoint of that size can reach here.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveParent } from './child.ts';

const size = Number(process.env.BODY_BYTES ?? '2048');
const filler = 'x'.repeat(Math.max(0, size - 12));
const body = Buffer.from(JSON.stringify({ items: filler }).slice(0, size).padEnd(size - 1, ' ') + '}');
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
serveParent({});
process.send?.({ ready: true, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, pid: process.pid, bytes: body.length });
