/**
 * MediaPool: the engine's one pool of worker threads for media tasks (probe, transcode, tag),
 * a typed facade over piscina. One per engine, built by main.ts and passed to whoever needs it.
 *
 * - `run()` never throws synchronously; every failure is a rejected TremoloError.
 * - The queue is bounded: above `threads + maxQueue` tasks in flight, `run()` rejects with
 *   E_QUEUE_FULL and a Retry-After estimate. The bound is enforced here, because piscina
 *   does not count tasks that carry an AbortSignal against its own `maxQueue`.
 * - Cancellation is cooperative (see task-protocol.ts): a queued task is dropped from the
 *   queue; a running one is told to stop, kills its ffmpeg and cleans up before `run()`
 *   rejects with E_JOB_CANCELLED (or E_JOB_TIMEOUT when the signal timed out).
 */
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { MediaMetrics } from '../metrics.ts';
import { isErrorCode, TremoloError } from '../protocol/errors.ts';
import { noopTracing, type SpanHandle, type TraceContext, type Tracing } from '../telemetry/tracing.ts';
import { workerExecArgv, workerModuleUrl } from '../worker-module.ts';
import {
  deserializeTaskError,
  TaskState,
  type PoolMessage,
  type StopReason,
  type TaskEnvelope,
  type TaskOutcome,
  type TaskProgress,
  type WorkerMessage,
  type WorkerSpan,
} from './task-protocol.ts';
import type { ProbeTaskInput, ProbeTaskOutput } from './tasks/probe.ts';
import type { TranscodeManifest, TranscodeTaskInput } from './tasks/transcode.ts';
import type { TagInput, TagResult } from './tasks/tag/types.ts';

/** Every task the pool runs: its module under ./tasks/, input and output. */
export interface MediaTasks {
  probe: { input: ProbeTaskInput; output: ProbeTaskOutput };
  transcode: { input: TranscodeTaskInput; output: TranscodeManifest };
  tag: { input: TagInput; output: TagResult };
}

export type TaskName = keyof MediaTasks;
export type TaskInput<K extends TaskName> = MediaTasks[K]['input'];
export type TaskOutput<K extends TaskName> = MediaTasks[K]['output'];

/** Module file of each task, relative to ./tasks/ and without extension. */
const TASK_MODULES: Record<TaskName, string> = {
  probe: 'probe',
  transcode: 'transcode',
  tag: 'tag',
};

export interface MediaPoolOptions {
  /** Worker threads (WORKER_THREADS). Each runs one task at a time. */
  threads: number;
  /** Tasks that may wait for a thread (WORKER_MAX_QUEUE); beyond that, E_QUEUE_FULL. */
  maxQueue: number;
  /** Retry-After (seconds) sent with E_QUEUE_FULL before any task has finished. Default 5. */
  defaultRetryAfterS?: number;
  /**
   * How long a running task may take to stop after being cancelled before its thread is
   * terminated anyway (which may leave its ffmpeg running). Default 10 s.
   */
  cancelGraceMs?: number;
  /** Idle threads are kept this long (ms). Default: forever (threads are cheap, start-up is not). */
  idleTimeoutMs?: number;
  /** Where the queue depth and running tasks are reported (read at scrape time). */
  metrics?: Pick<MediaMetrics, 'watchPool'>;
  /** Exports the spans tasks time in their threads (task-protocol.ts). Default: off. */
  tracing?: Tracing;
}

export interface RunOptions {
  /** Abort to cancel; an `AbortSignal.timeout()` signal yields E_JOB_TIMEOUT instead. */
  signal?: AbortSignal;
  onProgress?: (p: TaskProgress) => void;
  /** The caller's span: when it is sampled the task times its steps, exported as its children. */
  trace?: TraceContext;
}

interface InFlight {
  state: Int32Array;
  cancel: (reason: StopReason) => void;
}

export class MediaPool {
  readonly #piscina: Piscina;
  readonly #threads: number;
  readonly #maxQueue: number;
  readonly #defaultRetryAfterS: number;
  readonly #cancelGraceMs: number;
  readonly #inFlight = new Set<InFlight>();
  readonly #tracing: Tracing;
  /** Exponentially weighted mean run time of finished tasks, for Retry-After. */
  #meanRunMs = 0;
  #busyMs = 0;
  readonly #createdAt = performance.now();
  #closing = false;

