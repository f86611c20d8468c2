/**
 * A shard drives its share of the virtual users, in this process or in a forked one,
 * only through the public SDK (LiveClient over Socket.IO, HttpClient over fetch).
 * It records what it measured (ShardStats), what the server acknowledged (WriteLedger)
 * and delivery latency (DeliveryProbe); the coordinator adds shards together.
 *
 * Virtual user i signs in as account i % accounts, and account a belongs to shard
 * a % shards, so no two shards ever act for the same account: the per-(account, video)
 * order of likes that the final check relies on is kept inside one shard.
 */
import { performance } from 'node:perf_hooks';
import { HttpClient } from '../client/http-client.ts';
import { LiveClient, TremoloClientError } from '../client/live-client.ts';
import { DeliveryProbe } from './delivery.ts';
import { createHttpPool, type HttpPool } from './http-pool.ts';
import type { Fixtures } from './fixtures.ts';
import { WriteLedger, commentMarker, MARKER_PATTERN } from './ledger.ts';
import type { LoadtestOptions } from './options.ts';
import { Rng, streamSeed, Zipf } from './random.ts';
import { SCENARIO_RUNNERS } from './scenarios/index.ts';
import { ShardStats } from './stats.ts';

export interface ShardPlan {
  index: number;
  count: number;
  options: LoadtestOptions;
  fixtures: Fixtures;
  /** Wall-clock ms (Date.now()) at which load starts and stops. */
  startAt: number;
  stopAt: number;
}

export interface VirtualUser {
  /** Global index in [0, users). */
  index: number;
  account: number;
  accountId: string;
  token: string;
  target: string;
  /** Local address its sockets bind to, when spreading over several. */
  source: string | undefined;
  rng: Rng;
}

/** A connected socket of a virtual user. */
export interface Connection {
  id: number;
  vu: VirtualUser;
  client: LiveClient;
  watching: number | undefined;
  closed: boolean;
}

/** Codes that say the server refused an op before applying it; anything else leaves the outcome unknown. */
const REFUSED = new Set(['E_RATE_LIMITED', 'E_BUSY', 'E_VALIDATION', 'E_VIDEO_NOT_FOUND', 'E_COMMENT_NOT_FOUND', 'E_SHUTTING_DOWN', 'E_TOKEN_EXPIRED', 'E_TOKEN_INVALID', 'E_TOKEN_MISSING', 'E_FORBIDDEN']);
/**
 * Codes after which a write is sent again: a comment under the same idempotency key, a like or
 * unlike as it was (set membership: applying it twice is applying it once). E_SHUTTING_DOWN
 * comes from a process draining for a restart; the retry goes out once the client is on another.
 */
const RETRY = new Set(['E_ACK_TIMEOUT', 'E_DISCONNECTED', 'E_BUSY', 'E_RATE_LIMITED', 'E_STORAGE_UNAVAILABLE', 'E_SHUTTING_DOWN']);
/** Attempts per write, 250 ms x attempt apart: about 2.5 s, longer than a client needs to move to another process. */
const ATTEMPTS = 5;
const GRACE_MS = 1500;
/** How long a loadtest video is, for watch-progress reports. */
const PROGRESS_DURATION_MS = 15_000;
/**
 * Progress is reported only after a dwell at least this long: the server accepts one report per
 * viewer and video every PROGRESS_INTERVAL (2 s by default), and reports are separated by dwells.
 */
export const PROGRESS_MIN_DWELL_MS = 2500;
/** Comments per video this shard remembers as targets for comment likes and replies. */
const RECENT_COMMENTS = 16;

export class Shard {
  readonly stats = new ShardStats();
  readonly ledger = new WriteLedger();
  readonly zipf: Zipf;
  readonly probe: DeliveryProbe;
  readonly options: LoadtestOptions;
  /** One keep-alive pool for every virtual user's REST calls. */
  private readonly httpPool: HttpPool = createHttpPool();
  private readonly watchers = new Map<string, Map<number, number>>();
  /** Connection id -> the log offset of the snapshot its current watch started from. */
  private readonly watchedFrom = new Map<number, number>();
  private readonly connections = new Set<Connection>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly wakers = new Set<() => void>();
  /** Video id -> ids of the latest comments this shard made on it (targets for likes and replies). */
  private readonly recentComments = new Map<string, string[]>();
  private nextConnection = 0;
  private commentSeq = 0;
  private stopping = false;

  constructor(readonly plan: ShardPlan) {
    this.options = plan.options;
    this.zipf = new Zipf(plan.fixtures.videos.length, plan.options.zipf);
    this.probe = new DeliveryProbe(this.stats, { of: (videoId) => this.watchers.get(videoId), from: (client) => this.watchedFrom.get(client) });
  }

