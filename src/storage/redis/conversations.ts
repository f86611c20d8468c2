/**
 * Conversations on Redis: one hash tag per conversation (`c:{id}:*`, see keys.ts), so each
 * turn is one conversation-apply script on one slot; each user's conversation index and DM
 * policy live in the user's slot and are written as separate, idempotent steps
 * (`touch` only ever moves a conversation forward).
 */
import { randomUUID } from 'node:crypto';
import { TremoloError } from '../../protocol/errors.ts';
import { DM_POLICIES, type DmEvent, type DmPolicy } from '../../protocol/dm.ts';
// one name for the contract: its types here describe script replies as much as methods
import * as contract from '../conversations.ts';
import { asArray, type RedisContext } from './context.ts';
import { io, isScriptFailure, scriptFailure } from './scripts.ts';

interface RawState extends Omit<contract.ConversationState, 'members' | 'memberStates'> {
  members: unknown;
  memberStates: unknown;
}

/** A result as conversation-apply gives it: a new message's send names its entry in events (1-based). */
type WireResult = contract.ConversationOpResult | { ok: true; type: 'send'; event: number; duplicate: false };

/** cjson gives `{}` for an empty array: every array of a script's reply goes through here. */
function state(raw: RawState): contract.ConversationState {
  return { ...raw, members: asArray(raw.members) as string[], memberStates: asArray(raw.memberStates) as contract.ConversationState['memberStates'] };
}

export class RedisConversations implements contract.ConversationStore {
  private readonly logMax: number;

  constructor(private readonly ctx: RedisContext) {
    this.logMax = contract.conversationLogMax(ctx.limits);
  }

  async applyOps(conversationId: string, ops: contract.ConversationOp[], opts: contract.ApplyOptions): Promise<contract.ConversationBatchResult> {
    const k = this.ctx.keys.conversation(conversationId);
    // the script compares ISO dates as text; an op's other fields go as they are
    const wire = ops.some((op) => op.type === 'delete') ? ops.map((op) => (op.type === 'delete' ? { ...op, notBeforeIso: new Date(op.notBefore).toISOString() } : op)) : ops;
    const reply = await this.ctx.scripts.run(
      'conversation-apply',
      [k.meta, k.members, k.log, k.idempotency, k.deleted],
      [opts.now, this.logMax, randomUUID(), opts.create ? JSON.stringify(opts.create) : '', JSON.stringify(wire)],
    );
    if (isScriptFailure(reply)) throw scriptFailure(reply);
    const parsed = JSON.parse(String(reply)) as { results: unknown; events: unknown; departed: unknown; state: RawState & { lastSeq?: number } };
    const events = asArray(parsed.events) as DmEvent[];
    // a new message comes once, in events: its result and the state name it by position or seq
    const messageAt = (i: number | undefined) => {
      const e = i === undefined ? undefined : events[i];
      if (e?.type !== 'message') throw new TremoloError('E_INTERNAL', 'conversation-apply named an entry it did not return');
      return e.message;
    };
    const results = asArray(parsed.results) as WireResult[];
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      if (r.ok && r.type === 'send' && 'event' in r) results[i] = { ok: true, type: 'send', message: messageAt(r.event - 1), duplicate: false };
    }
    const { lastSeq, ...raw } = parsed.state;
    if (lastSeq !== undefined) raw.lastMessage = messageAt(events.findIndex((e) => e.seq === lastSeq));
    return { results: results as contract.ConversationOpResult[], events, departed: asArray(parsed.departed) as string[], state: state(raw) };
  }

  async get(conversationId: string): Promise<contract.ConversationState | null> {
    const k = this.ctx.keys.conversation(conversationId);
    const reply = await this.ctx.scripts.run('conversation-state', [k.meta, k.members, k.log, k.deleted], [randomUUID()]);
    return reply === '' || reply === null ? null : state(JSON.parse(String(reply)) as RawState);
  }

  async getMany(conversationIds: readonly string[]): Promise<(contract.ConversationState | null)[]> {
    return Promise.all(conversationIds.map((id) => this.get(id)));
  }

  async events(conversationId: string, sinceSeq: number, limit: number): Promise<contract.DmEventRange> {
    const r = await this.read(conversationId, 'after', sinceSeq, limit);
    return r;
  }

  async history(conversationId: string, beforeSeq: number | undefined, limit: number): Promise<DmEvent[]> {
    return (await this.read(conversationId, 'before', beforeSeq ?? 0, limit)).events;
  }

  async touch(userIds: readonly string[], conversationId: string, activity: number): Promise<void> {
    // each user's index is on the user's slot: one pipeline on one Redis; on a Cluster, or with
    // REDIS_WAIT_REPLICAS, one write each, concurrently (each with its WAIT on its own node)
    const { keys, scripts } = this.ctx;
    await scripts.writeEach(userIds.map((u) => ({ key: keys.userConversations(u), commands: (p) => p.zadd(keys.userConversations(u), 'GT', activity, conversationId) })));
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

  private async read(conversationId: string, mode: 'after' | 'before', seq: number, limit: number): Promise<contract.DmEventRange> {
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
