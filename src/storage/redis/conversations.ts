/**
 * Conversations on Redis: one hash tag per conversation (`c:{id}:*`, see keys.ts), so each
 * turn is one conversation-apply script on one slot; each user's conversation index and DM
 * policy live in the user's slot and are written as separate, idempotent steps
 * (`touch` only ever moves a conversation forward).
 */
import { randomUUID } from 'node:crypto';
import { TremoloError } from '../../protocol/errors.ts';
import { DM_POLICIES, type ConversationKind, type DmEvent, type DmPolicy } from '../../protocol/dm.ts';
import {
  DEFAULT_DM_LOG_MAX,
  type ConversationBatchResult,
  type ConversationOp,
  type ConversationOpResult,
  type ConversationState,
  type ConversationStore,
  type DmEventRange,
} from '../store.ts';
import { asArray, type RedisContext } from './context.ts';
import { io, isScriptFailure, scriptFailure } from './scripts.ts';

interface RawState extends Omit<ConversationState, 'members' | 'memberStates'> {
  members: unknown;
  memberStates: unknown;
}

/** cjson gives `{}` for an empty array: every array of a script's reply goes through here. */
function state(raw: RawState): ConversationState {
  return { ...raw, members: asArray(raw.members) as string[], memberStates: asArray(raw.memberStates) as ConversationState['memberStates'] };
}

export class RedisConversations implements ConversationStore {
  private readonly logMax: number;

  constructor(private readonly ctx: RedisContext) {
    this.logMax = ctx.limits.dmLogMax ?? DEFAULT_DM_LOG_MAX;
  }

  async applyOps(
    conversationId: string,
    ops: ConversationOp[],
    opts: { now: number; create?: { kind: ConversationKind; members: string[] } },
  ): Promise<ConversationBatchResult> {
    const k = this.ctx.keys.conversation(conversationId);
    // the script compares ISO dates as text; an op's other fields go as they are
    const wire = ops.map((op) => (op.type === 'delete' ? { ...op, notBeforeIso: new Date(op.notBefore).toISOString() } : op));
    const reply = await this.ctx.scripts.run(
      'conversation-apply',
      [k.meta, k.members, k.log, k.idempotency, k.deleted],
      [opts.now, this.logMax, randomUUID(), opts.create ? JSON.stringify(opts.create) : '', JSON.stringify(wire)],
    );
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    const parsed = JSON.parse(String(reply)) as { results: unknown; events: unknown; departed: unknown; state: RawState };
    return {
      results: (asArray(parsed.results) as ConversationOpResult[]).map((r) => (r.ok && r.type === 'send' ? { ...r, message: r.message } : r)),
      events: asArray(parsed.events) as DmEvent[],
      departed: asArray(parsed.departed) as string[],
      state: state(parsed.state),
    };
  }

  async get(conversationId: string): Promise<ConversationState | null> {
    const k = this.ctx.keys.conversation(conversationId);
    const reply = await this.ctx.scripts.run('conversation-state', [k.meta, k.members, k.log, k.deleted], [randomUUID()]);
    return reply === '' || reply === null ? null : state(JSON.parse(String(reply)) as RawState);
  }

  async getMany(conversationIds: readonly string[]): Promise<(ConversationState | null)[]> {
    return Promise.all(conversationIds.map((id) => this.get(id)));
  }

  async events(conversationId: string, sinceSeq: number, limit: number): Promise<DmEventRange> {
    const r = await this.read(conversationId, 'after', sinceSeq, limit);
    return r;
  }

  async history(conversationId: string, beforeSeq: number | undefined, limit: number): Promise<DmEvent[]> {
    return (await this.read(conversationId, 'before', beforeSeq ?? 0, limit)).events;
  }

  async touch(userIds: readonly string[], conversationId: string, activity: number): Promise<void> {
    const { keys, scripts } = this.ctx;
    await Promise.all(userIds.map((u) => scripts.write(keys.userConversations(u), (p) => p.zadd(keys.userConversations(u), 'GT', activity, conversationId))));
  }

  async untouch(userId: string, conversationId: string): Promise<void> {
    const { keys, scripts } = this.ctx;
    await scripts.write(keys.userConversations(userId), (p) => p.zrem(keys.userConversations(userId), conversationId));
  }

  async inbox(userId: string, before: number | undefined, limit: number): Promise<{ conversationId: string; activity: number }[]> {
    const { client, keys } = this.ctx;
    const max = before === undefined ? '+inf' : `(${before}`;
    return pairs(await io(() => client.zrevrangebyscore(keys.userConversations(userId), max, '-inf', 'WITHSCORES', 'LIMIT', 0, limit)));
  }

  async changedSince(userId: string, since: number, limit: number): Promise<{ conversationId: string; activity: number }[]> {
    const { client, keys } = this.ctx;
    return pairs(await io(() => client.zrangebyscore(keys.userConversations(userId), since, '+inf', 'WITHSCORES', 'LIMIT', 0, limit)));
  }

  async policy(userId: string): Promise<DmPolicy> {
    const { client, keys } = this.ctx;
    const value = await io(() => client.get(keys.dmPolicy(userId)));
    return (DM_POLICIES as readonly (string | null)[]).includes(value) ? (value as DmPolicy) : 'mutual';
  }

  async setPolicy(userId: string, policy: DmPolicy): Promise<void> {
    const { keys, scripts } = this.ctx;
    await scripts.write(keys.dmPolicy(userId), (p) => p.set(keys.dmPolicy(userId), policy));
  }

  private async read(conversationId: string, mode: 'after' | 'before', seq: number, limit: number): Promise<DmEventRange> {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new TremoloError('E_VALIDATION', 'seq must be a non-negative integer', { details: { field: 'seq' } });
    const k = this.ctx.keys.conversation(conversationId);
    const reply = await this.ctx.scripts.run('conversation-events', [k.meta, k.log, k.deleted], [mode, seq, Math.max(0, limit), randomUUID()]);
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    const r = JSON.parse(String(reply)) as { epoch: string; head: number; complete: boolean; events: unknown };
    return { epoch: r.epoch, head: r.head, complete: r.complete, events: asArray(r.events) as DmEvent[] };
  }
}

function pairs(flat: string[]): { conversationId: string; activity: number }[] {
  const out: { conversationId: string; activity: number }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ conversationId: flat[i]!, activity: Number(flat[i + 1]) });
  return out;
}
