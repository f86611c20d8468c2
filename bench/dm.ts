/**
 * Direct messages end to end (issue 19): 2,000 signed-in users in 1,000 one-to-one
 * conversations, each a plain socket.io-client socket, in CLIENTS separate processes
 * (bench/helpers/dm-clients.ts), against a real tremolo on Redis in its own process, so the
 * figure is the server's work and not the clients'.
 *
 * Phase 1 (throughput): the users send at a fixed total rate (--rate, the issue's 20,000/s)
 * for --seconds; value = acknowledged messages / (first send -> last ack). Every
 * acknowledged message must arrive exactly once at both devices (sender's and recipient's
 * socket): the run fails otherwise.
 * Phase 2 (latency): at half the rate phase 1 sustained, send -> deliver (at the recipient's
 * socket) p50 / p99.
 * Baseline, same run, same clients and Redis: the naive design (helpers/dm-naive-server.ts),
 * one storage round trip and one broadcast per message, given the same phase 1.
 * Ceiling, same run, same clients: a bare Socket.IO relay (helpers/dm-relay-server.ts) that
 * stores nothing and only acks and broadcasts, given the same phase 1: the most any design
 * built on Socket.IO can acknowledge with these clients on this box.
 * Both run on a private redis-server started for the run (the shared one at 6379 carries
 * everyone else's tests, whose load would be measured too).
 *
 *   npm run bench -- dm [--rate 20000] [--seconds 5] [--clients 2] [--naive false] [--relay false]
 * With BENCH_DM_PROF=<dir>, the tremolo server and each client process write a V8 CPU profile of
 * the throughput phase (only) there, and a sampling heap profile: dm-server.cpuprofile,
 * dm-server.heapprofile, dm-client-<i>.cpuprofile, ...
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, tokenSettings } from '../src/config.ts';
import { TsidGenerator } from '../src/domain/ids.ts';
import { directConversationId } from '../src/protocol/dm.ts';
import { RedisStore } from '../src/storage/redis/redis-store.ts';
import { TokenService } from '../src/transport/auth/tokens.ts';
import { connectRedis, randomPrefix, startRedis } from '../test/helpers/redis.ts';
import { startChild, startTremoloChild, type Child } from './helpers/child.ts';
import { benchEngine } from './helpers/engine.ts';
import { fmt, percentile } from './helpers/stats.ts';
import { report } from './report.ts';

const { values: argv } = parseArgs({
  options: {
    rate: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '2' },
    /** `--naive false` skips the baseline (profiling runs). */
    naive: { type: 'string', default: 'true' },
    /** `--relay false` skips the bare Socket.IO ceiling. */
    relay: { type: 'string', default: 'true' },
  },
});
const RATE = Number(argv.rate);
const SECONDS = Number(argv.seconds);
const CLIENTS = Number(argv.clients);
const PAIRS = 1000;
const PROFILE_DIR = process.env.BENCH_DM_PROF;
/**
 * Both servers run with a 64 MB young-generation semi-space (V8's default is 16 MB): at a few
 * thousand messages/s a server allocates enough short-lived objects per message that with the
 * default a third of its CPU went to scavenges (docs/benchmarks.md, dm); docs/production.md
 * recommends the flag for message-heavy processes.
 */
const SERVER_NODE_FLAGS = ['--max-semi-space-size=64'];
const progress = (msg: string) => console.error(`  [${new Date().toISOString().slice(11, 19)}] ${msg}`);

interface Pair {
  from: string;
  to: string;
  conversationId: string;
}

interface ClientResults {
  acked: number;
  failed: number;
  failCodes: Record<string, number>;
  missing: number;
  duplicates: number;
  latencies: number[];
}

interface Outcome {
  perSec: number;
  /** CPU seconds the server and the client processes spent per acknowledged message (µs): what a loaded box does not distort as much as rates. */
  serverCpuUs: number;
  clientCpuUs: number;
  redisCpuUs: number;
  /** Redis commands, and socket reads Redis made (each a batch of commands a client wrote at once), per acknowledged message. */
  redisCommands: number;
  redisReads: number;
  acked: number;
  failed: number;
  failCodes: Record<string, number>;
  missing: number;
  duplicates: number;
  p50: number;
  p99: number;
}

/** Each client process sends its share of `rate` over its own pairs; all start together. */
/** What the bench's redis-server has done so far: CPU seconds, commands, and reads from its sockets (INFO). */
let redisWork: () => Promise<{ cpuS: number; commands: number; reads: number }> = async () => ({ cpuS: 0, commands: 0, reads: 0 });

