/**
 * The actor runtime: virtual actors keyed by (kind, id).
 *
 * - An activation is created on the first message and loads its state once; messages
 *   that arrive during the load queue behind it.
 * - A turn drains the mailbox (up to `maxBatch` messages) and hands the whole batch to
 *   the behaviour, which makes ONE storage call for it (group commit). Replies are
 *   resolved and events published only after that call resolved (the output gate).
 * - Mailboxes are bounded: a full one rejects at once with E_BUSY.
 * - A failed turn rejects its messages, drops the in-memory state and reloads it on the
 *   next message; other actors are unaffected. A storage failure reaches callers as the
 *   store's own catalog error (E_STORAGE_UNAVAILABLE); anything else thrown is a bug in the
 *   behaviour: callers get E_INTERNAL and `onError` gets the actor, the batch and the error.
 * - Idle activations are passivated after `idleMs`; above `maxActive` the least recently
 *   used idle ones are evicted. One sweep timer serves the whole system, not one per actor.
 * - Every kind is typed by its protocol (`ActorKind`): each message type has its reply type,
 *   for callers (`ask` resolves with the reply of the message sent) and for the behaviour
 *   (one answer function per message type), so a wrong reply is a compile error, not a cast.
 */
import type { Clock, TimerHandle } from '../domain/clock.ts';
import { TremoloError } from '../protocol/errors.ts';
import { observe, type Metrics } from '../metrics.ts';
import { noopTracing, type TraceContext, type Tracing } from '../telemetry/tracing.ts';

/** A message to an actor; its `type` names the reply it gets. */
export interface ActorMessage {
  readonly type: string;
}

/** What a kind answers each type of message with, e.g. `{ like: LikeReply; read: VideoSnapshot }`. */
export type ReplyMap<Msg extends ActorMessage> = { readonly [T in Msg['type']]: unknown };

/**
 * A kind of actor: its name and, in its type, its protocol (the messages it takes and the
 * reply each type gets). Made once per kind with `actorKind`; refs and behaviours take it.
 */
export interface ActorKind<Msg extends ActorMessage, R extends ReplyMap<Msg>> {
  readonly name: string;
  /** Never set: it only carries the protocol's types. */
  readonly protocol?: (msg: Msg) => R;
}

/** Declares a kind of actor with its protocol. */
export function actorKind<Msg extends ActorMessage, R extends ReplyMap<Msg>>(name: string): ActorKind<Msg, R> {
  return { name };
}

/** Any kind, where only its name matters (counts, invalidation). */
export type SomeKind = Pick<ActorKind<ActorMessage, ReplyMap<ActorMessage>>, 'name'>;

/**
 * How a turn answers its batch: one function per message type, called for each message of
 * that type (with its index in the batch) after the turn's write resolved. Each returns that
 * type's reply or the error for that one message.
 */
export type Answers<Msg extends ActorMessage, R extends ReplyMap<Msg>> = {
  readonly [T in Msg['type']]: (msg: Extract<Msg, { type: T }>, index: number) => R[T] | TremoloError;
};

export interface TurnOutcome<Msg extends ActorMessage, R extends ReplyMap<Msg>> {
  answer: Answers<Msg, R>;
  /** Runs after the replies are resolved: publish the turn's events here. */
  afterCommit?: () => void;
}

/** What a kind of actor does. State is the behaviour's own; the runtime only holds it. */
export interface ActorBehavior<State, Msg extends ActorMessage, R extends ReplyMap<Msg>> {
  /** Loads the state of a new activation (one storage read). */
  activate(id: string): Promise<State>;
  /** Applies a batch with at most one storage write; throwing fails the whole turn. */
  turn(state: State, batch: readonly Msg[], id: string): Promise<TurnOutcome<Msg, R>>;
}

export interface ActorLimits {
  idleMs: number;
  maxActive: number;
  maxBatch: number;
  mailboxLimit: number;
}

/** A turn or activation that threw something other than a catalog error. */
export interface TurnFailure {
  kind: string;
  id: string;
  phase: 'activate' | 'turn';
  /** Messages whose callers got E_INTERNAL. */
  batchSize: number;
  error: unknown;
}

