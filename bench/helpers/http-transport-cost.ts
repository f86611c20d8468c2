/**
 * CPU of the load generator per REST request, global fetch against the load tester's
 * keep-alive pool (src/loadtest/http-pool.ts), in one process, alternating rounds: what the
 * generator spends to send a request and read its answer, independent of how busy the machine
 * is (CPU time, not wall-clock rates).
 *
 *   node --import tsx bench/helpers/http-transport-cost.ts [--requests 4000] [--rounds 5] [--concurrency 50]
 *
 * The server is a child process (a node:http server answering a 1.5 KB JSON page, about a feed
 * page), so its CPU is not counted; the client's CPU (user + system) per request is.
 */
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { HttpClient, type HttpTransport } from '../../src/client/http-client.ts';
import { createHttpPool } from '../../src/loadtest/http-pool.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '4000' }, rounds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '50' }, serve: { type: 'boolean', default: false } } });

if (values.serve) {
  const { createServer } = await import('node:http');
  const page = JSON.stringify({ items: Array.from({ length: 10 }, (_, i) => ({ id: `v${i}`, title: 'a video title here', likes: i * 7, comments: i, views: i * 100, authorId: 'u1234567890' })), nextCursor: 'abc' });
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(page);
  });
  server.keepAliveTimeout = 72_000;
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as { port: number }).port));
} else {
  const child = fork(new URL(import.meta.url).pathname, ['--serve'], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((r) => child.once('message', (m) => r(m as number)));
  const base = `http://127.0.0.1:${port}`;
  const requests = Number(values.requests);
  const concurrency = Number(values.concurrency);
  const pool = createHttpPool();
  const fetchClient = new HttpClient(base, { token: 't' });
  const poolTransport: HttpTransport = pool.transport;
  const run = async (transport: HttpTransport | undefined) => {
    let left = requests;
    const c0 = process.cpuUsage();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (left-- > 0) await (transport ? new HttpClient(base, { token: 't', transport }) : fetchClient).feed({ limit: 10 });
      }),
    );
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / requests;
  };
  await run(undefined);
  await run(poolTransport);
  const out: Record<string, number[]> = { fetch: [], pool: [] };
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const name of r % 2 ? ['pool', 'fetch'] : ['fetch', 'pool']) out[name]!.push(await run(name === 'pool' ? poolTransport : undefined));
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const [name, xs] of Object.entries(out)) console.log(`${name}: ${med(xs).toFixed(1)} µs CPU per request (rounds: ${xs.map((x) => x.toFixed(1)).join(', ')})`);
  console.log(`pool / fetch: ${(med(out.pool!) / med(out.fetch!)).toFixed(2)}`);
  pool.close();
  child.kill();
}
