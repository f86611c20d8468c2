/**
 * The behaviour log in ClickHouse: the schema (versioned migrations applied at open), batch
 * inserts for the exporter, and the creator-analytics queries.
 *
 * Written for the oldest server it supports, Debian's 18.16 (its version is read at open):
 * no query parameters (values are inlined, each one checked or escaped first), JSONEachRow
 * inserts, no insert deduplication (ReplacingMergeTree + FINAL instead), errors as plain
 * Errors carrying `Code: N`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { TremoloError } from '../../protocol/errors.ts';
import type { InteractionEvent } from '../../protocol/interactions.ts';
import type { AnalyticsFigures } from '../../protocol/model.ts';
import { toRow, type InteractionRow } from './rows.ts';

/** The oldest server the schema and the queries are written for. */
export const MIN_SERVER_VERSION: readonly [number, number] = [18, 16];

export interface BehaviourLogOptions {
  /** http(s)://[user:password@]host:port */
  url: string;
  database: string;
  /** Folder of `NNN-name.sql` migrations; default: ./migrations beside this file. */
  migrations?: URL;
  /** Per request. Default 30 s. */
  timeoutMs?: number;
}

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

export type Bucket = 'hour' | 'day';

/** One bucket of a video's analytics. */
export interface AnalyticsBucket extends AnalyticsFigures {
  /** Start of the bucket, ms since the epoch (UTC hours and days). */
  start: number;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const ID = /^[0-9A-Z]{13}$/;

export function readMigrations(dir: URL): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}-[a-z0-9-]+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const text = readFileSync(new URL(file, dir), 'utf8')
        .split('\n')
        .filter((line) => !line.trimStart().startsWith('--'))
        .join('\n');
      return {
        version: Number(file.slice(0, 3)),
        name: file.slice(4, -4),
        statements: text
          .split(/;\s*(?:\n|$)/)
          .map((s) => s.trim())
          .filter(Boolean),
      };
    });
}

export class BehaviourLog {
  private constructor(
    private readonly client: ClickHouseClient,
    readonly database: string,
    /** The server's version, e.g. `18.16.1`. */
    readonly serverVersion: string,
  ) {}

  /** Connects, checks the server version, creates the database and applies pending migrations. */
  static async open(opts: BehaviourLogOptions): Promise<BehaviourLog> {
    if (!NAME.test(opts.database)) throw new RangeError(`database must be a plain name, got ${JSON.stringify(opts.database)}`);
    const u = new URL(opts.url);
    const username = decodeURIComponent(u.username) || 'default';
    const password = decodeURIComponent(u.password);
    u.username = '';
    u.password = '';
    const client = createClient({
      url: u.toString().replace(/\/$/, ''),
      username,
      password,
      request_timeout: opts.timeoutMs ?? 30_000,
      // the exporter retries whole batches itself; a kept-alive socket that the server closed must not fail one
      keep_alive: { enabled: true },
      // failures reach the caller (the exporter logs them once, with its retry); no second log
      log: { level: ClickHouseLogLevel.OFF },
    });
    try {
      const version = await serverVersion(client);
      const [major, minor] = version.split('.').map(Number) as [number, number];
      if (major < MIN_SERVER_VERSION[0] || (major === MIN_SERVER_VERSION[0] && minor < MIN_SERVER_VERSION[1])) {
        throw new Error(`ClickHouse ${version} is older than ${MIN_SERVER_VERSION.join('.')}, the oldest tremolo's schema is written for`);
      }
      const log = new BehaviourLog(client, opts.database, version);
      await log.migrate(readMigrations(opts.migrations ?? new URL('./migrations/', import.meta.url)));
      return log;
    } catch (err) {
      await client.close();
      throw err;
    }
  }

