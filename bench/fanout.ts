/**
 * Live fan-out of one hot video (issue 4): W watchers (10,000; also 2,000) on one video,
 * 2,000 likes/s from other signed-in sockets (alternating like/unlike, so every one
 * changes the counter). Server, watchers (two processes) and likers (one process) are
 * separate processes on this machine; all clocks are performance.timeOrigin + now().
 *
 * Measured: latency from a like's ack (at the liker) to the first counter update at a
 * watcher that includes it (version >= the ack's), p50/p99 over every like x a sample
 * of watchers; delivered counter events/s; server CPU-seconds per 100k deliveries; and
 * whether every watcher ends on the exact final count.
 * Baseline in the same run (issue 21, the JSON line's): a bare `ws` server
 * (helpers/ws-live-server.ts) receiving the same likes from the same clients and sending
 * the same counter events to the same watchers with the same interval policy; also
 * deliveries per server CPU-second for both. Second baseline, printed:
 * the same server with LIVE_COUNTER_COALESCE=false, i.e. one
 * broadcast per committed like. That design cannot keep up at all (2,000 likes/s x W
 * watchers messages/s), so it is given a short burst (--naive-seconds of likes at the
 * same rate) and at most --drain-s to deliver it; undelivered updates count as latency
 * beyond the limit.
 *
 *   npm run bench -- fanout [--watchers 2000,10000] [--seconds 10] [--rate 2000] [--runs 2] [--naive-seconds 1 (0: skip)] [--profile DIR]
 *
 * --profile DIR writes V8 CPU profiles of the measured stretch only (likes and drain, not the
 * setup): `<design>-<watchers>-<run>-server.cpuprofile` for the server, `...-watchers-<k>` and
 * `...-likers` for the client processes (BENCH_CPU_PROF=<dir> profiles tremolo's whole life).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HttpClient } from '../src/client/http-client.ts';
import { cpuSecondsOf, startChild, startTremoloChild, type Child } from './helpers/child.ts';
import { describe, fmt, percentile, summarize } from './helpers/stats.ts';
import { report } from './report.ts';

const { values: argv } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rate: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '2' },
    'naive-seconds': { type: 'string', default: '1' },
    'drain-s': { type: 'string', default: '20' },
    watchers: { type: 'string', default: '2000,10000' },
    profile: { type: 'string' },
  },
});
const RATE = Number(argv.rate);
const LIKERS = 200;
const here = (p: string) => new URL(p, import.meta.url);
const now = () => performance.timeOrigin + performance.now();
const progress = (msg: string) => console.error(`  [${new Date().toISOString().slice(11, 19)}] ${msg}`);

interface Outcome {
  watchers: number;
  p50: number;
  p99: number;
  /** From sending the like (before its ack) to the update at a watcher. */
  e2eP50: number;
  e2eP99: number;
  /** Send -> ack of the likes themselves. */
  ackP99: number;
  /** Watcher x like pairs never delivered within the drain limit. */
  missing: number;
  deliveredPerSec: number;
  cpuPer100k: number;
  /** Deliveries per server CPU-second (issue 21). */
  perCpuS: number;
  /** Server CPU µs per delivery by where it went (Linux /proc; undefined elsewhere). */
  split: CpuSplit | undefined;
  exact: boolean;
  finalLikes: number;
  minSeen: number;
  maxSeen: number;
}

/** CPU seconds of a process: its main (JavaScript) thread in user and kernel mode, and its other threads (GC, libuv). */
interface CpuSplit {
  mainUser: number;
  mainSys: number;
  others: number;
}

/**
 * Where a process's CPU went, from /proc (clock ticks of 10 ms): a delivery's syscall on loopback
 * also pays the receiving side's TCP work, which shows as kernel time of the sender's main thread.
 */
function cpuSplit(pid: number): CpuSplit | undefined {
  try {
    const ticks = (stat: string) => {
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return [Number(f[11]) / 100, Number(f[12]) / 100] as const; // utime, stime
    };
    const split = { mainUser: 0, mainSys: 0, others: 0 };
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const [user, sys] = ticks(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      if (Number(tid) === pid) Object.assign(split, { mainUser: user, mainSys: sys });
      else split.others += user + sys;
    }
    return split;
  } catch {
    return undefined;
  }
}