export interface ActorSystemOptions {
  /** Turn and mailbox metrics, and gauges of activations and queued messages by kind. */
  metrics?: Pick<Metrics, 'actors' | 'gauge' | 'exemplars'>;
  /** Told of every turn that failed with a bug, not a catalog error (log it). */
  onError?: (failure: TurnFailure) => void;
  /**
   * Each turn is a span linked to the span of every message in its batch (a group commit
   * serves many callers); its parent is the first sampled message's. Default: off.
   */
  tracing?: Tracing;
}

/** One actor of a kind, as callers hold it. */
export interface ActorRef<Msg extends ActorMessage, R extends ReplyMap<Msg>> {
  readonly kind: string;
  readonly id: string;
  /** Sends a message and waits for its reply. Never throws synchronously. */
  ask<const M extends Msg>(msg: M): Promise<R[M['type']]>;
}

interface Envelope {
  msg: ActorMessage;
  resolve(reply: unknown): void;
  reject(err: TremoloError): void;
  /** The sender's trace position (tracing on only). */
  trace: TraceContext | undefined;
}

interface Activation {
  readonly kind: string;
  readonly id: string;
  state: unknown;
  mailbox: Envelope[];
  /** The drain under way, if any. */
  running: Promise<void> | undefined;
  lastUsed: number;
}

// Behaviours of different kinds have unrelated protocols; the registry erases them. What
// `ask` sends and resolves with is typed by the kind at both ends, so nothing is lost.
type AnyBehavior = ActorBehavior<unknown, ActorMessage, ReplyMap<ActorMessage>>;

export class ActorSystem {
  private readonly behaviors = new Map<string, AnyBehavior>();
  /** Insertion order is recency order: touching an activation moves it to the end. */
  private readonly active = new Set<Activation>();
  /** The same activations by kind, then id: how a message finds its own. */
  private readonly byKind = new Map<string, Map<string, Activation>>();
  private sweepTimer: TimerHandle | undefined;
  private stopped = false;

  private readonly metrics: ActorSystemOptions['metrics'];
  private readonly onError: ((failure: TurnFailure) => void) | undefined;
  private readonly tracing: Tracing;

