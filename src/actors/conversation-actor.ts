/**
 * ConversationActor: one conversation's messages, receipts, mutes and departures. A turn turns
 * its batch into ONE `conversations.applyOps` call (group commit); the store numbers the new
 * log entries and answers with the authoritative state. Before the replies go out (the output
 * gate), the conversation is moved forward in each member's index (a second, idempotent step
 * on other slots: a retried send that finds its message stored redoes it). Events are
 * published after the replies.
 *
 * Who may message whom is checked here, once per sender and recipient in a batch, rather than
 * once per message before it queues: a busy conversation's batch of N sends costs one check.
 */
import type { Clock } from '../domain/clock.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { ConversationKind, DirectMessage, MemberState } from '../protocol/dm.ts';
import type { ConversationOp, ConversationOpResult, ConversationState, NewMessage, Store } from '../storage/store.ts';
import { requireMayMessage } from './dm-permissions.ts';
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
      /** Whom the sender must be allowed to message (requireMayMessage); checked once per batch. */
      mayMessage?: readonly string[];
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
      const refused = await refusals(deps.store, batch);
      const createdAt = new Date(now).toISOString();
      const ops: ConversationOp[] = [];
      // per message: its op's index, -1 for none (a read), -2 for a send refused above
      const opIndex: number[] = [];
      let create: { kind: ConversationKind; members: string[] } | undefined;
      for (let i = 0; i < batch.length; i++) {
        const msg = batch[i]!;
        if (msg.type === 'read') {
          opIndex.push(-1);
          continue;
        }
        if (refused?.[i]) {
          opIndex.push(-2);
          continue;
        }
        opIndex.push(ops.length);
        switch (msg.type) {
          case 'send': {
            create ??= msg.create;
            const message: NewMessage = { senderId: msg.senderId, createdAt, text: msg.text };
            if (msg.videoId !== undefined) message.videoId = msg.videoId;
            if (msg.replyTo !== undefined) message.replyTo = msg.replyTo;
            ops.push({ type: 'send', idempotencyKey: msg.idempotencyKey, message });
            break;
          }
          case 'delete':
            ops.push({ type: 'delete', userId: msg.userId, messageSeq: msg.messageSeq, notBefore: now - deps.deleteWindowMs });
            break;
          default:
            ops.push(msg);
        }
      }

      if (ops.length === 0) {
        if (now - state.loadedAt > deps.readStaleMs) Object.assign(state, await load(id));
        return { answer: answers(state.conversation, [], opIndex, refused) };
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
        answer: answers(conversation, result.results, opIndex, refused),
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

/**
 * The batch's permission checks, each distinct (sender, recipient) once, all at once: per
 * message, the error that refuses it (undefined when every send may go; most batches).
 * A check that fails for another reason than a refusal (storage) fails the turn.
 */
async function refusals(store: Store, batch: readonly ConversationMsg[]): Promise<(TremoloError | undefined)[] | undefined> {
  let checks: Map<string, Promise<TremoloError | undefined>> | undefined;
  for (const msg of batch) {
    if (msg.type !== 'send' || !msg.mayMessage) continue;
    for (const to of msg.mayMessage) {
      const key = `${msg.senderId}>${to}`;
      checks ??= new Map();
      if (!checks.has(key)) {
        checks.set(
          key,
          requireMayMessage(store, msg.senderId, to).then(
            () => undefined,
            (err: unknown) => {
              if (err instanceof TremoloError) return err;
              throw err;
            },
          ),
        );
      }
    }
  }
  if (!checks) return undefined;
  const outcome = new Map<string, TremoloError | undefined>();
  await Promise.all([...checks].map(async ([key, check]) => outcome.set(key, await check)));
  let refused: (TremoloError | undefined)[] | undefined;
  batch.forEach((msg, i) => {
    if (msg.type !== 'send' || !msg.mayMessage) return;
    for (const to of msg.mayMessage) {
      const err = outcome.get(`${msg.senderId}>${to}`);
      if (err) {
        (refused ??= [])[i] = err;
        return;
      }
    }
  });
  return refused;
}

function answers(
  after: ConversationState | null,
  results: readonly ConversationOpResult[],
  opIndex: readonly number[],
  refused: readonly (TremoloError | undefined)[] | undefined,
): Answers<ConversationMsg, ConversationReplies> {
  const written = <T extends OkResult['type'], Reply>(i: number, type: T, reply: (r: Extract<OkResult, { type: T }>) => Reply) => {
    const refusal = refused?.[i];
    if (refusal) return refusal;
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
