/**
 * The contract between `MediaPool` (main thread) and a task module (worker thread).
 *
 * A task module's default export is `defineTask(body)`. The pool sends it an envelope
 * `{ input, control }`; the body gets the input plus a context with an AbortSignal and a
 * progress reporter. Why not piscina's own `signal`: aborting a running piscina task
 * terminates the worker thread, and child processes (ffmpeg) spawned from it would be
 * orphaned. Cancellation is therefore cooperative: the pool posts `cancel` on the task's
 * MessagePort, the body kills its children and cleans up, then the task settles.
 *
 * Errors do not survive the thread boundary as TremoloErrors (structured clone keeps only
 * name/message/stack), so the body's outcome is sent back as data and re-thrown by the pool.
 *
 * Tracing: worker threads export nothing themselves (an OpenTelemetry SDK, exporter and batch
 * queue per thread would cost memory and start-up in every thread, and a thread's unexported
 * spans would die with it). When the caller's span is sampled the envelope carries its
 * `traceparent`; the body then times its steps (`ctx.trace`) in the thread, and the outcome
 * brings those timings back as data, which the pool turns into real spans, children of the
 * caller's, with the times measured in the thread. Untraced, `ctx.trace` records nothing.
 */
import type { MessagePort } from 'node:worker_threads';
import { isErrorCode, TremoloError, type ErrorCode } from '../protocol/errors.ts';
import type { Attributes } from '../telemetry/tracing.ts';

/** Lifecycle slot shared (SharedArrayBuffer) between the pool and the worker, one per task. */
export const TaskState = { queued: 0, running: 1, cancelledBeforeStart: 2 } as const;

/** Why a task was asked to stop; decides between E_JOB_CANCELLED and E_JOB_TIMEOUT. */
export type StopReason = 'cancelled' | 'timeout';

export interface TaskProgress {
  /** 0..100, never decreasing within one task. */
  percent: number;
  /** What the task is doing now, e.g. `probe`, `transcode`. */
  stage: string;
}

export interface TaskControl {
  /** Int32Array over a SharedArrayBuffer holding one `TaskState` value. */
  state: Int32Array;
  port: MessagePort;
}

export interface TaskEnvelope<I> {
  input: I;
  control: TaskControl;
  /** W3C traceparent of the caller's span, only when it is sampled: the body then records its spans. */
  trace?: string;
}

/** A span timed in a worker thread; the pool exports it in the caller's trace. */
export interface WorkerSpan {
  /** Numbered in start order, from 1; `parent` 0 is the caller's span. */
  id: number;
  parent: number;
  name: string;
  /** ms since the epoch (the thread's clock is the process's). */
  startTime: number;
  endTime: number;
  attributes: Attributes;
  /** The error code, when the step failed. */
  error?: string;
}

/** At most this many spans come back from one task; more are not recorded. */
export const MAX_WORKER_SPANS = 256;

/** Spans of a task, recorded in its worker thread (see the header). */
export interface TaskTrace {
  /** Whether anything is recorded (the caller's span is sampled). */
  readonly recording: boolean;
  /** Runs `fn` as a child span; its `set` adds attributes to that span. */
  span<T>(name: string, fn: (span: TaskTrace) => Promise<T>, attributes?: Attributes): Promise<T>;
  /** Records a finished child span timed by the caller (several outputs of one pass). */
  record(name: string, startTime: number, endTime: number, attributes?: Attributes): void;
  /** Adds attributes to this span. */
  set(attributes: Attributes): void;
}

export interface SerializedTaskError {
  code: ErrorCode;
  message: string;
  retryAfter?: number;
  details?: Record<string, unknown>;
  /** Internal detail for logs (e.g. ffmpeg's stderr tail); never shown to clients. */
  cause?: string;
}

/** `runMs`: time the body ran in the worker (0 when it never started), for utilization figures. */
export type TaskOutcome<O> = ({ ok: true; value: O } | { ok: false; error: SerializedTaskError }) & { runMs: number; spans?: WorkerSpan[] };

/** Worker -> pool. */
export type WorkerMessage = { type: 'progress'; progress: TaskProgress };
/** Pool -> worker. */
export type PoolMessage = { type: 'cancel'; reason: StopReason };

export interface TaskContext {
  /** Aborted when the caller cancels or the job times out; `signal.reason` is a StopReason. */
  signal: AbortSignal;
  progress(p: TaskProgress): void;
  /** Spans of this task's steps, exported in the caller's trace (a no-op when it is not sampled). */
  trace: TaskTrace;
}

export type TaskBody<I, O> = (input: I, ctx: TaskContext) => Promise<O>;

/** The error a task body should throw when its signal fires. */
export function stoppedError(signal: AbortSignal): TremoloError {
  return signal.reason === 'timeout'
    ? new TremoloError('E_JOB_TIMEOUT')
    : new TremoloError('E_JOB_CANCELLED');
}

