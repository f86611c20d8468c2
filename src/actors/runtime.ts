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
 */
import type { Clock, TimerHandle } from '../domain/clock.ts';
import { TremoloError } from '../protocol/errors.ts';
import type { ActorMetrics } from '../metrics.ts';

export interface TurnOutcome<Reply> {
  /** One per message of the batch, in order: a reply or the error for that message. */
  replies: (Reply | TremoloError)[];
  /** Runs after the replies are resolved: publish the turn's events here. */
  afterCommit?: () => void;
}

/** What a kind of actor does. State is the behaviour's own; the runtime only holds it. */
export interface ActorBehavior<State, Msg, Reply> {
  /** Loads the state of a new activation (one storage read). */
  activate(id: string): Promise<State>;
  /** Applies a batch with at most one storage write; throwing fails the whole turn. */
  turn(state: State, batch: readonly Msg[], id: string): Promise<TurnOutcome<Reply>>;
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
  metrics?: ActorMetrics;
  /** Told of every turn that failed with a bug, not a catalog error (log it). */
  onError?: (failure: TurnFailure) => void;
}

export interface ActorRef<Msg, Reply> {
  readonly kind: string;
  readonly id: string;
  /** Sends a message and waits for its reply. Never throws synchronously. */
  ask(msg: Msg): Promise<Reply>;
}

interface Envelope<Msg, Reply> {
  msg: Msg;
  resolve(reply: Reply): void;
  reject(err: TremoloError): void;
}

interface Activation<State, Msg, Reply> {
  readonly key: string;
  readonly kind: string;
  readonly id: string;
  state: State | undefined;
  mailbox: Envelope<Msg, Reply>[];
  running: boolean;
  lastUsed: number;
}

// Behaviours of different kinds have unrelated type parameters; the registry erases them.
type AnyBehavior = ActorBehavior<unknown, unknown, unknown>;
type AnyActivation = Activation<unknown, unknown, unknown>;

export class ActorSystem {
  private readonly behaviors = new Map<string, AnyBehavior>();
  /** Insertion order is recency order: touching an activation moves it to the end. */
  private readonly active = new Map<string, AnyActivation>();
  private sweepTimer: TimerHandle | undefined;
  private stopped = false;

  private readonly metrics: ActorMetrics | undefined;
  private readonly onError: ((failure: TurnFailure) => void) | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly limits: ActorLimits,
    opts: ActorSystemOptions = {},
  ) {
    this.metrics = opts.metrics;
    this.onError = opts.onError;
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`actor limit ${name} must be a positive integer`);
    }
  }

  register<State, Msg, Reply>(kind: string, behavior: ActorBehavior<State, Msg, Reply>): void {
    if (this.behaviors.has(kind)) throw new Error(`actor kind ${kind} is already registered`);
    this.behaviors.set(kind, behavior as AnyBehavior);
  }

  ref<Msg, Reply>(kind: string, id: string): ActorRef<Msg, Reply> {
    return { kind, id, ask: (msg: Msg) => this.ask<Msg, Reply>(kind, id, msg) };
  }

  ask<Msg, Reply>(kind: string, id: string, msg: Msg): Promise<Reply> {
    if (this.stopped) return Promise.reject(new TremoloError('E_SHUTTING_DOWN'));
    const behavior = this.behaviors.get(kind);
    if (!behavior) return Promise.reject(new TremoloError('E_INTERNAL', `no actor kind ${kind}`));
    const act = this.activation(kind, id) as Activation<unknown, Msg, Reply>;
    if (act.mailbox.length >= this.limits.mailboxLimit) {
      this.metrics?.rejected.inc({ kind });
      return Promise.reject(new TremoloError('E_BUSY', undefined, { retryAfter: 1 }));
    }
    return new Promise<Reply>((resolve, reject) => {
      act.mailbox.push({ msg, resolve, reject });
      if (!act.running) void this.drain(act as AnyActivation, behavior);
    });
  }

  /** Activations currently in memory, by kind. */
  activeCount(kind?: string): number {
    if (kind === undefined) return this.active.size;
    let n = 0;
    for (const act of this.active.values()) if (act.kind === kind) n++;
    return n;
  }

  /** Queued messages over all activations of a kind. */
  mailboxDepth(kind: string): number {
    let n = 0;
    for (const act of this.active.values()) if (act.kind === kind) n += act.mailbox.length;
    return n;
  }

  isActive(kind: string, id: string): boolean {
    return this.active.has(`${kind}\u0000${id}`);
  }

  /** Drops the in-memory state of one actor so its next message reloads from storage. */
  invalidate(kind: string, id: string): void {
    const act = this.active.get(`${kind}\u0000${id}`);
    if (act && !act.running) this.active.delete(act.key);
    else if (act) act.state = undefined;
  }

  /** Passivates activations idle for `idleMs` or more. Called by the sweep timer. */
  sweep(): void {
    const cutoff = this.clock.now() - this.limits.idleMs;
    for (const act of this.active.values()) {
      if (act.lastUsed > cutoff) break; // recency order: the rest are newer
      if (!act.running && act.mailbox.length === 0) this.active.delete(act.key);
    }
  }

  /** Stops taking messages and waits for every mailbox to drain (graceful shutdown). */
  async drainAll(timeoutMs: number): Promise<void> {
    this.stopped = true;
    if (this.sweepTimer) this.clock.clearTimeout(this.sweepTimer);
    const deadline = this.clock.now() + timeoutMs;
    while ([...this.active.values()].some((a) => a.running || a.mailbox.length) && this.clock.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private activation(kind: string, id: string): AnyActivation {
    const key = `${kind}\u0000${id}`;
    let act = this.active.get(key);
    if (act) {
      this.active.delete(key);
    } else {
      act = { key, kind, id, state: undefined, mailbox: [], running: false, lastUsed: 0 };
      this.evictOverflow();
    }
    act.lastUsed = this.clock.now();
    this.active.set(key, act);
    this.armSweep();
    return act;
  }

  private evictOverflow(): void {
    if (this.active.size < this.limits.maxActive) return;
    for (const act of this.active.values()) {
      if (this.active.size < this.limits.maxActive) return;
      if (!act.running && act.mailbox.length === 0) {
        this.active.delete(act.key);
        this.metrics?.evicted.inc({ kind: act.kind });
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
  private failure(act: AnyActivation, phase: TurnFailure['phase'], batchSize: number, err: unknown): TremoloError {
    if (err instanceof TremoloError) return err;
    this.onError?.({ kind: act.kind, id: act.id, phase, batchSize, error: err });
    return new TremoloError('E_INTERNAL', undefined, { cause: err });
  }

  private async drain(act: AnyActivation, behavior: AnyBehavior): Promise<void> {
    act.running = true;
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
        this.metrics?.batchSize.observe({ kind: act.kind }, batch.length);
        const started = performance.now();
        let outcome: TurnOutcome<unknown>;
        try {
          outcome = await behavior.turn(
            act.state,
            batch.map((e) => e.msg),
            act.id,
          );
        } catch (err) {
          act.state = undefined;
          const e = this.failure(act, 'turn', batch.length, err);
          for (const env of batch) env.reject(e);
          continue;
        } finally {
          this.metrics?.turnSeconds.observe({ kind: act.kind }, (performance.now() - started) / 1000);
        }
        batch.forEach((env, i) => {
          const reply = outcome.replies[i];
          if (reply instanceof TremoloError) env.reject(reply);
          else env.resolve(reply);
        });
        outcome.afterCommit?.();
      }
    } finally {
      act.running = false;
      act.lastUsed = this.clock.now();
    }
  }
}


