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
 */
import type { MessagePort } from 'node:worker_threads';
import { isErrorCode, TremoloError, type ErrorCode } from '../protocol/errors.ts';

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
export type TaskOutcome<O> = ({ ok: true; value: O } | { ok: false; error: SerializedTaskError }) & { runMs: number };

/** Worker -> pool. */
export type WorkerMessage = { type: 'progress'; progress: TaskProgress };
/** Pool -> worker. */
export type PoolMessage = { type: 'cancel'; reason: StopReason };

export interface TaskContext {
  /** Aborted when the caller cancels or the job times out; `signal.reason` is a StopReason. */
  signal: AbortSignal;
  progress(p: TaskProgress): void;
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

/**
 * Wraps a task body into the function piscina calls. Safe to call the body directly in
 * the main thread too (tests, benches): only the wrapper knows about envelopes.
 */
export function defineTask<I, O>(body: TaskBody<I, O>): (envelope: TaskEnvelope<I>) => Promise<TaskOutcome<O>> {
  return async ({ input, control }) => {
    const { state, port } = control;
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
      const value = await body(input, { signal: stop.signal, progress });
      return { ok: true, value, runMs: runMs() };
    } catch (err) {
      return { ok: false, error: serializeTaskError(err), runMs: runMs() };
    } finally {
      port.off('message', onMessage);
      port.close();
    }
  };
}
