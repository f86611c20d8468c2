/**
 * Conversations in memory: each conversation's members, receipts and capped log, each user's
 * conversation index and DM policy. Every method runs to completion synchronously, so a batch
 * is atomic, as the conversation-apply script is on Redis; both follow the same rules
 * (the contract suite checks), written out once more in lua/conversation-apply-5.lua.
 */
import { randomUUID } from 'node:crypto';
import { TremoloError } from '../../protocol/errors.ts';
import type { ConversationKind, DirectMessage, DmEvent, DmPolicy } from '../../protocol/dm.ts';
import {
  conversationLogMax,
  type ApplyOptions,
  type ConversationBatchResult,
  type ConversationOp,
  type ConversationOpResult,
  type ConversationState,
  type ConversationStore,
  type DmEventRange,
} from '../conversations.ts';
import type { StoreLimits } from '../store.ts';

interface MemberRow {
  delivered: number;
  read: number;
  unread: number;
  muted: boolean;
}

interface ConversationRow {
  id: string;
  kind: ConversationKind;
  members: string[];
  /** Receipts of current members (a member who leaves is dropped). */
  states: Map<string, MemberRow>;
  /** Oldest first; capped at dmLogMax. */
  log: DmEvent[];
  head: number;
  epoch: string;
  activity: number;
  /** Seq of the newest message that is still in the log and not deleted, 0 when none. */
  lastMessage: number;
  /** `${senderId}:${key}` -> seq; entries leave with their message's log entry. */
  idempotency: Map<string, number>;
}

const copy = <T>(value: T): T => structuredClone(value);

export class MemoryConversations implements ConversationStore {
  private readonly rows = new Map<string, ConversationRow>();
  private readonly indexes = new Map<string, Map<string, number>>();
  private readonly policies = new Map<string, DmPolicy>();
  private readonly logMax: number;

  constructor(limits: StoreLimits) {
    this.logMax = conversationLogMax(limits);
  }

  async applyOps(conversationId: string, ops: ConversationOp[], opts: ApplyOptions): Promise<ConversationBatchResult> {
    let row = this.rows.get(conversationId);
    if (!row) {
      if (!opts.create) throw new TremoloError('E_CONVERSATION_NOT_FOUND');
      row = {
        id: conversationId,
        kind: opts.create.kind,
        members: [...new Set(opts.create.members)],
        states: new Map(),
        log: [],
        head: 0,
        epoch: randomUUID(),
        activity: opts.now,
        lastMessage: 0,
        idempotency: new Map(),
      };
      for (const m of row.members) row.states.set(m, { delivered: 0, read: 0, unread: 0, muted: false });
      this.rows.set(conversationId, row);
    }
    const events: DmEvent[] = [];
    const departed: string[] = [];
    const append = (event: DmEvent) => {
      row.log.push(event);
      events.push(event);
    };
    const results = ops.map((op): ConversationOpResult => {
      const me = 'userId' in op ? row.states.get(op.userId) : row.states.get(op.message.senderId);
      if (!me) return { ok: false, code: 'E_CONVERSATION_NOT_FOUND' };
      switch (op.type) {
        case 'send': {
          const idem = `${op.message.senderId}:${op.idempotencyKey}`;
          const seen = row.idempotency.get(idem);
          const earlier = seen === undefined ? undefined : this.entry(row, seen);
          if (earlier?.type === 'message') return { ok: true, type: 'send', message: copy(earlier.message), duplicate: true };
          if (op.message.replyTo !== undefined && this.entry(row, op.message.replyTo)?.type !== 'message') return { ok: false, code: 'E_REPLY_TARGET' };
          const seq = ++row.head;
          const message: DirectMessage = { id: `${row.id}:${seq}`, conversationId: row.id, seq, ...copy(op.message) };
          append({ type: 'message', seq, message });
          row.idempotency.set(idem, seq);
          row.lastMessage = seq;
          row.activity = Math.max(row.activity, opts.now);
          for (const [userId, state] of row.states) {
            if (userId === op.message.senderId) {
              // what one sends, one has delivered and read
              state.delivered = state.read = seq;
              state.unread = 0;
            } else state.unread++;
          }
          return { ok: true, type: 'send', message: copy(message), duplicate: false };
        }
        case 'delete': {
          const target = this.entry(row, op.messageSeq);
          if (target?.type !== 'message') return { ok: false, code: 'E_MESSAGE_NOT_FOUND' };
          if (target.message.senderId !== op.userId) return { ok: false, code: 'E_FORBIDDEN' };
          if (target.message.deleted) return { ok: true, type: 'delete', deleted: false };
          if (Date.parse(target.message.createdAt) < op.notBefore) return { ok: false, code: 'E_DM_DELETE_EXPIRED' };
          target.message = { id: target.message.id, conversationId: row.id, seq: target.seq, senderId: op.userId, createdAt: target.message.createdAt, text: '', deleted: true };
          for (const [userId, state] of row.states) if (userId !== op.userId && state.read < op.messageSeq && state.unread > 0) state.unread--;
          const seq = ++row.head;
          append({ type: 'deleted', seq, messageSeq: op.messageSeq, userId: op.userId });
          if (row.lastMessage === op.messageSeq) row.lastMessage = this.newestMessage(row);
          row.activity = Math.max(row.activity, opts.now);
          return { ok: true, type: 'delete', deleted: true };
        }
        case 'receipt': {
          const before = { ...me };
          const read = Math.min(op.read ?? 0, row.head);
          const delivered = Math.min(Math.max(op.delivered ?? 0, read), row.head);
          if (delivered > me.delivered) me.delivered = delivered;
          if (read > me.read) {
            me.read = read;
            me.delivered = Math.max(me.delivered, read);
            me.unread = this.unreadAfter(row, op.userId, read);
          }
          const changed = before.delivered !== me.delivered || before.read !== me.read;
          return { ok: true, type: 'receipt', member: { userId: op.userId, ...me }, changed };
        }
        case 'mute':
          me.muted = op.muted;
          return { ok: true, type: 'mute', member: { userId: op.userId, ...me } };
        case 'leave': {
          if (row.kind !== 'group') return { ok: false, code: 'E_FORBIDDEN' };
          row.states.delete(op.userId);
          row.members = row.members.filter((m) => m !== op.userId);
          departed.push(op.userId);
          append({ type: 'left', seq: ++row.head, userId: op.userId });
          row.activity = Math.max(row.activity, opts.now);
          return { ok: true, type: 'leave', changed: true };
        }
      }
    });
    this.trim(row);
    return { results, state: this.state(row), events: copy(events), departed };
  }