  get stopped(): boolean {
    return this.stopping || Date.now() >= this.plan.stopAt;
  }

  /** This shard's virtual users. */
  users(): VirtualUser[] {
    const { options: o, fixtures: f } = this.plan;
    const out: VirtualUser[] = [];
    for (let i = 0; i < o.users; i++) {
      const account = i % o.accounts;
      if (account % this.plan.count !== this.plan.index) continue;
      const acc = f.accounts[account];
      if (!acc) continue;
      out.push({
        index: i,
        account,
        accountId: acc.id,
        token: acc.token,
        target: o.targets[i % o.targets.length] ?? '',
        source: o.sourceAddresses.length ? o.sourceAddresses[i % o.sourceAddresses.length] : undefined,
        rng: new Rng(streamSeed(o.seed, i)),
      });
    }
    return out;
  }

  /** Runs every virtual user until the stop time, lets deliveries land, closes everything. */
  async run(): Promise<void> {
    try {
      await this.drive();
    } finally {
      this.httpPool.close();
    }
  }

  private async drive(): Promise<void> {
    const run = SCENARIO_RUNNERS[this.options.scenario];
    await this.sleepUntil(this.plan.startAt);
    const stopLagProbe = this.probeLoopLag();
    const users = this.users();
    await Promise.all(
      users.map(async (vu) => {
        // connections ramp up in global order, whichever shard holds the user
        await this.sleep((vu.index / this.options.users) * this.options.rampMs);
        if (this.stopped) return;
        try {
          await run(this, vu);
        } catch (err) {
          this.stats.count(`vu.crashed.${err instanceof Error ? err.name : 'unknown'}`);
        }
      }),
    );
    await new Promise((r) => setTimeout(r, GRACE_MS)); // deliveries of the last acks
    // a comment acknowledged just before the end is judged too: wait (bounded by the horizon)
    // while a watcher still lacks it, e.g. one that is reconnecting after a server restart,
    // then count what never came as missed (a gap)
    const until = performance.now() + this.probe.horizon;
    while (this.probe.awaited() > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 100));
    this.probe.sweep(performance.now() + this.probe.horizon);
    stopLagProbe();
    for (const c of this.connections) this.close(c);
  }

  /**
   * Records how late a 100 ms timer fires on this process's event loop (`loadLag`): every
   * latency here is timed on that loop, so when the generator itself is short of CPU its
   * figures include its own queueing, and this says by how much.
   */
  private probeLoopLag(): () => void {
    const PERIOD_MS = 100;
    let timer: NodeJS.Timeout;
    const arm = (due: number) => {
      timer = setTimeout(() => {
        const now = performance.now();
        this.stats.latency('loadLag', now - due);
        arm(now + PERIOD_MS);
      }, PERIOD_MS);
    };
    arm(performance.now() + PERIOD_MS);
    return () => clearTimeout(timer);
  }

  /** Ends the run early (Ctrl-C, coordinator's stop). */
  stop(): void {
    this.stopping = true;
    for (const wake of this.wakers) wake();
  }

  // ------------------------------------------------------------ the scenario API

  /** A sleep that ends early when the run stops. */
  sleep(ms: number): Promise<void> {
    if (this.stopped || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(ms, Math.max(0, this.plan.stopAt - Date.now())));
      this.wakers.add(done);
    });
  }

  private sleepUntil(wallMs: number): Promise<void> {
    return new Promise((r) => setTimeout(r, Math.max(0, wallMs - Date.now())));
  }

  /** Opens a socket for a virtual user; undefined (and counted) when the server refuses. */
  async connect(vu: VirtualUser): Promise<Connection | undefined> {
    const client = new LiveClient({
      url: vu.target,
      token: vu.token,
      parser: this.options.parser,
      ackTimeoutMs: this.options.ackTimeoutMs,
      // the other targets, as a load balancer would offer them: a restarting process's sockets move on
      alternates: this.options.targets,
      socket: { ...(vu.source ? { localAddress: vu.source } : {}), reconnectionDelayMax: 5000 },
    });
    const conn: Connection = { id: this.nextConnection++, vu, client, watching: undefined, closed: false };
    const ours = `${this.plan.fixtures.runId}.${this.plan.index}.`;
    client.on('counters', (c) => {
      this.stats.count('events.counters');
      this.probe.counters(vu.account, c.videoId, c.version, performance.now());
    });
    client.on('comment', (c) => {
      this.stats.count('events.comment');
      const key = MARKER_PATTERN.exec(c.text)?.[1];
      this.probe.comment(conn.id, c.id, key?.startsWith(ours) ?? false, performance.now());
    });
    client.on('reset', () => this.stats.count('events.reset'));
    client.on('disconnected', () => {
      if (!conn.closed) this.stats.count('conn.dropped');
    });
    client.on('reconnected', () => this.stats.count('conn.reconnected'));
    const t0 = performance.now();
    try {
      await client.connect();
    } catch (err) {
      client.close();
      this.stats.count(`conn.fail.${codeOf(err)}`);
      return undefined;
    }
    this.stats.latency('connect', performance.now() - t0);
    this.stats.count('conn.ok');
    this.stats.open++;
    this.connections.add(conn);
    return conn;
  }

  close(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    this.forget(conn);
    conn.client.close();
    this.connections.delete(conn);
    this.stats.open--;
    this.stats.count('conn.closed');
  }

  /** Swipes to a video: unwatches the current one, watches the new one. */
  async watch(conn: Connection, video: number): Promise<boolean> {
    if (conn.watching === video) return true;
    const videoId = this.videoId(video);
    if (conn.watching !== undefined) {
      const previous = this.videoId(conn.watching);
      this.forget(conn);
      await this.ack('video:unwatch', () => conn.client.unwatch(previous)).catch(() => undefined);
    }
    const t0 = performance.now();
    const reply = await this.ack('video:watch', () => conn.client.watch(videoId)).catch(() => undefined);
    if (!reply) return false;
    this.stats.latency('watch', performance.now() - t0);
    if (conn.closed) return false;
    conn.watching = video;
    this.watchedFrom.set(conn.id, reply.snapshot.offset);
    let set = this.watchers.get(videoId);
    if (!set) this.watchers.set(videoId, (set = new Map()));
    set.set(conn.id, conn.vu.account);
    return true;
  }

  /**
   * Reports how long the connection watched its current video (`video:progress`), as a player
   * does when the viewer swipes on; the loadtest's videos count as PROGRESS_DURATION_MS long.
   */
  async progress(conn: Connection, watchedMs: number): Promise<void> {
    if (conn.closed || conn.watching === undefined) return;
    const durationMs = PROGRESS_DURATION_MS;
    const watched = Math.min(durationMs, Math.max(0, Math.round(watchedMs)));
    const report = { videoId: this.videoId(conn.watching), watchedMs: watched, positionMs: watched, durationMs, completed: watched === durationMs };
    // counted as ack.video:progress.<outcome>; a refused report loses nothing the run verifies
    await this.ack('video:progress', () => conn.client.progress(report)).catch(() => undefined);
  }

  /**
   * Likes the video, or unlikes it when this account's last acknowledged op liked it; an op that
   * got no answer (or a retryable refusal) is sent again as it was, a few times.
   */
  toggleLike(conn: Connection, video: number): Promise<void> {
    const { account } = conn.vu;
    return this.serialise(`${account}:${video}`, async () => {
      const like = this.ledger.likeState(account, video) !== 'liked';
      const videoId = this.videoId(video);
      for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
        const t0 = performance.now();
        try {
          const r = await this.ack(like ? 'video:like' : 'video:unlike', () => (like ? conn.client.like(videoId) : conn.client.unlike(videoId)));
          const at = performance.now();
          this.stats.latency('like', at - t0);
          if (attempt > 1) this.stats.count('likes.retried');
          this.ledger.settleLike(account, video, like);
          if (r.changed) this.probe.likeAcked(videoId, account, r.counters.version, at);
          return;
        } catch (err) {
          const code = codeOf(err);
          if (!REFUSED.has(code)) this.ledger.unsettleLike(account, video);
          if (!RETRY.has(code) || conn.closed) return;
          await new Promise((r) => setTimeout(r, 250 * attempt));
        }
      }
    });
  }

  /**
   * Likes one of the latest comments this shard made on the video, or unlikes it when this
   * account's last acknowledged op on it liked it. Nothing to do while there is none.
   */
  toggleCommentLike(conn: Connection, video: number): Promise<void> {
    const { account } = conn.vu;
    const recent = this.recentComments.get(this.videoId(video));
    if (!recent?.length) return Promise.resolve();
    const commentId = recent[conn.vu.rng.int(recent.length)]!;
    return this.serialise(`${account}|${commentId}`, async () => {
      const like = this.ledger.commentLikeState(account, commentId) !== 'liked';
      const t0 = performance.now();
      try {
        await this.ack(like ? 'comment:like' : 'comment:unlike', () => (like ? conn.client.likeComment(commentId) : conn.client.unlikeComment(commentId)));
        this.stats.latency('commentLike', performance.now() - t0);
        this.ledger.settleCommentLike(account, commentId, like);
      } catch (err) {
        if (!REFUSED.has(codeOf(err))) this.ledger.unsettleCommentLike(account, commentId);
      }
    });
  }

  /**
   * Comments under a fresh idempotency key, retrying with the same key; sometimes re-sends it on
   * purpose. A share of comments (--reply-share) reply to one of the latest comments made here.
   */
  async comment(conn: Connection, video: number): Promise<void> {
    const seq = ++this.commentSeq;
    const key = `${this.plan.fixtures.runId}.${this.plan.index}.${conn.vu.index}.${seq}`;
    const text = `load ${seq} ${commentMarker(key)}`;
    const videoId = this.videoId(video);
    const recent = this.recentComments.get(videoId);
    const replyTo = recent?.length && conn.vu.rng.chance(this.options.replyShare) ? recent[conn.vu.rng.int(recent.length)] : undefined;
    const opts = { idempotencyKey: key, ...(replyTo !== undefined ? { replyTo } : {}) };
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const t0 = performance.now();
      try {
        const r = await this.ack('comment:add', () => conn.client.comment(videoId, text, opts));
        const at = performance.now();
        this.stats.latency('comment', at - t0);
        if (attempt > 1) this.stats.count('comments.retried');
        if (replyTo !== undefined) this.stats.count('comments.replies');
        this.ledger.ackComment({ id: r.comment.id, videoId, key, ...(r.comment.threadId !== undefined ? { threadId: r.comment.threadId } : {}) });
        this.remember(videoId, r.comment.id);
        this.probe.commentAcked(r.comment.id, videoId, conn.vu.account, at, r.offset);
        if (conn.vu.rng.chance(this.options.commentResend)) {
          this.stats.count('comments.resent');
          const again = await this.ack('comment:add', () => conn.client.comment(videoId, text, opts)).catch(() => undefined);
          if (again) this.ledger.checkResend(key, again.comment.id, again.duplicate);
        }
        return;
      } catch (err) {
        if (!RETRY.has(codeOf(err)) || conn.closed) return;
        await new Promise((r) => setTimeout(r, 250 * attempt));
      }
    }
  }

  /**
   * A REST call as the virtual user, timed and counted. A call the user's target could not
   * answer (not listening, or draining for a restart) is made once more on the next target, as
   * a load balancer would route it; the user's next call goes to its own target again.
   */
  async http<T>(vu: VirtualUser, fn: (client: HttpClient) => Promise<T>): Promise<T | undefined> {
    const targets = this.options.targets;
    const home = targets.indexOf(vu.target);
    const t0 = performance.now();
    let err: unknown;
    for (let i = 0; i < Math.min(2, targets.length); i++) {
      const target = i === 0 ? vu.target : (targets[(home + i) % targets.length] ?? vu.target);
      try {
        const r = await fn(new HttpClient(target, { token: vu.token, transport: this.httpPool.transport }));
        this.stats.latency('http', performance.now() - t0);
        this.stats.count('http.ok');
        if (i > 0) this.stats.count('http.rerouted');
        return r;
      } catch (e) {
        err = e;
        if (!unreachable(e)) break;
      }
    }
    this.stats.count(`http.error.${codeOf(err)}`);
    return undefined;
  }

  videoId(video: number): string {
    return this.plan.fixtures.videos[video] ?? '';
  }

  // ------------------------------------------------------------ internals

  /** Times an acknowledged call and counts its outcome by code. */
  private async ack<T>(event: string, fn: () => Promise<T>): Promise<T> {
    try {
      const r = await fn();
      this.stats.count(`ack.${event}.ok`);
      return r;
    } catch (err) {
      this.stats.count(`ack.${event}.${codeOf(err)}`);
      throw err;
    }
  }

  private remember(videoId: string, commentId: string): void {
    let recent = this.recentComments.get(videoId);
    if (!recent) this.recentComments.set(videoId, (recent = []));
    if (recent.includes(commentId)) return;
    recent.push(commentId);
    if (recent.length > RECENT_COMMENTS) recent.shift();
  }

  private forget(conn: Connection): void {
    if (conn.watching === undefined) return;
    const videoId = this.videoId(conn.watching);
    const set = this.watchers.get(videoId);
    set?.delete(conn.id);
    this.watchedFrom.delete(conn.id);
    this.probe.left(conn.id, videoId);
    if (set?.size === 0) this.watchers.delete(videoId);
    conn.watching = undefined;
  }

  private serialise(key: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.locks.set(key, next);
    const cleanup = () => {
      if (this.locks.get(key) === next) this.locks.delete(key);
    };
    next.then(cleanup, cleanup);
    return next;
  }
}

/** The process did not take the request at all: nothing listening (fetch fails), or draining. */
function unreachable(err: unknown): boolean {
  return err instanceof TremoloClientError ? err.code === 'E_SHUTTING_DOWN' : err instanceof TypeError;
}

export function codeOf(err: unknown): string {
  if (err instanceof TremoloClientError) return err.code;
  return err instanceof Error ? err.name : 'unknown';
}
