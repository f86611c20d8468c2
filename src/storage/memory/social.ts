/**
 * The inbox, blocks and moderation in memory: the reference behaviour of redis/social.ts
 * (inbox-add-6.lua and friends). Each method runs to completion synchronously, so it is atomic.
 */
import { TremoloError } from '../../protocol/errors.ts';
import type { Page, PageRequest } from '../../protocol/model.ts';
import { targetKey, type HiddenRecord, type InboxEntry, type ModerationTarget, type Report } from '../../protocol/social.ts';
import { decodeCursor, decodeOffsetCursor, pageOf } from '../cursor.ts';
import type { BlockStore, InboxItem, InboxLimits, InboxWrite, ModerationStore, NotificationStore } from '../social.ts';
import { SortedIds } from '../sorted-ids.ts';
import { copy, type MemoryTables } from './tables.ts';

/** An entry as stored: the wire entry without `read` (kept in the unread set), with its ordering sequence. */
interface StoredEntry extends Omit<InboxEntry, 'read'> {
  seq: number;
  /** When the entry's window started (ms). */
  startedAt: number;
}

interface UserInbox {
  seq: number;
  entries: Map<string, StoredEntry>;
  /** `${type}|${target}` -> entry id. */
  byKey: Map<string, string>;
  unread: Set<string>;
}

export class MemoryNotifications implements NotificationStore {
  private readonly inboxes = new Map<string, UserInbox>();

  constructor(private readonly tables: MemoryTables) {}

  async add(userId: string, items: InboxItem[], opts: { now: number; limits: InboxLimits }): Promise<InboxWrite> {
    const { now, limits } = opts;
    let inbox = this.inboxes.get(userId);
    if (!inbox) this.inboxes.set(userId, (inbox = { seq: 0, entries: new Map(), byKey: new Map(), unread: new Set() }));
    const blocked = this.tables.blocks.get(userId)?.blocks;
    const touched: string[] = [];
    for (const item of items) {
      const actors = item.actorIds.filter((a) => !blocked?.has(a));
      if (item.actorIds.length > 0 && actors.length === 0) continue;
      const key = `${item.type}|${item.target}`;
      const at = new Date(now).toISOString();
      let entry = inbox.entries.get(inbox.byKey.get(key) ?? '');
      if (!entry || now - entry.startedAt >= limits.windowMs) {
        if (entry) inbox.byKey.delete(key);
        entry = { id: item.entryId, type: item.type, target: item.target, actorIds: [], count: 0, createdAt: at, updatedAt: at, latest: item.notification, seq: 0, startedAt: now };
        inbox.entries.set(entry.id, entry);
        inbox.byKey.set(key, entry.id);
      }
      for (const a of actors) entry.actorIds = [a, ...entry.actorIds.filter((x) => x !== a)].slice(0, limits.actorsKept);
      entry.count += Math.max(1, actors.length);
      entry.latest = copy(item.notification);
      entry.updatedAt = at;
      entry.seq = ++inbox.seq;
      inbox.unread.add(entry.id);
      touched.push(entry.id);
    }
    // trim: the least recently updated go first
    if (inbox.entries.size > limits.max) {
      const oldest = [...inbox.entries.values()].sort((a, b) => a.seq - b.seq).slice(0, inbox.entries.size - limits.max);
      for (const e of oldest) this.drop(inbox, e);
    }
    const entries = [...new Set(touched)]
      .map((id) => inbox.entries.get(id))
      .filter((e): e is StoredEntry => e !== undefined)
      .sort((a, b) => a.seq - b.seq)
      .map((e) => wire(e, inbox));
    return { entries, unread: inbox.unread.size };
  }

  async list(userId: string, page: PageRequest): Promise<Page<InboxEntry> & { unread: number }> {
    const before = decodeOffsetCursor(page.cursor) || Number.MAX_SAFE_INTEGER;
    const inbox = this.inboxes.get(userId);
    if (!inbox) return { items: [], unread: 0 };
    const fetched = [...inbox.entries.values()]
      .filter((e) => e.seq < before)
      .sort((a, b) => b.seq - a.seq)
      .slice(0, page.limit + 1);
    const seqs = new Map(fetched.map((e) => [e.id, e.seq]));
    return { ...pageOf(fetched.map((e) => wire(e, inbox)), page.limit, (e) => seqs.get(e.id)!), unread: inbox.unread.size };
  }

  async unread(userId: string): Promise<number> {
    return this.inboxes.get(userId)?.unread.size ?? 0;
  }

  async markRead(userId: string, entryId?: string): Promise<{ found: boolean; unread: number }> {
    const inbox = this.inboxes.get(userId);
    if (!inbox) return { found: entryId === undefined, unread: 0 };
    if (entryId === undefined) {
      inbox.unread.clear();
      return { found: true, unread: 0 };
    }
    inbox.unread.delete(entryId);
    return { found: inbox.entries.has(entryId), unread: inbox.unread.size };
  }

