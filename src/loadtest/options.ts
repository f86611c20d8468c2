/**
 * Load-test settings, validated once (RangeError/TypeError naming the option), shared
 * by the CLI (`tremolo loadtest`), the programmatic API and forked shard processes.
 */
import { parseArgs } from 'node:util';

export const SCENARIOS = ['watch', 'interact', 'feed', 'mixed', 'connect-storm'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface LoadtestOptions {
  /** Server base URLs; virtual users are spread over them round-robin. */
  targets: string[];
  /**
   * Each target's Prometheus endpoint (its METRICS_HOST:METRICS_PORT), in target order;
   * default: port 9464 (METRICS_PORT's default) on each target's host.
   */
  metrics: string[];
  /** Sent as `Authorization: Bearer` when scraping (the servers' METRICS_TOKEN). */
  metricsToken?: string;
  scenario: ScenarioName;
  durationMs: number;
  /** Virtual users (each holds its own socket, or is a REST reader). */
  users: number;
  /** Registered accounts the virtual users sign in as (registration costs a password hash each). */
  accounts: number;
  videos: number;
  seed: number;
  /** Zipf exponent of video popularity. */
  zipf: number;
  /** Likes (or unlikes) per interacting viewer per second. */
  likeRate: number;
  /** Comments per interacting viewer per second. */
  commentRate: number;
  /** Share of acknowledged comments sent again under the same idempotency key. */
  commentResend: number;
  /** Comment likes (or unlikes) per interacting viewer per second, on comments this run made. */
  commentLikeRate: number;
  /** Share of comments sent as replies to a comment this run made on the video (when there is one). */
  replyShare: number;
  /** REST requests per feed reader per second. */
  httpRate: number;
  /** Mean time a viewer stays on a video before swiping to the next. */
  dwellMs: number;
  /** Time over which connections are opened (connect-storm: to reach `users`). */
  rampMs: number;
  /** connect-storm: mean lifetime of a connection before it is closed and replaced. */
  churnMs: number;
  /** The steady state (the report's `steady` latencies) begins this long after the ramp ends. */
  steadyAfterMs: number;
  /** Shard processes; 1 runs everything in this process. */
  processes: number;
  /** Local source addresses for sockets (e.g. 127.0.0.1..127.0.0.8), to go past one address's ports. */
  sourceAddresses: string[];
  parser: 'json' | 'msgpack';
  ackTimeoutMs: number;
  /** Progress output: a bar on a TTY, JSON lines otherwise, or nothing. */
  progress: 'bar' | 'json' | 'none';
  /** Where the JSON and HTML reports go (undefined: not written). */
  jsonPath?: string;
  htmlPath?: string;
  /** At most this many (account, video) like pairs are checked one by one at the end. */
  verifyMaxPairs: number;
  /** How long a like count that disagrees is read again (caches may lag) before it counts as wrong. */
  verifySettleMs: number;
}

/** METRICS_PORT's default on the servers. */
const DEFAULT_METRICS_PORT = '9464';

export const DEFAULTS: Omit<LoadtestOptions, 'targets' | 'scenario'> = {
  metrics: [],
  durationMs: 60_000,
  users: 100,
  accounts: 0, // 0: min(users, 200)
  videos: 20,
  seed: 1,
  zipf: 1,
  likeRate: 0.2,
  commentRate: 0.05,
  commentResend: 0.05,
  commentLikeRate: 0.1,
  replyShare: 0.3,
  httpRate: 1,
  dwellMs: 8_000,
  rampMs: 0, // 0: a tenth of the duration, at most 10 s
  churnMs: 10_000,
  steadyAfterMs: 2_000,
  processes: 1,
  sourceAddresses: [],
  parser: 'json',
  ackTimeoutMs: 10_000,
  progress: 'none',
  verifyMaxPairs: 20_000,
  verifySettleMs: 8_000,
};

/** Fills defaults and checks every value. */
export function resolveOptions(input: Partial<LoadtestOptions> & Pick<LoadtestOptions, 'targets' | 'scenario'>): LoadtestOptions {
  const o: LoadtestOptions = { ...DEFAULTS, ...input };
  if (o.targets.length === 0) throw new TypeError('--target is required (http://HOST:PORT, repeatable or comma-separated)');
  o.targets = o.targets.map((t) => normaliseTarget(t));
  if (o.metrics.length === 0) {
    o.metrics = o.targets.map((t) => {
      const u = new URL('/metrics', t);
      u.port = DEFAULT_METRICS_PORT;
      return u.href;
    });
  } else if (o.metrics.length !== o.targets.length) {
    throw new RangeError(`--metrics needs one URL per --target (${o.targets.length}); got ${o.metrics.length}`);
  }
  o.metrics = o.metrics.map((m) => {
    try {
      return new URL(/^https?:\/\//.test(m) ? m : `http://${m}`).href;
    } catch {
      throw new TypeError(`invalid --metrics ${JSON.stringify(m)}: expected http://HOST:PORT/metrics`);
    }
  });
  if (!SCENARIOS.includes(o.scenario)) throw new TypeError(`--scenario must be one of ${SCENARIOS.join(', ')}; got ${JSON.stringify(o.scenario)}`);
  positiveInt('users', o.users);
  positiveInt('videos', o.videos);
  positiveInt('processes', o.processes);
  positiveInt('verifyMaxPairs', o.verifyMaxPairs);
  if (o.accounts === 0) o.accounts = Math.min(o.users, 200);
  positiveInt('accounts', o.accounts);
  if (o.accounts > o.users) o.accounts = o.users;
  if (o.processes > o.accounts) throw new RangeError(`--processes (${o.processes}) cannot exceed --accounts (${o.accounts}): each process owns its accounts`);
  if (!(o.durationMs >= 100)) throw new RangeError(`--duration must be at least 100ms; got ${o.durationMs} ms`);
  if (o.rampMs === 0) o.rampMs = Math.min(10_000, Math.round(o.durationMs / 10));
  for (const [name, v] of [['zipf', o.zipf], ['likeRate', o.likeRate], ['commentRate', o.commentRate], ['commentLikeRate', o.commentLikeRate], ['httpRate', o.httpRate]] as const) {
    if (!(v >= 0 && Number.isFinite(v))) throw new RangeError(`--${kebab(name)} must be a number >= 0; got ${v}`);
  }
  if (!(o.commentResend >= 0 && o.commentResend <= 1)) throw new RangeError(`--comment-resend must be in [0, 1]; got ${o.commentResend}`);
  if (!(o.replyShare >= 0 && o.replyShare <= 1)) throw new RangeError(`--reply-share must be in [0, 1]; got ${o.replyShare}`);
  for (const [name, v] of [['dwellMs', o.dwellMs], ['churnMs', o.churnMs], ['ackTimeoutMs', o.ackTimeoutMs]] as const) {
    if (!(v > 0)) throw new RangeError(`--${kebab(name.replace(/Ms$/, ''))} must be positive; got ${v} ms`);
  }
  if (!(o.steadyAfterMs >= 0)) throw new RangeError(`--steady-after must be >= 0; got ${o.steadyAfterMs} ms`);
  if (!Number.isInteger(o.seed)) throw new RangeError(`--seed must be an integer; got ${o.seed}`);
  return o;
}

function normaliseTarget(t: string): string {
  const withScheme = /^https?:\/\//.test(t) ? t : `http://${t}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new TypeError(`invalid --target ${JSON.stringify(t)}: expected http://HOST:PORT`);
  }
  return url.origin;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`--${kebab(name)} must be a positive integer; got ${v}`);
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** "60s", "500ms", "2m", "1h" or plain milliseconds. */
export function parseDurationMs(text: string, what = 'duration'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new TypeError(`invalid ${what} ${JSON.stringify(text)}: use e.g. 500ms, 60s, 2m`);
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h']);
}

/**
 * Source addresses: a comma list, a range `127.0.0.1-127.0.0.8`, or a count `8`
 * (meaning 127.0.0.1 .. 127.0.0.8; Linux routes all of 127/8 to loopback).
 */
export function parseSourceAddresses(text: string): string[] {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n < 1 || n > 254) throw new RangeError(`--source-addresses count must be 1-254; got ${n}`);
    return Array.from({ length: n }, (_, i) => `127.0.0.${i + 1}`);
  }
  const range = /^(\d+\.\d+\.\d+\.)(\d+)-(?:\d+\.\d+\.\d+\.)?(\d+)$/.exec(t);
  if (range) {
    const [, prefix, from, to] = range;
    const a = Number(from);
    const b = Number(to);
    if (!(a >= 0 && b <= 255 && a <= b)) throw new RangeError(`invalid --source-addresses range ${JSON.stringify(t)}`);
    return Array.from({ length: b - a + 1 }, (_, i) => `${prefix}${a + i}`);
  }
  return t.split(',').map((s) => s.trim()).filter(Boolean);
}