  constructor(opts: MediaPoolOptions) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new RangeError('threads must be an integer >= 1');
    if (!Number.isInteger(opts.maxQueue) || opts.maxQueue < 0) throw new RangeError('maxQueue must be an integer >= 0');
    this.#threads = opts.threads;
    this.#maxQueue = opts.maxQueue;
    this.#defaultRetryAfterS = opts.defaultRetryAfterS ?? 5;
    this.#cancelGraceMs = opts.cancelGraceMs ?? 10_000;
    this.#tracing = opts.tracing ?? noopTracing;
    this.#piscina = new Piscina({
      minThreads: opts.threads,
      maxThreads: opts.threads,
      maxQueue: Math.max(1, opts.maxQueue),
      idleTimeout: opts.idleTimeoutMs ?? Number.MAX_SAFE_INTEGER,
      concurrentTasksPerWorker: 1,
      ...workerExecArgv(import.meta.url),
      // Tasks await child processes and port messages; piscina's blocking Atomics.wait
      // between tasks would stall those, and it buys nothing for tasks lasting seconds.
      atomics: 'disabled',
    });
    opts.metrics?.watchPool(() => ({ queued: this.queueSize, running: this.running }));
  }

  /** Tasks accepted but not yet started by a worker. */
  get queueSize(): number {
    let queued = 0;
    for (const t of this.#inFlight) if (Atomics.load(t.state, 0) === TaskState.queued) queued++;
    return queued;
  }

  /** Tasks running on a worker now. */
  get running(): number {
    return this.#inFlight.size - this.queueSize;
  }

  /**
   * Share of the pool's thread time spent running finished tasks since the pool was built
   * (0..1). Measured from the workers' own run times: piscina's figure mixes units in v5.
   */
  get utilization(): number {
    const capacity = (performance.now() - this.#createdAt) * this.#threads;
    return capacity > 0 ? Math.min(1, this.#busyMs / capacity) : 0;
  }

  get threads(): number {
    return this.#threads;
  }

  /** Runs a task on a worker thread. Never throws synchronously. */
  run<K extends TaskName>(task: K, input: TaskInput<K>, opts: RunOptions = {}): Promise<TaskOutput<K>> {
    // #run is async, so even argument errors surface as a rejection.
    return this.#run(task, input, opts);
  }

  async #run<K extends TaskName>(task: K, input: TaskInput<K>, opts: RunOptions): Promise<TaskOutput<K>> {
    const { signal, onProgress } = opts;
    if (this.#closing) throw new TremoloError('E_SHUTTING_DOWN');
    if (signal?.aborted) throw stopErrorFor(signal);
    if (this.#inFlight.size >= this.#threads + this.#maxQueue) throw this.#queueFull();

    const state = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    const dequeue = new AbortController();
    let stopReason: StopReason | null = null;
    let grace: NodeJS.Timeout | undefined;

    const cancel = (reason: StopReason): void => {
      if (stopReason) return;
      stopReason = reason;
      // Still queued: take it out of piscina's queue; the worker will see the flag if it races us.
      if (Atomics.compareExchange(state, 0, TaskState.queued, TaskState.cancelledBeforeStart) === TaskState.queued) {
        dequeue.abort(reason);
        return;
      }
      const msg: PoolMessage = { type: 'cancel', reason };
      port1.postMessage(msg);
      grace = setTimeout(() => dequeue.abort(reason), this.#cancelGraceMs);
      grace.unref();
    };
    const entry: InFlight = { state, cancel };
    const onAbort = (): void => cancel(reasonOf(signal));

    const onMessage = (msg: WorkerMessage): void => {
      if (msg.type === 'progress' && onProgress) {
        try {
          onProgress(msg.progress);
        } catch {
          // a caller's progress handler must not break the task
        }
      }
    };
    port1.on('message', onMessage);
    port1.unref();

    this.#inFlight.add(entry);
    signal?.addEventListener('abort', onAbort, { once: true });
    const traceparent = opts.trace && this.#tracing.sampled(opts.trace) ? this.#tracing.inject(opts.trace) : undefined;
    const envelope: TaskEnvelope<TaskInput<K>> = { input, control: { state, port: port2 }, ...(traceparent ? { trace: traceparent } : {}) };
    try {
      const outcome = (await this.#piscina.run(envelope, {
        filename: workerModuleUrl(`./tasks/${TASK_MODULES[task]}`, import.meta.url).href,
        transferList: [port2],
        signal: dequeue.signal,
      })) as TaskOutcome<TaskOutput<K>>;
      if (outcome.runMs > 0) this.#recordRunTime(outcome.runMs);
      if (opts.trace && outcome.spans) this.#export(outcome.spans, opts.trace);
      if (outcome.ok) return outcome.value;
      throw deserializeTaskError(outcome.error);
    } catch (err) {
      throw this.#mapError(err, stopReason);
    } finally {
      clearTimeout(grace);
      signal?.removeEventListener('abort', onAbort);
      this.#inFlight.delete(entry);
      // The result travels on piscina's channel, progress on ours: deliver progress the
      // task posted before finishing (its final 100 %) before the port goes away.
      for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) onMessage(m.message as WorkerMessage);
      port1.close();
    }
  }

  /** The spans a task timed in its thread, as children of the caller's span, with the thread's times. */
  #export(spans: readonly WorkerSpan[], parent: TraceContext): void {
    const started = new Map<number, SpanHandle>();
    // numbered in start order: a parent always comes before its children
    for (const s of [...spans].sort((a, b) => a.id - b.id)) {
      const span = this.#tracing.start(s.name, { parent: started.get(s.parent)?.context ?? parent, startTime: s.startTime, attributes: s.attributes });
      if (s.error) span.fail(new TremoloError(isErrorCode(s.error) ? s.error : 'E_INTERNAL'));
      started.set(s.id, span);
    }
    for (const s of spans) started.get(s.id)?.end(s.endTime);
  }

  #mapError(err: unknown, stopReason: StopReason | null): TremoloError {
    if (err instanceof TremoloError) return err;
    const name = err instanceof Error ? err.name : '';
    if (name === 'AbortError') {
      if (stopReason === 'timeout') return new TremoloError('E_JOB_TIMEOUT', undefined, { cause: err });
      if (stopReason === 'cancelled') return new TremoloError('E_JOB_CANCELLED', undefined, { cause: err });
      return new TremoloError('E_SHUTTING_DOWN', undefined, { cause: err });
    }
    return mapPoolError(err, () => this.#retryAfterS());
  }

  #queueFull(): TremoloError {
    return new TremoloError('E_QUEUE_FULL', undefined, { retryAfter: this.#retryAfterS() });
  }

  #recordRunTime(ms: number): void {
    this.#busyMs += ms;
    this.#meanRunMs = this.#meanRunMs === 0 ? ms : this.#meanRunMs * 0.8 + ms * 0.2;
  }

  /** Time until a queue slot is likely free: the queue ahead drained by all threads. */
  #retryAfterS(): number {
    if (this.#meanRunMs === 0) return this.#defaultRetryAfterS;
    const waves = this.queueSize / this.#threads + 1;
    return Math.min(600, Math.max(1, Math.ceil((this.#meanRunMs * waves) / 1000)));
  }

  /**
   * Stops accepting tasks and shuts the threads down. By default running and queued tasks
   * finish first; with `cancel: true` they are cancelled (ffmpeg killed, partial output removed).
   */
  async close(opts: { cancel?: boolean } = {}): Promise<void> {
    this.#closing = true;
    if (opts.cancel) for (const t of this.#inFlight) t.cancel('cancelled');
    await this.#piscina.close();
  }
}

/** piscina's queue-limit error is a plain Error with no code; this is where it gets one. */
export function mapPoolError(err: unknown, retryAfterS: () => number): TremoloError {
  if (err instanceof TremoloError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/task queue is at limit|no task queue available/i.test(message)) {
    return new TremoloError('E_QUEUE_FULL', undefined, { retryAfter: retryAfterS(), cause: err });
  }
  return new TremoloError('E_INTERNAL', undefined, { cause: err });
}

function reasonOf(signal: AbortSignal | undefined): StopReason {
  const r: unknown = signal?.reason;
  return r instanceof Error && r.name === 'TimeoutError' ? 'timeout' : r === 'timeout' ? 'timeout' : 'cancelled';
}

function stopErrorFor(signal: AbortSignal): TremoloError {
  return reasonOf(signal) === 'timeout' ? new TremoloError('E_JOB_TIMEOUT') : new TremoloError('E_JOB_CANCELLED');
}
