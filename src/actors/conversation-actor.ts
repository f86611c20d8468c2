/**
 * ConversationActor: one conversation's messages, receipts, mutes and departures. A turn turns
 * its batch into ONE `conversations.applyOps` call (group commit); the store numbers the new
 * log entries and answers with the authoritative state. Before the replies go out (the output
 * gate), the conversation is moved forward in each member's index (a second, idempotent step
 * on other slots: a retried send that finds its message stored redoes it). Events are
 * published after the replies.
 */
import type { Clock } from '../domain/clock.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { ConversationKind, DirectMessage, MemberState } from '../protocol/dm.ts';
import type { ConversationOp, ConversationOpResult, ConversationState, Store } from '../storage/store.ts';
import type { EventSink } from './events.ts';
import { actorKind, type ActorBehavior, type Answers, type TurnOutcome } from './runtime.ts';

export type ConversationMsg =
  | { type: 'read' }
  | {
      type: 'send';
      senderId: string;
      text: string;
      videoId?: string;
      replyTo?: number;
      idempotencyKey: string;
      /** How to create the conversation if this is its first message. */
      create?: { kind: ConversationKind; members: string[] };
    }
  | { type: 'delete'; userId: string; messageSeq: number }
  | { type: 'receipt'; userId: string; delivered?: number; read?: number }
  | { type: 'mute'; userId: string; muted: boolean }
  | { type: 'leave'; userId: string };

export interface SendResult {
  message: DirectMessage;
  duplicate: boolean;
  epoch: string;
}

export interface ConversationReplies {
  read: ConversationState | null;
  send: SendResult;
  delete: { deleted: boolean };
  receipt: MemberState;
  mute: MemberState;
  leave: { left: boolean };
}

export const CONVERSATION_ACTOR = actorKind<ConversationMsg, ConversationReplies>('conversation');

interface ActorState {
  conversation: ConversationState | null;
  loadedAt: number;
}

export interface ConversationActorDeps {
  store: Store;
  sink: EventSink;
  clock: Clock;
  /** A read never serves state older than this. */
  readStaleMs: number;
  /** A message may be deleted for everyone for this long after it was sent. */
  deleteWindowMs: number;
}

export function conversationActor(deps: ConversationActorDeps): ActorBehavior<ActorState, ConversationMsg, ConversationReplies> {
  const load = async (id: string): Promise<ActorState> => ({ conversation: await deps.store.conversations.get(id), loadedAt: deps.clock.now() });

  return {
    activate: load,

    async turn(state, batch, id): Promise<TurnOutcome<ConversationMsg, ConversationReplies>> {
      const now = deps.clock.now();
      const ops: ConversationOp[] = [];
      const opIndex: number[] = [];
      let create: { kind: ConversationKind; members: string[] } | undefined;
      for (const msg of batch) {
        opIndex.push(msg.type === 'read' ? -1 : ops.length);
        switch (msg.type) {
          case 'read':
            break;
          case 'send':
            create ??= msg.create;
            ops.push({
              type: 'send',
              idempotencyKey: msg.idempotencyKey,
              message: {
                senderId: msg.senderId,
                createdAt: new Date(now).toISOString(),
                text: msg.text,
                ...(msg.videoId !== undefined ? { videoId: msg.videoId } : {}),
                ...(msg.replyTo !== undefined ? { replyTo: msg.replyTo } : {}),
              },
            });
            break;
          case 'delete':
            ops.push({ type: 'delete', userId: msg.userId, messageSeq: msg.messageSeq, notBefore: now - deps.deleteWindowMs });
            break;
          default:
            ops.push(msg);
        }
      }

      if (ops.length === 0) {
        if (now - state.loadedAt > deps.readStaleMs) Object.assign(state, await load(id));
        return { answer: answers(state.conversation, [], opIndex) };
      }

      const result = await deps.store.conversations.applyOps(id, ops, { now, ...(create ? { create } : {}) });
      const conversation = result.state;
      state.conversation = conversation;
      state.loadedAt = now;
      // Every send (a duplicate too: its first attempt may have stopped before this step)
      // moves the conversation forward in its members' indexes before anyone is answered.
      if (result.events.length || result.results.some((r) => r.ok && r.type === 'send')) {
        await deps.store.conversations.touch(conversation.members, id, conversation.activity);
      }
      for (const userId of result.departed) await deps.store.conversations.untouch(userId, id);

      return {
        answer: answers(conversation, result.results, opIndex),
        afterCommit: () => {
          const audience = [...conversation.members, ...result.departed];
          if (result.events.length) {
            deps.sink.publish({ type: 'dm:events', conversationId: id, epoch: conversation.epoch, userIds: audience, events: result.events });
          }
          for (const r of result.results) {
            if (r.ok && r.type === 'receipt' && r.changed) {
              const { userId, delivered, read, unread } = r.member;
              deps.sink.publish({ type: 'dm:receipt', userIds: conversation.members, receipt: { conversationId: id, userId, delivered, read, unread } });
            }
          }
        },
      };
    },
  };
}

type OkResult = Extract<ConversationOpResult, { ok: true }>;

function answers(after: ConversationState | null, results: readonly ConversationOpResult[], opIndex: readonly number[]): Answers<ConversationMsg, ConversationReplies> {
  const written = <T extends OkResult['type'], Reply>(i: number, type: T, reply: (r: Extract<OkResult, { type: T }>) => Reply) => {
    const r = results[opIndex[i] ?? -1];
    if (r === undefined) return new TremoloError('E_INTERNAL', 'the store answered fewer ops than it was given');
    if (!r.ok) return new TremoloError(r.code);
    if (r.type !== type) return new TremoloError('E_INTERNAL', `the store answered a ${type} op with a ${r.type} result`);
    return reply(r as Extract<OkResult, { type: T }>);
  };
  const epoch = after?.epoch ?? '';
  return {
    read: () => after,
    send: (_m, i) => written(i, 'send', (r) => ({ message: r.message, duplicate: r.duplicate, epoch })),
    delete: (_m, i) => written(i, 'delete', (r) => ({ deleted: r.deleted })),
    receipt: (_m, i) => written(i, 'receipt', (r) => r.member),
    mute: (_m, i) => written(i, 'mute', (r) => r.member),
    leave: (_m, i) => written(i, 'leave', (r) => ({ left: r.changed })),
  };
}