  async get(conversationId: string): Promise<ConversationState | null> {
    const row = this.rows.get(conversationId);
    return row ? this.state(row) : null;
  }

  async getMany(conversationIds: readonly string[]): Promise<(ConversationState | null)[]> {
    return conversationIds.map((id) => {
      const row = this.rows.get(id);
      return row ? this.state(row) : null;
    });
  }

  async events(conversationId: string, sinceSeq: number, limit: number): Promise<DmEventRange> {
    const row = this.rows.get(conversationId);
    if (!row) throw new TremoloError('E_CONVERSATION_NOT_FOUND');
    const first = row.log[0]?.seq ?? row.head + 1;
    const complete = sinceSeq >= first - 1 && sinceSeq <= row.head;
    const events = complete ? row.log.filter((e) => e.seq > sinceSeq).slice(0, Math.max(0, limit)) : [];
    return { epoch: row.epoch, events: copy(events), complete, head: row.head };
  }

  async history(conversationId: string, beforeSeq: number | undefined, limit: number): Promise<DmEvent[]> {
    const row = this.rows.get(conversationId);
    if (!row) throw new TremoloError('E_CONVERSATION_NOT_FOUND');
    const out: DmEvent[] = [];
    for (let i = row.log.length - 1; i >= 0 && out.length < limit; i--) {
      const e = row.log[i]!;
      if (beforeSeq === undefined || e.seq < beforeSeq) out.push(e);
    }
    return copy(out);
  }

  async touch(userIds: readonly string[], conversationId: string, activity: number): Promise<void> {
    for (const userId of userIds) {
      let index = this.indexes.get(userId);
      if (!index) this.indexes.set(userId, (index = new Map()));
      index.set(conversationId, Math.max(index.get(conversationId) ?? 0, activity));
    }
  }

  async untouch(userId: string, conversationId: string): Promise<void> {
    this.indexes.get(userId)?.delete(conversationId);
  }

  async inbox(userId: string, before: number | undefined, limit: number): Promise<{ conversationId: string; activity: number }[]> {
    return this.sorted(userId)
      .reverse()
      .filter((e) => before === undefined || e.activity < before)
      .slice(0, limit);
  }

  async changedSince(userId: string, since: number, limit: number): Promise<{ conversationId: string; activity: number }[]> {
    return this.sorted(userId)
      .filter((e) => e.activity >= since)
      .slice(0, limit);
  }

  async policy(userId: string): Promise<DmPolicy> {
    return this.policies.get(userId) ?? 'mutual';
  }

  async setPolicy(userId: string, policy: DmPolicy): Promise<void> {
    this.policies.set(userId, policy);
  }

  /** Oldest first, ties by id (as a Redis sorted set orders them). */
  private sorted(userId: string): { conversationId: string; activity: number }[] {
    const index = this.indexes.get(userId);
    if (!index) return [];
    return [...index]
      .map(([conversationId, activity]) => ({ conversationId, activity }))
      .sort((a, b) => a.activity - b.activity || (a.conversationId < b.conversationId ? -1 : a.conversationId > b.conversationId ? 1 : 0));
  }

  private entry(row: ConversationRow, seq: number): DmEvent | undefined {
    const first = row.log[0]?.seq;
    if (first === undefined || seq < first) return undefined;
    const e = row.log[seq - first];
    return e?.seq === seq ? e : undefined;
  }

  private newestMessage(row: ConversationRow): number {
    for (let i = row.log.length - 1; i >= 0; i--) {
      const e = row.log[i]!;
      if (e.type === 'message' && !e.message.deleted) return e.seq;
    }
    return 0;
  }

  private unreadAfter(row: ConversationRow, userId: string, read: number): number {
    let n = 0;
    for (const e of row.log) if (e.seq > read && e.type === 'message' && !e.message.deleted && e.message.senderId !== userId) n++;
    return n;
  }

  private trim(row: ConversationRow): void {
    const excess = row.log.length - this.logMax;
    if (excess <= 0) return;
    row.log.splice(0, excess);
    const first = row.log[0]?.seq ?? row.head + 1;
    for (const [key, seq] of row.idempotency) if (seq < first) row.idempotency.delete(key);
    if (row.lastMessage < first) row.lastMessage = this.newestMessage(row);
  }

  private state(row: ConversationRow): ConversationState {
    const last = row.lastMessage ? this.entry(row, row.lastMessage) : undefined;
    return {
      id: row.id,
      kind: row.kind,
      members: [...row.members],
      memberStates: row.members.map((userId) => ({ userId, ...row.states.get(userId)! })),
      head: row.head,
      epoch: row.epoch,
      activity: row.activity,
      ...(last?.type === 'message' ? { lastMessage: copy(last.message) } : {}),
    };
  }
}
