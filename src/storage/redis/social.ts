/**
 * The inbox, blocks and moderation on Redis. A user's inbox and blocks share the user's hash
 * tag (`u:{id}:notes*`, `u:{id}:blocks`), so folding a batch in (and dropping the actors the
 * user blocks) is one script on one slot. A block also writes `blocked-by` on the blocked
 * user's slot, as a second idempotent step, so a follow can check both directions in the
 * follower's own slot. Moderation lives in its own slot (`{mod}`): it is low-volume.
 */
import { TremoloError } from '../../protocol/errors.ts';
import type { Notification, Page, PageRequest } from '../../protocol/model.ts';
import { targetKey, type HiddenRecord, type InboxEntry, type ModerationTarget, type Report } from '../../protocol/social.ts';
import { decodeCursor, decodeOffsetCursor, pageOf } from '../cursor.ts';
import type { BlockStore, InboxItem, InboxLimits, InboxWrite, ModerationStore, NotificationStore } from '../social.ts';
import { asArray, exclusive, type RedisContext } from './context.ts';
import { io, isScriptFailure, scriptFailure } from './scripts.ts';

interface StoredEntry extends Omit<InboxEntry, 'read' | 'latest'> {
  seq: number;
  startedAt: number;
}

function decodeEntry(json: string, note: string, read: boolean): { entry: InboxEntry; seq: number } {
  const { seq, startedAt: _started, ...rest } = JSON.parse(json) as StoredEntry;
  // cjson writes an empty array as {}
  return { entry: { ...rest, actorIds: asArray(rest.actorIds) as string[], read, latest: JSON.parse(note) as Notification }, seq };
}

export class RedisNotifications implements NotificationStore {
  constructor(private readonly ctx: RedisContext) {}

  async add(userId: string, items: InboxItem[], opts: { now: number; limits: InboxLimits }): Promise<InboxWrite> {
    const { keys, scripts } = this.ctx;
    const k = keys.notes(userId);
    const { max, windowMs, actorsKept } = opts.limits;
    const args: (string | number)[] = [opts.now, windowMs, max, actorsKept, new Date(opts.now).toISOString()];
    for (const item of items) args.push(item.entryId, item.type, item.target, JSON.stringify(item.notification), item.actorIds.length, ...item.actorIds);
    const reply = asArray(await scripts.run('inbox-add', [k.order, k.data, k.agg, k.unread, k.seq, keys.blocks(userId)], args));
    const entries: InboxEntry[] = [];
    for (let i = 1; i + 1 < reply.length; i += 2) entries.push(decodeEntry(String(reply[i]), String(reply[i + 1]), false).entry);
    return { entries, unread: Number(reply[0]) };
  }

  async list(userId: string, page: PageRequest): Promise<Page<InboxEntry> & { unread: number }> {
    const { keys, scripts } = this.ctx;
    const before = decodeOffsetCursor(page.cursor);
    const k = keys.notes(userId);
    const reply = asArray(await scripts.run('inbox-list', [k.order, k.data, k.unread], [before === 0 ? '+inf' : `(${before}`, page.limit + 1]));
    const fetched: { entry: InboxEntry; seq: number }[] = [];
    for (let i = 1; i + 2 < reply.length; i += 3) {
      fetched.push(decodeEntry(String(reply[i]), String(reply[i + 1]), Number(reply[i + 2]) === 0));
    }
    const { items, nextCursor } = pageOf(fetched, page.limit, (e) => e.seq);
    return { items: items.map((e) => e.entry), ...(nextCursor ? { nextCursor } : {}), unread: Number(reply[0]) };
  }

  async unread(userId: string): Promise<number> {
    const { client, keys } = this.ctx;
    return io(() => client.scard(keys.notes(userId).unread));
  }

  async markRead(userId: string, entryId?: string): Promise<{ found: boolean; unread: number }> {
    const { keys, scripts } = this.ctx;
    const k = keys.notes(userId);
    const [found, unread] = asArray(await scripts.run('inbox-read', [k.order, k.unread], [entryId ?? '']));
    return { found: found === 1, unread: Number(unread) };
  }
}

export class RedisBlocks implements BlockStore {
  constructor(private readonly ctx: RedisContext) {}