  constructor(
    private readonly clock: Clock,
    private readonly limits: ActorLimits,
    opts: ActorSystemOptions = {},
  ) {
    this.metrics = opts.metrics;
    this.onError = opts.onError;
    this.tracing = opts.tracing ?? noopTracing;
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`actor limit ${name} must be a positive integer`);
    }
    const kinds = () => this.behaviors.keys();
    this.metrics?.gauge('tremolo_actors_active', 'Actor activations in memory by kind', ['kind'], (set) => {
      for (const kind of kinds()) set({ kind }, this.activeCount({ name: kind }));
    });
    this.metrics?.gauge('tremolo_actor_mailbox_depth', 'Queued actor messages by kind', ['kind'], (set) => {
      for (const kind of kinds()) set({ kind }, this.mailboxDepth({ name: kind }));
    });
  }

  register<State, Msg extends ActorMessage, R extends ReplyMap<Msg>>(kind: ActorKind<Msg, R>, behavior: ActorBehavior<State, Msg, R>): void {
    if (this.behaviors.has(kind.name)) throw new Error(`actor kind ${kind.name} is already registered`);
    this.behaviors.set(kind.name, behavior as unknown as AnyBehavior);
  }

  ref<Msg extends ActorMessage, R extends ReplyMap<Msg>>(kind: ActorKind<Msg, R>, id: string): ActorRef<Msg, R> {
    return { kind: kind.name, id, ask: (msg) => this.ask(kind, id, msg) };
  }

  /** Sends `msg` to the actor `id` of `kind` and resolves with its reply. Never throws synchronously. */
  ask<Msg extends ActorMessage, R extends ReplyMap<Msg>, const M extends Msg>(kind: ActorKind<Msg, R>, id: string, msg: M): Promise<R[M['type']]> {
    if (this.stopped) return Promise.reject(new TremoloError('E_SHUTTING_DOWN'));
    const behavior = this.behaviors.get(kind.name);
    if (!behavior) return Promise.reject(new TremoloError('E_INTERNAL', `no actor kind ${kind.name}`));
    const act = this.activation(kind.name, id);
    if (act.mailbox.length >= this.limits.mailboxLimit) {
      this.metrics?.actors.rejected.inc({ kind: kind.name });
      return Promise.reject(new TremoloError('E_BUSY', undefined, { retryAfter: 1 }));
    }
    return new Promise<R[M['type']]>((resolve, reject) => {
      // the behaviour answered this message through its answer for `msg.type` (see Answers)
      act.mailbox.push({ msg, resolve: resolve as (reply: unknown) => void, reject, trace: this.tracing.current() });
      act.running ??= this.drain(act, behavior);
    });
  }

  /** Activations currently in memory, of one kind or of all. */
  activeCount(kind?: SomeKind): number {
    return kind === undefined ? this.active.size : (this.byKind.get(kind.name)?.size ?? 0);
  }

  /** Queued messages over all activations of a kind. */
  mailboxDepth(kind: SomeKind): number {
    let n = 0;
    for (const act of this.active.values()) if (act.kind === kind.name) n += act.mailbox.length;
    return n;
  }

  isActive(kind: SomeKind, id: string): boolean {
    return this.byKind.get(kind.name)?.has(id) ?? false;
  }

  /** Drops the in-memory state of one actor so its next message reloads from storage. */
  invalidate(kind: SomeKind, id: string): void {
    const act = this.byKind.get(kind.name)?.get(id);
    if (act && !act.running) this.forget(act);
    else if (act) act.state = undefined;
  }

  /** Passivates activations idle for `idleMs` or more. Called by the sweep timer. */
  sweep(): void {
    const cutoff = this.clock.now() - this.limits.idleMs;
    for (const act of this.active.values()) {
      if (act.lastUsed > cutoff) break; // recency order: the rest are newer
      if (!act.running && act.mailbox.length === 0) this.forget(act);
    }
  }

  /**
   * Stops taking messages and waits for every mailbox to drain (graceful shutdown), for at
   * most `timeoutMs` on the clock.
   */
  async drainAll(timeoutMs: number): Promise<void> {
    this.stopped = true;
    if (this.sweepTimer) this.clock.clearTimeout(this.sweepTimer);
    // No new message is taken, so the drains under way are all there is to wait for.
    const drains = [...this.active.values()].flatMap((a) => a.running ?? []);
    if (drains.length === 0) return;
    let timer: TimerHandle | undefined;
    const deadline = new Promise<void>((resolve) => (timer = this.clock.setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(drains), deadline]);
    if (timer) this.clock.clearTimeout(timer);
  }

  private activation(kind: string, id: string): Activation {
    let ids = this.byKind.get(kind);
    if (!ids) this.byKind.set(kind, (ids = new Map()));
    let act = ids.get(id);
    if (act) {
      this.active.delete(act);
    } else {
      act = { kind, id, state: undefined, mailbox: [], running: undefined, lastUsed: 0 };
      this.evictOverflow();
      ids.set(id, act);
    }
    act.lastUsed = this.clock.now();
    this.active.add(act);
    this.armSweep();
    return act;
  }

  /** Passivates an activation: it is no longer found, in recency order or by id. */
  private forget(act: Activation): void {
    this.active.delete(act);
    this.byKind.get(act.kind)?.delete(act.id);
  }

  private evictOverflow(): void {
    if (this.active.size < this.limits.maxActive) return;
    for (const act of this.active.values()) {
      if (this.active.size < this.limits.maxActive) return;
      if (!act.running && act.mailbox.length === 0) {
        this.forget(act);
        this.metrics?.actors.evicted.inc({ kind: act.kind });
      }
    }
  }

  private armSweep(): void {
    if (this.sweepTimer || this.stopped) return;
    this.sweepTimer = this.clock.setTimeout(() => {
      this.sweepTimer = undefined;
      this.sweep();
      if (this.active.size) this.armSweep();
    }, Math.max(1, Math.ceil(this.limits.idleMs / 2)));
    this.sweepTimer.unref?.();
  }

  /**
   * A failure as the catalog error its callers see. Stores throw catalog errors
   * (E_STORAGE_UNAVAILABLE for an outage); anything else is a bug, reported to `onError`.
   */
  private failure(act: Activation, phase: TurnFailure['phase'], batchSize: number, err: unknown): TremoloError {
    if (err instanceof TremoloError) return err;
    this.onError?.({ kind: act.kind, id: act.id, phase, batchSize, error: err });
    return new TremoloError('E_INTERNAL', undefined, { cause: err });
  }

  /**
   * The span of one turn. A group commit serves every caller in the batch, so it links to each
   * sampled message's span; its parent is the first sampled sender (whose trace then shows the
   * storage call and the delivery). With none sampled it stays unsampled under the first
   * sender (parent-based), and starts a trace of its own only when no sender was in one.
   */
  private turnSpan(act: Activation, batch: readonly Envelope[]) {
    const links: TraceContext[] = [];
    let first: TraceContext | undefined;
    for (const env of batch) {
      if (!env.trace) continue;
      first ??= env.trace;
      if (this.tracing.sampled(env.trace)) links.push(env.trace);
    }
    return this.tracing.start(`actor.turn ${act.kind}`, {
      parent: links[0] ?? first ?? 'root',
      links,
      attributes: { 'tremolo.actor.kind': act.kind, 'tremolo.actor.id': act.id, 'tremolo.actor.batch_size': batch.length },
    });
  }

  private async drain(act: Activation, behavior: AnyBehavior): Promise<void> {
    try {
      while (act.mailbox.length) {
        if (act.state === undefined) {
          try {
            act.state = await behavior.activate(act.id);
          } catch (err) {
            // a failed load fails everything waiting for it; the next message tries again
            const waiting = act.mailbox.splice(0);
            const e = this.failure(act, 'activate', waiting.length, err);
            for (const env of waiting) env.reject(e);
            break;
          }
        }
        const batch = act.mailbox.splice(0, this.limits.maxBatch);
        this.metrics?.actors.batchSize.observe({ kind: act.kind }, batch.length);
        const span = this.tracing.enabled ? this.turnSpan(act, batch) : undefined;
        const started = performance.now();
        let outcome: TurnOutcome<ActorMessage, ReplyMap<ActorMessage>>;
        try {
          const state = act.state;
          const msgs = batch.map((e) => e.msg);
          // the storage call runs inside the turn's span, so its span is the turn's child
          outcome = await (span ? this.tracing.run(span.context, () => behavior.turn(state, msgs, act.id)) : behavior.turn(state, msgs, act.id));
        } catch (err) {
          act.state = undefined;
          const e = this.failure(act, 'turn', batch.length, err);
          span?.set({ 'tremolo.actor.outcome': 'failed' });
          span?.fail(e);
          span?.end();
          for (const env of batch) env.reject(e);
          continue;
        } finally {
          if (this.metrics) observe(this.metrics, this.metrics.actors.turnSeconds, { kind: act.kind }, (performance.now() - started) / 1000, span?.ids());
        }
        let refused = 0;
        batch.forEach((env, i) => {
          let reply: unknown;
          try {
            const answer = outcome.answer[env.msg.type];
            if (!answer) throw new TypeError(`no answer to a message of type ${env.msg.type}`);
            reply = answer(env.msg, i);
          } catch (err) {
            // the write stands; only this message's caller is told (and onError of the bug)
            reply = this.failure(act, 'turn', 1, err);
          }
          if (reply instanceof TremoloError) {
            refused++;
            env.reject(reply);
          } else env.resolve(reply);
        });
        if (span) {
          // events published after the commit (to sockets, other processes) continue this trace
          span.set({ 'tremolo.actor.outcome': 'ok', 'tremolo.actor.refused': refused });
          if (outcome.afterCommit) this.tracing.run(span.context, outcome.afterCommit);
          span.end();
        } else outcome.afterCommit?.();
      }
    } finally {
      act.running = undefined;
      act.lastUsed = this.clock.now();
    }
  }
}