export const CLI_USAGE = `usage: tremolo loadtest --target http://HOST:PORT --scenario NAME [options]

  --target URL            server to drive; repeat (or comma-separate) to spread users over several
  --metrics URL           each target's metrics endpoint, in target order (default: port 9464 of
                          each target's host, METRICS_PORT's default); read for server RSS and CPU
  --metrics-token T       sent as Authorization: Bearer when scraping (the servers' METRICS_TOKEN)
  --scenario NAME         ${SCENARIOS.join(' | ')}
  --duration 60s          how long load is applied (setup and the final check come on top)
  --users N               virtual users (default ${DEFAULTS.users})
  --accounts N            accounts they sign in as (default min(users, 200)); each costs one sign-up
  --videos M              videos created up front (default ${DEFAULTS.videos})
  --seed S                seed of every random choice (default ${DEFAULTS.seed})
  --zipf S                Zipf exponent of video popularity (default ${DEFAULTS.zipf})
  --like-rate R           likes/unlikes per interacting viewer per second (default ${DEFAULTS.likeRate})
  --comment-rate R        comments per interacting viewer per second (default ${DEFAULTS.commentRate})
  --comment-resend F      share of comments re-sent under the same idempotency key (default ${DEFAULTS.commentResend})
  --comment-like-rate R   comment likes/unlikes per interacting viewer per second (default ${DEFAULTS.commentLikeRate})
  --reply-share F         share of comments sent as replies to one of the run's comments (default ${DEFAULTS.replyShare})
  --http-rate R           REST requests per feed reader per second (default ${DEFAULTS.httpRate})
  --dwell 8s              mean time on a video before swiping to the next
  --ramp 6s               time over which connections open (default: a tenth of the duration, <= 10s)
  --churn 10s             connect-storm: mean connection lifetime before it is replaced
  --steady-after 2s       the report's steady-state latencies start this long after the ramp
  --processes P           shard processes generating load (default 1: this process)
  --source-addresses A    local addresses for sockets: 8 (=127.0.0.1-8), a range, or a comma list
  --parser json|msgpack   socket wire format (must match the server's SOCKET_PARSER)
  --ack-timeout 10s       an ack not back within this counts as E_ACK_TIMEOUT
  --json FILE             write the final report as JSON (default loadtest-<scenario>.json)
  --html FILE             write the final report as a self-contained HTML page (default loadtest-<scenario>.html)
  --no-report-files       write neither file
  --progress bar|json|none  live progress (default: bar on a TTY, JSON lines otherwise)
  --verify-max-pairs N    like pairs checked one by one at the end (default ${DEFAULTS.verifyMaxPairs})

Exit status: 0 when the final check found no lost and no duplicated acknowledged writes,
1 when it did (the numbers are in the report), 2 for bad options.`;