/** A server under test: where to connect, the video, the likers' tokens, and its final counters. */
interface Target {
  server: Child;
  url: string;
  videoId: string;
  tokens: string[];
  final: () => Promise<{ likes: number; version: number }>;
}

async function scenario(watchers: number, coalesce: boolean, seconds: number, run = 0): Promise<Outcome> {
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of each server
  const server = startTremoloChild({
    LIVE_COUNTER_COALESCE: String(coalesce),
    SOCKET_EVENTS_PER_SEC: '100000',
    USER_EVENTS_PER_SEC: '100000',
    RATE_IP_PER_MIN: '100000000',
    RATE_USER_PER_MIN: '100000000',
    LOGIN_RATE_PER_MIN: '100000',
    USER_MAX_SOCKETS: '100000',
    SOCKET_MAX_PER_IP: '100000',
    SIGNUP_RATE_PER_HOUR: '100000',
    PASSWORD_HASH_QUEUE: '10000',
  });
  progress(`${coalesce ? 'coalesced' : 'naive'}, ${watchers} watchers: starting`);
  try {
    const { url } = (await server.ready) as { url: string };
    const tag = (Date.now() % 1e9).toString(36);
    const owner = new HttpClient(url);
    await owner.register(`owner${tag}`, 'correct horse battery');
    const video = await owner.createVideo({ title: 'hot video' });
    const tokens: string[] = [];
    for (let i = 0; i < LIKERS; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(20, LIKERS - i) }, (_, k) => new HttpClient(url).register(`l${tag}x${i + k}`, 'correct horse battery')),
      );
      tokens.push(...batch.map((s) => s.token));
    }
    const final = async () => (await new HttpClient(url).getVideo(video.id)).counters;
    return await measure(watchers, seconds, { server, url, videoId: video.id, tokens, final }, `${coalesce ? 'tremolo' : 'naive'}-${watchers}-${run}`);
  } finally {
    await server.stop();
  }
}

/**
 * The bare `ws` baseline (issue 21): helpers/ws-live-server.ts, the same clients sending the
 * same likes, the same interval policy (this process's LIVE_* settings, the defaults).
 */
async function bareScenario(watchers: number, seconds: number, run = 0): Promise<Outcome> {
  const server = startChild(here('./helpers/ws-live-server.ts'));
  progress(`bare ws, ${watchers} watchers: starting`);
  try {
    const { url } = (await server.ready) as { url: string };
    const videoId = 'hot-video';
    const tokens = Array.from({ length: LIKERS }, (_, i) => `liker${i}`);
    const final = async () => (await server.call<{ counters: { likes: number; version: number } }>('counters', { videoId })).counters;
    return await measure(watchers, seconds, { server, url, videoId, tokens, final }, `bare-${watchers}-${run}`);
  } finally {
    await server.stop();
  }
}