async function phase(server: Child, clients: Child[], shares: Pair[][], rate: number, seconds: number, run: string): Promise<Outcome> {
  const cpu = async () => {
    const [redis, s, ...c] = await Promise.all([redisWork(), ...[server, ...clients].map((p) => p.call<{ cpuS: number }>('stats').then((r) => r.cpuS))]);
    return { redis, server: s!, clients: c.reduce((a, x) => a + x, 0) };
  };
  const before = await cpu();
  const sent = await Promise.all(clients.map((c, i) => c.call<{ ms: number; sent: number }>('send', { pairs: shares[i], rate: rate / clients.length, seconds, run: `${run}${i}` })));
  const results = await Promise.all(clients.map((c) => c.call<ClientResults>('results')));
  const after = await cpu();
  const ms = Math.max(...sent.map((s) => s.ms));
  const latencies = results.flatMap((r) => r.latencies);
  const failCodes: Record<string, number> = {};
  for (const r of results) for (const [code, n] of Object.entries(r.failCodes)) failCodes[code] = (failCodes[code] ?? 0) + n;
  const sum = (f: (r: ClientResults) => number) => results.reduce((a, r) => a + f(r), 0);
  const acked = sum((r) => r.acked);
  return {
    perSec: acked / (ms / 1000),
    serverCpuUs: acked ? ((after.server - before.server) / acked) * 1e6 : 0,
    clientCpuUs: acked ? ((after.clients - before.clients) / acked) * 1e6 : 0,
    redisCpuUs: acked ? ((after.redis.cpuS - before.redis.cpuS) / acked) * 1e6 : 0,
    redisCommands: acked ? (after.redis.commands - before.redis.commands) / acked : 0,
    redisReads: acked ? (after.redis.reads - before.redis.reads) / acked : 0,
    acked,
    failed: sum((r) => r.failed),
    failCodes,
    missing: sum((r) => r.missing),
    duplicates: sum((r) => r.duplicates),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

function describeOutcome(name: string, rate: number, o: Outcome): string {
  const fails = o.failed ? ` (${Object.entries(o.failCodes).map(([c, n]) => `${c} ${n}`).join(', ')})` : '';
  return `${name} at ${fmt(rate)}/s offered: ${fmt(o.perSec)} msg/s acknowledged; ${o.failed} failed${fails}; send->deliver p50 ${fmt(o.p50, 1)} ms, p99 ${fmt(o.p99, 1)} ms; CPU per acknowledged message: server ${fmt(o.serverCpuUs)} µs, redis ${fmt(o.redisCpuUs)} µs, clients ${fmt(o.clientCpuUs)} µs; Redis per message: ${fmt(o.redisCommands, 1)} commands in ${fmt(o.redisReads, 1)} reads; ${o.missing} acknowledged not delivered to both devices, ${o.duplicates} duplicates`;
}

async function main(): Promise<void> {
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  const redis = await startRedis();
  const REDIS_URL = redis.url;
  const prefix = randomPrefix('bench-dm');
  const env = { STORAGE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, JWT_SECRET: secret, MEDIA_SECRET: randomBytes(32).toString('base64url'), LOG_LEVEL: 'silent' };
  const config = loadConfig(env);
  const probe = await connectRedis(REDIS_URL);
  redisWork = async () => {
    const info = await probe.info();
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    return { cpuS: field('used_cpu_user') + field('used_cpu_sys'), commands: field('total_commands_processed'), reads: field('total_reads_processed') };
  };
  const store = await RedisStore.connect({ url: REDIS_URL, prefix, limits: { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS, dmLogMax: config.dmLogMax }, timeoutMs: 5000 });
  const engine = benchEngine(store, config, new TsidGenerator({ nodeId: 9 }));
  const tokens = new TokenService(tokenSettings(config));
  const children: Child[] = [];
  try {
    // 2,000 users who allow anyone to message them; the 1,000 conversations exist before timing starts
    progress('creating 2,000 users and 1,000 conversations');
    const tag = Date.now().toString(36);
    const users: { userId: string; token: string }[] = [];
    for (let i = 0; i < PAIRS * 2; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: 100 }, async (_, k) => {
          const u = await engine.createUser({ handle: `dmb${tag}${i + k}`, passwordHash: 'x' });
          await store.conversations.setPolicy(u.id, 'anyone');
          return { userId: u.id, token: (await tokens.issue({ id: u.id, handle: u.handle })).token };
        }),
      );
      users.push(...batch);
    }
    const pairs: Pair[] = Array.from({ length: PAIRS }, (_, i) => {
      const from = users[i * 2]!.userId;
      const to = users[i * 2 + 1]!.userId;
      return { from, to, conversationId: directConversationId(from, to) };
    });
    for (let i = 0; i < PAIRS; i += 100) {
      await Promise.all(pairs.slice(i, i + 100).map((p) => engine.dm.send(p.from, { toUserId: p.to, text: 'hi', idempotencyKey: randomUUID() })));
    }
    // each client process holds both users of its pairs, so both devices of a message are in one process
    const shares: Pair[][] = Array.from({ length: CLIENTS }, (_, c) => pairs.filter((_, i) => i % CLIENTS === c));
    const usersOf = (share: Pair[]) => share.flatMap((p) => users.filter((u) => u.userId === p.from || u.userId === p.to));

    const limits = {
      SOCKET_EVENTS_PER_SEC: '100000',
      USER_EVENTS_PER_SEC: '100000',
      RATE_IP_PER_MIN: '100000000',
      RATE_USER_PER_MIN: '100000000',
      USER_MAX_SOCKETS: '100000',
      SOCKET_MAX_PER_IP: '100000',
    };
    const serve = async (server: Child, name: string): Promise<Child[]> => {
      children.push(server);
      const { url } = (await server.ready) as { url: string };
      const clients = Array.from({ length: CLIENTS }, () => startChild(new URL('./helpers/dm-clients.ts', import.meta.url)));
      children.push(...clients);
      await Promise.all(clients.map((c) => c.ready));
      await Promise.all(clients.map((c, i) => c.call('open', { url, users: usersOf(shares[i]!) })));
      progress(`${name}: ${users.length} sockets open in ${CLIENTS} client processes`);
      return clients;
    };
    const stop = async (procs: Child[]) => {
      for (const p of procs) if (p.process.connected) await p.call('close').catch(() => undefined);
      await Promise.all(procs.map((p) => p.stop()));
    };

    // auto-pipelining (off by default, docs/storage.md): what the profiles showed the server
    // needs; REDIS_AUTO_PIPELINE=false in the bench's environment measures without it
    const server = startTremoloChild({ ...env, ...limits, REDIS_AUTO_PIPELINE: process.env.REDIS_AUTO_PIPELINE ?? 'true' }, SERVER_NODE_FLAGS);
    const clients = await serve(server, 'tremolo');
    const warm = await phase(server, clients, shares, Math.min(RATE, 2000), 1, 'w');
    progress(describeOutcome('tremolo warm-up', Math.min(RATE, 2000), warm));
    const profiled = [server, ...clients];
    const profileFile = (i: number) => join(PROFILE_DIR!, i === 0 ? 'dm-server.cpuprofile' : `dm-client-${i - 1}.cpuprofile`);
    if (PROFILE_DIR) await Promise.all(profiled.map((p, i) => p.call('profile', { file: profileFile(i), heap: true })));
    const actor = await phase(server, clients, shares, RATE, SECONDS, 'a');
    if (PROFILE_DIR) {
      await Promise.all(profiled.map((p, i) => p.call('profile', { file: profileFile(i), stop: true, heap: true })));
      progress(`CPU profiles of the throughput phase in ${PROFILE_DIR}`);
    }
    progress(describeOutcome('tremolo', RATE, actor));
    const half = Math.max(1, Math.round(actor.perSec / 2));
    const latency = await phase(server, clients, shares, half, SECONDS, 'l');
    progress(describeOutcome('tremolo (latency)', half, latency));
    await stop([...clients, server]);

    /** A comparison server (helpers/<file>) given the same warm-up and throughput phase. */
    const compare = async (file: string, name: string, run: string, label: string): Promise<Outcome> => {
      const other = startChild(new URL(`./helpers/${file}`, import.meta.url), env, SERVER_NODE_FLAGS);
      const otherClients = await serve(other, name);
      await phase(other, otherClients, shares, Math.min(RATE, 2000), 1, 'w');
      const outcome = await phase(other, otherClients, shares, RATE, SECONDS, run);
      progress(describeOutcome(label, RATE, outcome));
      await stop([...otherClients, other]);
      return outcome;
    };
    const naive = argv.naive !== 'false' ? await compare('dm-naive-server.ts', 'naive', 'n', 'naive (one round trip + one broadcast per message)') : undefined;
    const relay = argv.relay !== 'false' ? await compare('dm-relay-server.ts', 'relay', 'r', 'ceiling (bare Socket.IO relay, nothing stored)') : undefined;

    console.error(
      `dm: ${fmt(actor.perSec)} msg/s acknowledged (target 20,000); p99 send->deliver ${fmt(latency.p99, 1)} ms at ${fmt(half)}/s (target <= 50 ms); naive ${naive ? fmt(naive.perSec) : '-'} msg/s; bare Socket.IO relay ${relay ? fmt(relay.perSec) : '-'} msg/s`,
    );
    if (actor.missing || actor.duplicates || latency.missing || latency.duplicates) {
      console.error('dm: FAILED: an acknowledged message did not arrive exactly once at every device');
      process.exitCode = 1;
    }
    if (naive) report('dm', 'acknowledged messages/s', actor.perSec, naive.perSec);
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await store.close();
    probe.disconnect();
    await redis.stop();
  }
}

await main();
