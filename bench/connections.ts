/**
 * Server memory per idle connected socket (issue 4): RSS (and JS heap) of a real tremolo
 * process after GC, with 0 and then N idle Socket.IO sockets connected from a separate
 * process; baseline in the same run: a bare `ws` server holding the same number.
 * Each figure is the best of --runs rounds (fresh server processes each round).
 *
 *   npm run bench -- connections [--sockets 10000] [--runs 3]
 */
import { parseArgs } from 'node:util';
import { startChild, startTremoloChild, type Child } from './helpers/child.ts';
import { describe, fmt, summarize } from './helpers/stats.ts';
import { report } from './report.ts';

const { values: argv } = parseArgs({ options: { sockets: { type: 'string', default: '10000' }, runs: { type: 'string', default: '3' } } });
const N = Number(argv.sockets);
const RUNS = Number(argv.runs);

interface Stats {
  rss: number;
  heapUsed: number;
  external: number;
}

const here = (p: string) => new URL(p, import.meta.url);

/** Bytes per socket held by `server` for N sockets of `kind`. */
async function perSocket(server: Child, kind: 'sio' | 'ws'): Promise<{ rss: number; heap: number }> {
  const { url } = (await server.ready) as { url: string };
  const clients = startChild(here('./helpers/socket-clients.ts'));
  await clients.ready;
  try {
    // warm the server's code paths with a few sockets first, so JIT and lazy init are not counted
    await clients.call('open', { url, n: 200, kind });
    await clients.call('close');
    await new Promise((r) => setTimeout(r, 500));
    const before = await server.call<Stats>('stats', { gc: true });
    await clients.call('open', { url, n: N, kind, offset: 200 });
    await new Promise((r) => setTimeout(r, 1500));
    const { sockets } = await server.call<{ sockets: number }>('sockets');
    if (sockets !== N) throw new Error(`server holds ${sockets} sockets, expected ${N}`);
    const after = await server.call<Stats>('stats', { gc: true });
    return { rss: (after.rss - before.rss) / N, heap: (after.heapUsed + after.external - before.heapUsed - before.external) / N };
  } finally {
    await clients.call('close').catch(() => {});
    await clients.stop();
  }
}

async function round(kind: 'sio' | 'ws'): Promise<{ rss: number; heap: number }> {
  const server =
    kind === 'sio' ? startTremoloChild({ USER_MAX_SOCKETS: '100000', SOCKET_MAX_PER_IP: '100000' }) : startChild(here('./helpers/ws-server.ts'));
  try {
    return await perSocket(server, kind);
  } finally {
    await server.stop();
  }
}

const tremolo: { rss: number; heap: number }[] = [];
const bare: { rss: number; heap: number }[] = [];
for (let r = 0; r < RUNS; r++) {
  tremolo.push(await round('sio'));
  bare.push(await round('ws'));
}
const kb = (b: number) => b / 1024;
const t = summarize(tremolo.map((x) => kb(x.rss)), true);
const th = summarize(tremolo.map((x) => kb(x.heap)), true);
const b = summarize(bare.map((x) => kb(x.rss)), true);
const bh = summarize(bare.map((x) => kb(x.heap)), true);
console.log(`${fmt(N)} idle sockets, server in its own process, RSS after GC, best of ${RUNS} (KB per socket)`);
console.log(`tremolo (Socket.IO gateway): RSS ${describe(t, 2)}; JS heap+external ${describe(th, 2)}`);
console.log(`bare ws server:              RSS ${describe(b, 2)}; JS heap+external ${describe(bh, 2)}`);
report('connections', 'KB RSS per socket', t.best, b.best);