/** Watchers and likers against `target`; latencies, deliveries, server CPU and the final counts. */
async function measure(watchers: number, seconds: number, target: Target, label: string): Promise<Outcome> {
  const { server, url, tokens } = target;
  const video = { id: target.videoId };
  const clients: Child[] = [];
  try {
    const shards = [startChild(here('./helpers/socket-clients.ts')), startChild(here('./helpers/socket-clients.ts'))];
    const likers = startChild(here('./helpers/socket-clients.ts'));
    clients.push(...shards, likers);
    await Promise.all(clients.map((c) => c.ready));
    const half = Math.ceil(watchers / 2);
    const sampleEvery = Math.max(1, Math.floor(watchers / 100)); // ~100 sampled watchers
    await Promise.all(
      shards.map((s, k) => s.call('open', { url, n: k === 0 ? half : watchers - half, kind: 'sio', videoId: video.id, sampleEvery, offset: k * half })),
    );
    progress(`${watchers} watchers connected and watching`);
    await new Promise((r) => setTimeout(r, 1000));
    await Promise.all(shards.map((s) => s.call('reset')));

    const profiled: [Child, string][] = argv.profile
      ? [[server, 'server'], ...shards.map((s, k): [Child, string] => [s, `watchers-${k}`]), [likers, 'likers']]
      : [];
    const profileFile = (name: string) => join(argv.profile!, `${label}-${name}.cpuprofile`);
    await Promise.all(profiled.map(([c, name]) => c.call('profile', { file: profileFile(name) })));
    const cpu0 = await cpuSecondsOf(server);
    const split0 = cpuSplit(server.pid);
    const t0 = now();
    const liked = await likers.call<{ acks: [number, number, number][]; failed: number; last: { likes: number; version: number } }>('like', {
      url,
      tokens,
      videoId: video.id,
      ratePerSec: RATE,
      seconds,
    });
    if (liked.failed) throw new Error(`${liked.failed} likes failed`);
    // wait until every watcher has the final version (or the drain limit)
    const final = { counters: await target.final() };
    const deadline = now() + Number(argv['drain-s']) * 1000;
    let results: { delivered: number; minLikes: number; maxLikes: number; minVersion: number; timelines: [number, number][][] }[] = [];
    for (;;) {
      results = await Promise.all(shards.map((s) => s.call<(typeof results)[number]>('results')));
      const done = results.every((r) => r.minVersion >= final.counters.version);
      if (done || now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const elapsed = (now() - t0) / 1000;
    progress(`likes done, watchers ${results.every((r) => r.minVersion >= final.counters.version) ? 'caught up' : 'NOT caught up'} after ${fmt(elapsed, 1)} s`);
    const cpu1 = await cpuSecondsOf(server);
    const split1 = cpuSplit(server.pid);
    await Promise.all(profiled.map(([c, name]) => c.call('profile', { file: profileFile(name), stop: true })));
    if (profiled.length) progress(`CPU profiles of the measured stretch: ${profileFile('*')}`);
    const delivered = results.reduce((n, r) => n + r.delivered, 0);

    // latency: each like x each sampled watcher, to the first update with version >= the ack's
    const acks = liked.acks.sort((a, b) => a[1] - b[1]);
    const latencies: number[] = [];
    const endToEnd: number[] = [];
    let missing = 0;
    for (const timeline of results.flatMap((r) => r.timelines)) {
      timeline.sort((a, b) => a[1] - b[1] || a[0] - b[0]);
      // earliest arrival among updates with version >= v: suffix minimum over the version order
      const suffixMin = new Array<number>(timeline.length + 1).fill(Infinity);
      for (let j = timeline.length - 1; j >= 0; j--) suffixMin[j] = Math.min(suffixMin[j + 1]!, timeline[j]![0]);
      let j = 0;
      for (const [at, version, sent] of acks) {
        while (j < timeline.length && timeline[j]![1] < version) j++;
        const arrival = suffixMin[j]!;
        if (arrival === Infinity) missing++;
        else {
          latencies.push(Math.max(0, arrival - at));
          endToEnd.push(arrival - sent);
        }
      }
    }
    const pairs = latencies.length + missing;
    // undelivered pairs count as slower than anything delivered
    const worst = Number(argv['drain-s']) * 1000;
    const pad = (xs: number[]) => (missing ? [...xs, ...new Array<number>(missing).fill(worst)] : xs);
    const padded = pad(latencies);
    const padded2 = pad(endToEnd);
    const minSeen = Math.min(...results.map((r) => r.minLikes));
    const maxSeen = Math.max(...results.map((r) => r.maxLikes));
    void pairs;
    return {
      watchers,
      p50: percentile(padded, 50),
      p99: percentile(padded, 99),
      e2eP50: percentile(padded2, 50),
      e2eP99: percentile(padded2, 99),
      ackP99: percentile(
        acks.map(([at, , sent]) => at - sent),
        99,
      ),
      missing,
      deliveredPerSec: delivered / elapsed,
      cpuPer100k: delivered ? ((cpu1 - cpu0) * 1e5) / delivered : Number.NaN,
      perCpuS: cpu1 > cpu0 ? delivered / (cpu1 - cpu0) : Number.NaN,
      split:
        split0 && split1 && delivered
          ? {
              mainUser: ((split1.mainUser - split0.mainUser) * 1e6) / delivered,
              mainSys: ((split1.mainSys - split0.mainSys) * 1e6) / delivered,
              others: ((split1.others - split0.others) * 1e6) / delivered,
            }
          : undefined,
      exact: minSeen === final.counters.likes && maxSeen === final.counters.likes && results.every((r) => r.minVersion >= final.counters.version),
      finalLikes: final.counters.likes,
      minSeen,
      maxSeen,
    };
  } finally {
    for (const c of clients) {
      await c.call('close').catch(() => {});
      await c.stop();
    }
  }
}

const sizes = argv.watchers.split(',').map(Number);
const line = (o: Outcome) =>
  `ack->update p50 ${fmt(o.p50)} ms, p99 ${fmt(o.p99)} ms; send->update p50 ${fmt(o.e2eP50)} ms, p99 ${fmt(o.e2eP99)} ms; like ack p99 ${fmt(o.ackP99)} ms; ${fmt(o.deliveredPerSec)} deliveries/s, ${fmt(o.cpuPer100k, 2)} server CPU-s/100k deliveries (${fmt(o.perCpuS)} per CPU-s${o.split ? `; µs per delivery: main thread ${fmt(o.split.mainUser, 1)} user + ${fmt(o.split.mainSys, 1)} kernel, other threads ${fmt(o.split.others, 1)}` : ''}), ` +
  `final ${o.exact ? 'exact at every watcher' : `NOT exact (watchers saw ${o.minSeen}..${o.maxSeen}, server ${o.finalLikes})`}` +
  (o.missing ? `, ${fmt(o.missing)} like x watcher updates not delivered within ${argv['drain-s']} s` : '');
const headline: Record<number, { coalesced: number; bare: number }> = {}; // send->update p99
for (const w of sizes) {
  const runs: Outcome[] = [];
  const bareRuns: Outcome[] = [];
  for (let r = 0; r < Number(argv.runs); r++) {
    // interleaved, so load from other work on the machine hits both alike
    runs.push(await scenario(w, true, Number(argv.seconds), r + 1));
    bareRuns.push(await bareScenario(w, Number(argv.seconds), r + 1));
  }
  const naive = Number(argv['naive-seconds']) > 0 ? await scenario(w, false, Number(argv['naive-seconds'])) : undefined;
  const p99 = summarize(
    runs.map((o) => o.p99),
    true,
  );
  const p50 = summarize(
    runs.map((o) => o.p50),
    true,
  );
  console.log(`${fmt(w)} watchers, ${fmt(RATE)} likes/s for ${argv.seconds} s, best of ${argv.runs}:`);
  runs.forEach((o, i) => console.log(`  coalesced run ${i + 1}: ${line(o)}`));
  console.log(`  coalesced p99 ms ${describe(p99)}; p50 ms ${describe(p50)}`);
  bareRuns.forEach((o, i) => console.log(`  bare ws run ${i + 1}: ${line(o)}`));
  if (naive) console.log(`  naive (one broadcast per like; ${argv['naive-seconds']} s burst at the same rate): ${line(naive)}`);
  const e2e = summarize(
    runs.map((o) => o.e2eP99),
    true,
  );
  const bareE2e = summarize(
    bareRuns.map((o) => o.e2eP99),
    true,
  );
  const perCpu = summarize(runs.map((o) => o.perCpuS));
  const barePerCpu = summarize(bareRuns.map((o) => o.perCpuS));
  console.log(`  coalesced send->update p99 ms ${describe(e2e)}; bare ws ${describe(bareE2e)}; ratio ${fmt(e2e.best / bareE2e.best, 2)} (target <= 1.5)`);
  console.log(`  deliveries per server CPU-second: tremolo ${describe(perCpu)}; bare ws ${describe(barePerCpu)} (target >= 12,500)`);
  headline[w] = { coalesced: e2e.best, bare: bareE2e.best };
}
const top = sizes[sizes.length - 1]!;
// end to end (like sent -> counter at watcher), against the bare ws server with the same
// interval policy (issue 21; the naive one-broadcast-per-like figure is printed above)
report('fanout', `p99 ms like sent -> watcher counter, ${top} watchers (baseline: bare ws)`, headline[top]!.coalesced, headline[top]!.bare);