  async block(userId: string, targetId: string, max: number): Promise<{ changed: boolean }> {
    const { keys, scripts } = this.ctx;
    const reply = await scripts.run('user-block', [keys.blocks(userId)], [targetId, max]);
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    // the blocked side, written even when the block was in place: a retry after a failure here converges
    await scripts.write(keys.blockedBy(targetId), (p) => p.zadd(keys.blockedBy(targetId), 0, userId));
    return { changed: reply === 1 };
  }

  async unblock(userId: string, targetId: string): Promise<{ changed: boolean }> {
    const { keys, scripts } = this.ctx;
    const removed = await scripts.write(keys.blocks(userId), (p) => p.zrem(keys.blocks(userId), targetId));
    await scripts.write(keys.blockedBy(targetId), (p) => p.zrem(keys.blockedBy(targetId), userId));
    return { changed: removed === 1 };
  }

  async blocks(userId: string, targetId: string): Promise<boolean> {
    const { client, keys } = this.ctx;
    return (await io(() => client.zscore(keys.blocks(userId), targetId))) !== null;
  }

  async allBlocked(userId: string): Promise<string[]> {
    const { client, keys } = this.ctx;
    return io(() => client.zrange(keys.blocks(userId), '0', '-1'));
  }

  async blocked(userId: string, page: PageRequest): Promise<Page<string>> {
    const { client, keys } = this.ctx;
    const after = decodeCursor(page.cursor);
    const fetched = await io(() => client.zrangebylex(keys.blocks(userId), exclusive(after, '-'), '+', 'LIMIT', 0, page.limit + 1));
    return pageOf(fetched, page.limit, (id) => id);
  }
}

export class RedisModeration implements ModerationStore {
  constructor(private readonly ctx: RedisContext) {}

  async report(report: Report, maxOpen: number): Promise<{ report: Report; duplicate: boolean }> {
    const { keys, scripts } = this.ctx;
    const m = keys.moderation();
    const target = targetKey(report.target);
    const reply = await scripts.run('mod-report', [m.reports, m.data, m.dedup, keys.targetReports(target)], [report.id, `${report.reporterId}|${target}`, JSON.stringify(report), maxOpen]);
    if (reply === -9) throw new TremoloError('E_QUEUE_FULL', 'Too many open reports; retry later', { retryAfter: 60 });
    if (reply === 'ok') return { report, duplicate: false };
    return { report: JSON.parse(String(reply)) as Report, duplicate: true };
  }

  async openReports(page: PageRequest): Promise<Page<Report>> {
    const { client, keys } = this.ctx;
    const m = keys.moderation();
    const after = decodeCursor(page.cursor);
    const ids = await io(() => client.zrangebylex(m.reports, exclusive(after, '-'), '+', 'LIMIT', 0, page.limit + 1));
    if (ids.length === 0) return { items: [] };
    const jsons = await io(() => client.hmget(m.data, ...ids));
    // a report resolved between the two reads is gone: skip it
    const reports = jsons.filter((j): j is string => j !== null).map((j) => JSON.parse(j) as Report);
    return pageOf(reports, page.limit, (r) => r.id);
  }

  async resolveReports(target: ModerationTarget): Promise<number> {
    const { keys, scripts } = this.ctx;
    const m = keys.moderation();
    const key = targetKey(target);
    return Number(await scripts.run('mod-resolve', [m.reports, m.data, m.dedup, keys.targetReports(key)], [key]));
  }

  async commentAuthor(commentId: string): Promise<string | null> {
    const { client, keys } = this.ctx;
    return io(() => client.hget(keys.video(commentId.slice(0, 13)).commentAuthors, commentId));
  }

  async hide(target: ModerationTarget, record: HiddenRecord): Promise<boolean> {
    const { keys, scripts } = this.ctx;
    return (await scripts.write(keys.moderation().hidden, (p) => p.hsetnx(keys.moderation().hidden, targetKey(target), JSON.stringify(record)))) === 1;
  }

  async restore(target: ModerationTarget): Promise<boolean> {
    const { keys, scripts } = this.ctx;
    return (await scripts.write(keys.moderation().hidden, (p) => p.hdel(keys.moderation().hidden, targetKey(target)))) === 1;
  }

  async hidden(targets: readonly ModerationTarget[]): Promise<(HiddenRecord | null)[]> {
    if (targets.length === 0) return [];
    const { client, keys } = this.ctx;
    const jsons = await io(() => client.hmget(keys.moderation().hidden, ...targets.map(targetKey)));
    return jsons.map((j) => (j === null ? null : (JSON.parse(j) as HiddenRecord)));
  }
}