  /** Applies the migrations not yet recorded in `schema_migrations`, in order; returns their versions. */
  async migrate(migrations: readonly Migration[]): Promise<number[]> {
    const db = this.database;
    await this.client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
    await this.client.command({
      query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version`,
    });
    const rows = await this.select<{ version: number | string }>(`SELECT DISTINCT version FROM ${db}.schema_migrations`);
    const applied = new Set(rows.map((r) => Number(r.version)));
    const done: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      // statements are idempotent (IF NOT EXISTS), so two processes migrating at once both succeed
      for (const statement of m.statements) await this.client.command({ query: statement.replaceAll('{db}', db) });
      await this.client.insert({
        table: `${db}.schema_migrations`,
        values: [{ version: m.version, name: m.name, applied_at: Math.floor(Date.now() / 1000) }],
        format: 'JSONEachRow',
      });
      done.push(m.version);
    }
    return done;
  }

  /** One INSERT of the whole batch; resolves once the server acknowledged it. */
  async insert(events: readonly InteractionEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.client.insert({ table: `${this.database}.interactions`, values: events.map(toRow), format: 'JSONEachRow' });
  }

  /** Distinct event ids stored (exactly-once rows: duplicates collapse under FINAL). */
  async countDistinct(where = '1'): Promise<{ rows: number; distinct: number }> {
    const [r] = await this.select<{ rows: string; distinct: string }>(
      `SELECT count() AS rows, uniqExact(id) AS distinct FROM ${this.database}.interactions FINAL WHERE ${where}`,
    );
    return { rows: Number(r?.rows ?? 0), distinct: Number(r?.distinct ?? 0) };
  }

  /** The stored events matching `where` (a trusted SQL condition), oldest id first, once each (FINAL): for tests and tools. */
  async rows(where: string, limit = 1000): Promise<InteractionRow[]> {
    return this.select<InteractionRow>(`SELECT * FROM ${this.database}.interactions FINAL WHERE ${where} ORDER BY id LIMIT ${Math.max(0, Math.trunc(limit))}`);
  }

  /**
   * A video's analytics per bucket over [from, to) (ms, UTC buckets). `ownerId`'s follows and
   * unfollows in the window count as followers gained.
   */
  async videoAnalytics(videoId: string, ownerId: string, from: number, to: number, bucket: Bucket): Promise<AnalyticsBucket[]> {
    if (!ID.test(videoId) || !ID.test(ownerId)) throw new TremoloError('E_VALIDATION', 'ids must be 13-character ids');
    const size = bucket === 'hour' ? 3600 : 86400;
    const [f, t] = [Math.floor(from / 1000), Math.ceil(to / 1000)];
    const table = `${this.database}.interactions`;
    const b = `intDiv(toUInt32(at), ${size}) * ${size}`;
    const inRange = `at >= toDateTime(${f}) AND at < toDateTime(${t})`;
    const viewer = `if(user_id != '', user_id, concat('~', session_id))`;
    const [counts, watches, follows] = await Promise.all([
      this.select<Record<string, string>>(
        `SELECT ${b} AS b, countIf(type = 'view') AS views, uniqExactIf(${viewer}, type = 'view') AS viewers,
                countIf(type = 'like') AS likes, countIf(type = 'comment') AS comments
         FROM ${table} FINAL WHERE video_id = '${videoId}' AND ${inRange} GROUP BY b`,
      ),
      this.select<Record<string, string>>(
        `SELECT b, avg(w) AS avg_watch, avg(c) AS completion FROM (
           SELECT ${b} AS b, ${viewer} AS viewer, max(watched_ms) AS w, max(completed) AS c
           FROM ${table} FINAL WHERE video_id = '${videoId}' AND type = 'watch' AND ${inRange} GROUP BY b, viewer
         ) GROUP BY b`,
      ),
      this.select<Record<string, string>>(
        `SELECT ${b} AS b, countIf(type = 'follow') - countIf(type = 'unfollow') AS gained
         FROM ${table} FINAL WHERE video_id = '' AND target_id = '${ownerId}' AND type IN ('follow', 'unfollow') AND ${inRange} GROUP BY b`,
      ),
    ]);
    const buckets = new Map<number, AnalyticsBucket>();
    const at = (sec: string | undefined) => {
      const start = Number(sec) * 1000;
      let row = buckets.get(start);
      if (!row) {
        row = { start, views: 0, uniqueViewers: 0, avgWatchMs: 0, completionRate: 0, likes: 0, likeRate: 0, comments: 0, followersGained: 0 };
        buckets.set(start, row);
      }
      return row;
    };
    for (const r of counts) Object.assign(at(r.b), { views: Number(r.views), uniqueViewers: Number(r.viewers), likes: Number(r.likes), comments: Number(r.comments) });
    for (const r of watches) Object.assign(at(r.b), { avgWatchMs: Math.round(Number(r.avg_watch)), completionRate: Number(r.completion) });
    for (const r of follows) at(r.b).followersGained = Number(r.gained);
    for (const row of buckets.values()) row.likeRate = row.views > 0 ? row.likes / row.views : 0;
    return [...buckets.values()].sort((x, y) => x.start - y.start);
  }

  async ping(): Promise<void> {
    await serverVersion(this.client);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async select<T>(query: string): Promise<T[]> {
    const rs = await this.client.query({ query, format: 'JSONEachRow' });
    return rs.json<T>();
  }
}

async function serverVersion(client: ClickHouseClient): Promise<string> {
  const rs = await client.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
  const [row] = await rs.json<{ v: string }>();
  if (!row) throw new Error('ClickHouse answered no version');
  return row.v;
}