/** Numeric options and the flag each is read from. */
const NUMBER_FLAGS = [
  ['users', 'users'],
  ['accounts', 'accounts'],
  ['videos', 'videos'],
  ['seed', 'seed'],
  ['zipf', 'zipf'],
  ['likeRate', 'like-rate'],
  ['commentRate', 'comment-rate'],
  ['commentResend', 'comment-resend'],
  ['commentLikeRate', 'comment-like-rate'],
  ['replyShare', 'reply-share'],
  ['httpRate', 'http-rate'],
  ['processes', 'processes'],
  ['verifyMaxPairs', 'verify-max-pairs'],
] as const satisfies readonly (readonly [keyof LoadtestOptions, string])[];

/** Duration options (ms) and the flag each is read from ("10s", "2m", ...). */
const DURATION_FLAGS = [
  ['durationMs', 'duration'],
  ['dwellMs', 'dwell'],
  ['rampMs', 'ramp'],
  ['churnMs', 'churn'],
  ['steadyAfterMs', 'steady-after'],
  ['ackTimeoutMs', 'ack-timeout'],
] as const satisfies readonly (readonly [keyof LoadtestOptions, string])[];

/** Parses `tremolo loadtest` arguments. */
export function parseCliArgs(args: string[], isTty: boolean): LoadtestOptions {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      target: { type: 'string', multiple: true },
      metrics: { type: 'string', multiple: true },
      'metrics-token': { type: 'string' },
      scenario: { type: 'string' },
      duration: { type: 'string' },
      users: { type: 'string' },
      accounts: { type: 'string' },
      videos: { type: 'string' },
      seed: { type: 'string' },
      zipf: { type: 'string' },
      'like-rate': { type: 'string' },
      'comment-rate': { type: 'string' },
      'comment-resend': { type: 'string' },
      'comment-like-rate': { type: 'string' },
      'reply-share': { type: 'string' },
      'http-rate': { type: 'string' },
      dwell: { type: 'string' },
      ramp: { type: 'string' },
      churn: { type: 'string' },
      'steady-after': { type: 'string' },
      processes: { type: 'string' },
      'source-addresses': { type: 'string' },
      parser: { type: 'string' },
      'ack-timeout': { type: 'string' },
      json: { type: 'string' },
      html: { type: 'string' },
      'no-report-files': { type: 'boolean' },
      progress: { type: 'string' },
      'verify-max-pairs': { type: 'string' },
    },
  });
  const num = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new TypeError(`--${name} must be a number; got ${JSON.stringify(v)}`);
    return n;
  };
  const dur = (name: string, v: string | undefined) => (v === undefined ? undefined : parseDurationMs(v, `--${name}`));
  const scenario = (values.scenario ?? '') as ScenarioName;
  const progress = values.progress ?? (isTty ? 'bar' : 'json');
  if (progress !== 'bar' && progress !== 'json' && progress !== 'none') throw new TypeError(`--progress must be bar, json or none; got ${JSON.stringify(progress)}`);
  const parser = values.parser ?? 'json';
  if (parser !== 'json' && parser !== 'msgpack') throw new TypeError(`--parser must be json or msgpack; got ${JSON.stringify(parser)}`);
  const files = values['no-report-files'] ? {} : { jsonPath: values.json ?? `loadtest-${scenario}.json`, htmlPath: values.html ?? `loadtest-${scenario}.html` };
  const given: Partial<Record<keyof LoadtestOptions, unknown>> = {
    ...(values['source-addresses'] !== undefined ? { sourceAddresses: parseSourceAddresses(values['source-addresses']) } : {}),
  };
  for (const [option, flag] of NUMBER_FLAGS) given[option] = num(flag, values[flag]);
  for (const [option, flag] of DURATION_FLAGS) given[option] = dur(flag, values[flag]);
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<LoadtestOptions>;
  return resolveOptions({
    ...defined,
    targets: (values.target ?? []).flatMap((t) => t.split(',')).filter(Boolean),
    metrics: (values.metrics ?? []).flatMap((t) => t.split(',')).filter(Boolean),
    ...(values['metrics-token'] !== undefined ? { metricsToken: values['metrics-token'] } : {}),
    scenario,
    parser,
    progress,
    ...files,
  });
}