export function serializeTaskError(err: unknown): SerializedTaskError {
  if (err instanceof TremoloError) {
    const cause = err.cause instanceof Error ? err.cause.message : typeof err.cause === 'string' ? err.cause : undefined;
    return {
      code: err.code,
      message: err.message,
      ...(err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {}),
      ...(err.details ? { details: err.details } : {}),
      ...(cause !== undefined ? { cause } : {}),
    };
  }
  return { code: 'E_INTERNAL', message: 'Internal error', cause: err instanceof Error ? err.stack ?? err.message : String(err) };
}

export function deserializeTaskError(e: SerializedTaskError): TremoloError {
  const code: ErrorCode = isErrorCode(e.code) ? e.code : 'E_INTERNAL';
  return new TremoloError(code, e.message, {
    ...(e.cause !== undefined ? { cause: e.cause } : {}),
    ...(e.retryAfter !== undefined ? { retryAfter: e.retryAfter } : {}),
    ...(e.details !== undefined ? { details: e.details } : {}),
  });
}

/** Wall-clock ms with sub-ms precision, comparable across the threads of a process. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** A TaskTrace that records nothing (untraced tasks, bodies called directly). */
export const untracedTask: TaskTrace = Object.freeze({
  recording: false,
  span: <T>(_name: string, fn: (span: TaskTrace) => Promise<T>): Promise<T> => fn(untracedTask),
  record() {},
  set() {},
});

/** A recording TaskTrace whose finished spans land in `out` (children of span `parent`, 0 the caller). */
export function recordingTask(out: WorkerSpan[]): TaskTrace {
  let next = 0;
  const extra = new Map<number, Attributes>();
  const make = (id: number): TaskTrace => ({
    recording: true,
    async span<T>(name: string, fn: (span: TaskTrace) => Promise<T>, attributes: Attributes = {}): Promise<T> {
      if (next >= MAX_WORKER_SPANS) return fn(untracedTask);
      const child = ++next;
      const startTime = epochMs();
      let error: string | undefined;
      try {
        return await fn(make(child));
      } catch (err) {
        error = err instanceof TremoloError ? err.code : err instanceof Error ? err.name : 'Error';
        throw err;
      } finally {
        out.push({ id: child, parent: id, name, startTime, endTime: epochMs(), attributes: { ...attributes, ...extra.get(child) }, ...(error ? { error } : {}) });
        extra.delete(child);
      }
    },
    record(name: string, startTime: number, endTime: number, attributes: Attributes = {}): void {
      if (next >= MAX_WORKER_SPANS) return;
      out.push({ id: ++next, parent: id, name, startTime, endTime, attributes });
    },
    set(attributes: Attributes): void {
      if (id === 0) return; // the caller's span is the pool's to describe
      extra.set(id, { ...extra.get(id), ...attributes });
    },
  });
  return make(0);
}

/**
 * Wraps a task body into the function piscina calls. Safe to call the body directly in
 * the main thread too (tests, benches): only the wrapper knows about envelopes.
 */
export function defineTask<I, O>(body: TaskBody<I, O>): (envelope: TaskEnvelope<I>) => Promise<TaskOutcome<O>> {
  return async ({ input, control, trace }) => {
    const { state, port } = control;
    const spans: WorkerSpan[] = [];
    const taskTrace = trace ? recordingTask(spans) : untracedTask;
    const traced = (): { spans?: WorkerSpan[] } => (spans.length ? { spans } : {});
    const stop = new AbortController();
    const onMessage = (msg: PoolMessage): void => {
      if (msg.type === 'cancel' && !stop.signal.aborted) stop.abort(msg.reason);
    };
    port.on('message', onMessage);
    let started = 0;
    const runMs = (): number => (started ? performance.now() - started : 0);
    try {
      // Claim the task. Losing the race means the pool cancelled it while it was queued.
      const prev = Atomics.compareExchange(state, 0, TaskState.queued, TaskState.running);
      if (prev !== TaskState.queued) return { ok: false, error: serializeTaskError(new TremoloError('E_JOB_CANCELLED')), runMs: 0 };
      started = performance.now();
      let last = -1;
      let lastStage = '';
      const progress = (p: TaskProgress): void => {
        const percent = Math.max(last, Math.min(100, Math.round(p.percent)));
        if (percent === last && p.stage === lastStage) return;
        last = percent;
        lastStage = p.stage;
        const msg: WorkerMessage = { type: 'progress', progress: { percent, stage: p.stage } };
        port.postMessage(msg);
      };
      const value = await body(input, { signal: stop.signal, progress, trace: taskTrace });
      return { ok: true, value, runMs: runMs(), ...traced() };
    } catch (err) {
      return { ok: false, error: serializeTaskError(err), runMs: runMs(), ...traced() };
    } finally {
      port.off('message', onMessage);
      port.close();
    }
  };
}