  private drop(inbox: UserInbox, e: StoredEntry): void {
    inbox.entries.delete(e.id);
    inbox.unread.delete(e.id);
    const key = `${e.type}|${e.target}`;
    if (inbox.byKey.get(key) === e.id) inbox.byKey.delete(key);
  }
}

function wire(e: StoredEntry, inbox: UserInbox): InboxEntry {
  const { seq: _seq, startedAt: _started, ...rest } = e;
  return { ...copy(rest), read: !inbox.unread.has(e.id) };
}

export class MemoryBlocks implements BlockStore {
  constructor(private readonly tables: MemoryTables) {}

  async block(userId: string, targetId: string, max: number): Promise<{ changed: boolean }> {
    const mine = this.row(userId);
    if (mine.blocks.has(targetId)) return { changed: false };
    if (mine.blocks.size >= max) throw new TremoloError('E_BLOCK_LIMIT');
    mine.blocks.add(targetId);
    this.row(targetId).blockedBy.add(userId);
    return { changed: true };
  }

  async unblock(userId: string, targetId: string): Promise<{ changed: boolean }> {
    const changed = this.row(userId).blocks.delete(targetId);
    this.row(targetId).blockedBy.delete(userId);
    return { changed };
  }

  async blocks(userId: string, targetId: string): Promise<boolean> {
    return this.tables.blocks.get(userId)?.blocks.has(targetId) ?? false;
  }

  async allBlocked(userId: string): Promise<string[]> {
    return [...(this.tables.blocks.get(userId)?.blocks.all() ?? [])];
  }

  async blocked(userId: string, page: PageRequest): Promise<Page<string>> {
    const fetched = this.tables.blocks.get(userId)?.blocks.ascending(decodeCursor(page.cursor), page.limit + 1) ?? [];
    return pageOf(fetched, page.limit, (id) => id);
  }

  private row(userId: string) {
    let row = this.tables.blocks.get(userId);
    if (!row) this.tables.blocks.set(userId, (row = { blocks: new SortedIds(), blockedBy: new SortedIds() }));
    return row;
  }
}

export class MemoryModeration implements ModerationStore {
  /** Open reports by id (TSIDs, so id order is filing order). */
  private readonly open = new Map<string, Report>();
  private readonly order = new SortedIds();
  /** `${reporterId}|${targetKey}` -> report id, while the report is open. */
  private readonly dedup = new Map<string, string>();
  private readonly hiddenTargets = new Map<string, HiddenRecord>();

  constructor(private readonly tables: MemoryTables) {}

  async commentAuthor(commentId: string): Promise<string | null> {
    return this.tables.videos.get(commentId.slice(0, 13))?.comments.get(commentId)?.authorId ?? null;
  }

  async report(report: Report, maxOpen: number): Promise<{ report: Report; duplicate: boolean }> {
    const key = `${report.reporterId}|${targetKey(report.target)}`;
    const first = this.open.get(this.dedup.get(key) ?? '');
    if (first) return { report: copy(first), duplicate: true };
    if (this.open.size >= maxOpen) throw new TremoloError('E_QUEUE_FULL', 'Too many open reports; retry later', { retryAfter: 60 });
    this.open.set(report.id, copy(report));
    this.order.add(report.id);
    this.dedup.set(key, report.id);
    return { report: copy(report), duplicate: false };
  }

  async openReports(page: PageRequest): Promise<Page<Report>> {
    const ids = this.order.ascending(decodeCursor(page.cursor), page.limit + 1);
    return pageOf(ids.map((id) => copy(this.open.get(id)!)), page.limit, (r) => r.id);
  }

  async resolveReports(target: ModerationTarget): Promise<number> {
    const key = targetKey(target);
    let n = 0;
    for (const [id, r] of this.open) {
      if (targetKey(r.target) !== key) continue;
      this.open.delete(id);
      this.order.delete(id);
      this.dedup.delete(`${r.reporterId}|${key}`);
      n++;
    }
    return n;
  }

  async hide(target: ModerationTarget, record: HiddenRecord): Promise<boolean> {
    const key = targetKey(target);
    if (this.hiddenTargets.has(key)) return false;
    this.hiddenTargets.set(key, copy(record));
    return true;
  }

  async restore(target: ModerationTarget): Promise<boolean> {
    return this.hiddenTargets.delete(targetKey(target));
  }

  async hidden(targets: readonly ModerationTarget[]): Promise<(HiddenRecord | null)[]> {
    return targets.map((t) => {
      const r = this.hiddenTargets.get(targetKey(t));
      return r ? copy(r) : null;
    });
  }
}
