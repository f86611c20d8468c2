/** Users in memory: the user table, the handle index and each user's follow sets. */
import { TremoloError } from '../../protocol/errors.ts';
import type { Page, PageRequest, UserProfile } from '../../protocol/model.ts';
import { decodeCursor, pageOf } from '../cursor.ts';
import { userOpEvent } from '../interaction-events.ts';
import type { InteractionEvent } from '../../protocol/interactions.ts';
import { SortedIds } from '../sorted-ids.ts';
import type { UserOp, UserOpResult, UserRecord, UserStore } from '../store.ts';
import { copy, type MemoryTables } from './tables.ts';

/** The UserStore of the memory driver. */
export class MemoryUsers implements UserStore {
  constructor(private readonly tables: MemoryTables) {}

  async create(user: UserRecord): Promise<void> {
    const { users, handles } = this.tables;
    const handle = user.handle.toLowerCase();
    if (handles.has(handle)) throw new TremoloError('E_HANDLE_TAKEN');
    handles.set(handle, user.id);
    users.set(user.id, {
      record: copy(user),
      followers: new SortedIds(),
      following: new SortedIds(),
      videos: new SortedIds(),
      inbox: new SortedIds(),
    });
  }

  async get(id: string): Promise<UserRecord | null> {
    const row = this.tables.users.get(id);
    return row ? copy(row.record) : null;
  }

  async getByHandle(handle: string): Promise<UserRecord | null> {
    const id = this.tables.handles.get(handle.toLowerCase());
    return id ? this.get(id) : null;
  }

  async profile(id: string): Promise<UserProfile | null> {
    const row = this.tables.users.get(id);
    if (!row) return null;
    const { passwordHash: _hidden, ...rest } = row.record;
    return {
      ...rest,
      followers: row.followers.size,
      following: row.following.size,
      videos: row.videos.size,
    };
  }

  async applyOps(userId: string, ops: UserOp[], opts: { now: number }): Promise<UserOpResult[]> {
    const { users, interactions } = this.tables;
    const me = users.get(userId);
    if (!me) throw new TremoloError('E_USER_NOT_FOUND');
    interactions.reserve(ops.length);
    // the call's interaction events go in together at the end, as one write (as on Redis)
    const recorded: InteractionEvent[] = [];
    const record = (op: UserOp) => recorded.push(userOpEvent(userId, op, this.tables.eventId(), opts.now));
    const results = ops.map((op): UserOpResult => {
      if (op.targetId === userId) return { ok: false, code: 'E_SELF_FOLLOW' };
      const target = users.get(op.targetId);
      if (!target) return { ok: false, code: 'E_USER_NOT_FOUND' };
      if (op.type === 'follow') {
        // either side's block refuses a follow (checked in the follower's own data, as on Redis)
        const blocks = this.tables.blocks.get(userId);
        if (blocks?.blocks.has(op.targetId) || blocks?.blockedBy.has(op.targetId)) return { ok: false, code: 'E_BLOCKED' };
        const changed = me.following.add(op.targetId);
        target.followers.add(userId);
        if (changed) record(op);
        return { ok: true, changed };
      }
      const changed = me.following.delete(op.targetId);
      target.followers.delete(userId);
      if (changed) record(op);
      return { ok: true, changed };
    });
    interactions.appendWrite(recorded);
    return results;
  }

  async isFollowing(userId: string, targetId: string): Promise<boolean> {
    return this.tables.users.get(userId)?.following.has(targetId) ?? false;
  }

  async followerCount(userId: string): Promise<number> {
    return this.tables.users.get(userId)?.followers.size ?? 0;
  }

  async followers(userId: string, page: PageRequest): Promise<Page<string>> {
    return this.list(userId, 'followers', page);
  }

  async following(userId: string, page: PageRequest): Promise<Page<string>> {
    return this.list(userId, 'following', page);
  }

  async allFollowing(userId: string): Promise<string[]> {
    return [...(this.tables.users.get(userId)?.following.all() ?? [])];
  }

  private list(userId: string, which: 'followers' | 'following', page: PageRequest): Page<string> {
    const row = this.tables.users.get(userId);
    if (!row) throw new TremoloError('E_USER_NOT_FOUND');
    const fetched = row[which].ascending(decodeCursor(page.cursor), page.limit + 1);
    return pageOf(fetched, page.limit, (id) => id);
  }
}
