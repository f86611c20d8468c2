/**
 * Users on Redis: a hash per user, the handle index in its own slot, and the follow
 * graph as two sorted sets per user (see keys.ts).
 */
import { TremoloError } from '../../protocol/errors.ts';
import type { Page, PageRequest, UserProfile } from '../../protocol/model.ts';
import { decodeCursor, pageOf } from '../cursor.ts';
import { userOpEvent } from '../interaction-events.ts';
import type { UserOp, UserOpResult, UserRecord, UserStore } from '../store.ts';
import { asArray, exclusive, type RedisContext } from './context.ts';
import { writeArgs } from './interactions.ts';
import { io, isScriptFailure, scriptFailure } from './scripts.ts';

const USER_FIELDS = ['id', 'handle', 'displayName', 'bio', 'createdAt', 'passwordHash'] as const;

function encodeUser(user: UserRecord): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const f of USER_FIELDS) fields[f] = user[f];
  return fields;
}

function decodeUser(hash: Record<string, string>): UserRecord | null {
  if (hash.id === undefined) return null;
  const user = {} as UserRecord;
  for (const f of USER_FIELDS) user[f] = hash[f] ?? '';
  return user;
}

/** The UserStore of the Redis driver. */
export class RedisUsers implements UserStore {
  constructor(private readonly ctx: RedisContext) {}

  async create(user: UserRecord): Promise<void> {
    const { client, keys, scripts } = this.ctx;
    const handleKey = keys.handle(user.handle.toLowerCase());
    const userKey = keys.user(user.id);
    // The handle index and the user are in different slots: claim the handle (SET NX),
    // then write the user. A retry after a failure in between finds the handle held by
    // this very id with no user written yet, and finishes the job.
    const claimed = await scripts.write(handleKey, (p) => p.set(handleKey, user.id, 'NX'));
    if (claimed === null) {
      const [holder, written] = await Promise.all([io(() => client.get(handleKey)), io(() => client.exists(userKey))]);
      if (holder !== user.id || written === 1) throw new TremoloError('E_HANDLE_TAKEN');
    }
    await scripts.write(userKey, (p) => p.hset(userKey, encodeUser(user)));
  }

  async get(id: string): Promise<UserRecord | null> {
    const { client, keys } = this.ctx;
    return decodeUser(await io(() => client.hgetall(keys.user(id))));
  }

  async getByHandle(handle: string): Promise<UserRecord | null> {
    const { client, keys } = this.ctx;
    const id = await io(() => client.get(keys.handle(handle.toLowerCase())));
    return id === null ? null : this.get(id);
  }

  async profile(id: string): Promise<UserProfile | null> {
    const { client, keys } = this.ctx;
    const [hash, followers, following, videos] = await Promise.all([
      io(() => client.hgetall(keys.user(id))),
      io(() => client.zcard(keys.followers(id))),
      io(() => client.zcard(keys.following(id))),
      io(() => client.zcard(keys.userVideos(id))),
    ]);
    const user = decodeUser(hash);
    if (!user) return null;
    const { passwordHash: _hidden, ...rest } = user;
    return { ...rest, followers, following, videos };
  }

  /**
   * A follow touches two users, i.e. two Cluster slots, so it cannot be one script. It is
   * two idempotent steps: the follower's `following` set (the source of truth for
   * `changed`, one script for the whole batch), then each followee's `followers` set set
   * to the batch's last intent. A failure in between fails the call; the caller's retry
   * finds step one already done (`changed: false`) and redoes step two, so both sides
   * converge. Counts are ZCARD, so always exact for each side.
   */
  async applyOps(userId: string, ops: UserOp[], opts: { now: number }): Promise<UserOpResult[]> {
    const { client, keys, scripts } = this.ctx;
    const targets = [...new Set(ops.map((op) => op.targetId).filter((t) => t !== userId))];
    const found = await Promise.all(targets.map((t) => io(() => client.exists(keys.user(t)))));
    const known = new Set(targets.filter((_, i) => found[i] === 1));

    const args: (string | number)[] = [...writeArgs(this.ctx.interactions)];
    const intent = new Map<string, UserOp['type']>();
    for (const op of ops) {
      if (op.targetId === userId || !known.has(op.targetId)) continue;
      args.push(op.type === 'follow' ? 'f' : 'u', op.targetId, JSON.stringify(userOpEvent(userId, op, this.ctx.eventId(), opts.now)));
      intent.set(op.targetId, op.type);
    }
    const [stream, extra] = await this.ctx.streams.keysFor(userId);
    const reply = await scripts.run('user-follow', [keys.user(userId), keys.following(userId), keys.blocks(userId), keys.blockedBy(userId), stream, extra], args);
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    const changed = asArray(reply);

    // a follow refused for a block leaves the followee's side alone
    let k = 0;
    for (const op of ops) {
      if (op.targetId === userId || !known.has(op.targetId)) continue;
      if (changed[k++] === 2 && op.type === 'follow') intent.delete(op.targetId);
    }
    await Promise.all(
      [...intent].map(([target, type]) =>
        scripts.write(keys.followers(target), (p) => (type === 'follow' ? p.zadd(keys.followers(target), 0, userId) : p.zrem(keys.followers(target), userId))),
      ),
    );

    let next = 0;
    return ops.map((op): UserOpResult => {
      if (op.targetId === userId) return { ok: false, code: 'E_SELF_FOLLOW' };
      if (!known.has(op.targetId)) return { ok: false, code: 'E_USER_NOT_FOUND' };
      const c = changed[next++];
      return c === 2 ? { ok: false, code: 'E_BLOCKED' } : { ok: true, changed: c === 1 };
    });
  }

  async isFollowing(userId: string, targetId: string): Promise<boolean> {
    const { client, keys } = this.ctx;
    return (await io(() => client.zscore(keys.following(userId), targetId))) !== null;
  }

  async followerCount(userId: string): Promise<number> {
    const { client, keys } = this.ctx;
    return io(() => client.zcard(keys.followers(userId)));
  }

  async followers(userId: string, page: PageRequest): Promise<Page<string>> {
    return this.list(userId, this.ctx.keys.followers(userId), page);
  }

  async following(userId: string, page: PageRequest): Promise<Page<string>> {
    return this.list(userId, this.ctx.keys.following(userId), page);
  }

  async allFollowing(userId: string): Promise<string[]> {
    const { client, keys } = this.ctx;
    return io(() => client.zrange(keys.following(userId), '0', '-1'));
  }

  private async list(userId: string, setKey: string, page: PageRequest): Promise<Page<string>> {
    const { client, keys, scripts } = this.ctx;
    let after: string | undefined;
    try {
      after = decodeCursor(page.cursor);
    } catch (err) {
      // same precedence as the memory driver: an unknown user first
      if ((await io(() => client.exists(keys.user(userId)))) === 0) throw new TremoloError('E_USER_NOT_FOUND');
      throw err;
    }
    const reply = await scripts.run('user-list', [keys.user(userId), setKey], [exclusive(after, '-'), page.limit + 1]);
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    return pageOf(asArray(reply) as string[], page.limit, (id) => id);
  }
}
