import * as ort from 'onnxruntime-node';
import type { TaggerDevice } from './types.ts';

/** A loaded model and where it actually runs. */
export interface LoadedSession {
  session: ort.InferenceSession;
  device: TaggerDevice;
}

export interface SessionSpec {
  device: TaggerDevice;
  threads: number;
}

/**
 * Creates each ONNX session once and hands the same one out again: loading a model costs far
 * more than running it on a frame. Keyed by model path + device + threads, so two settings never
 * share a session. Creation is cached as a promise, so concurrent first calls load once.
 */
export class SessionCache {
  readonly #sessions = new Map<string, Promise<LoadedSession>>();
  #warnedNoCuda = false;

  get(modelPath: string, spec: SessionSpec): Promise<LoadedSession> {
    if (!Number.isInteger(spec.threads) || spec.threads < 1) {
      return Promise.reject(new RangeError(`threads must be a positive integer, got ${spec.threads}`));
    }
    const key = `${modelPath}\u0000${spec.device}\u0000${spec.threads}`;
    let loading = this.#sessions.get(key);
    if (!loading) {
      loading = this.#create(modelPath, spec);
      // A failed load is not cached: the next call tries again (the file may appear later).
      loading.catch(() => this.#sessions.delete(key));
      this.#sessions.set(key, loading);
    }
    return loading;
  }

  /** Releases every session (worker shutdown, tests). */
  async close(): Promise<void> {
    const all = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const p of all) {
      const loaded = await p.catch(() => undefined);
      await loaded?.session.release();
    }
  }

  async #create(modelPath: string, spec: SessionSpec): Promise<LoadedSession> {
    const base: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: spec.threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    };
    if (spec.device === 'cuda') {
      try {
        const session = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: ['cuda', 'cpu'] });
        return { session, device: 'cuda' };
      } catch (err) {
        // The CPU package has no CUDA provider; creating the session then fails outright.
        // Fall back to CPU, and say so once per worker rather than once per model.
        if (!this.#warnedNoCuda) {
          this.#warnedNoCuda = true;
          console.warn(`tagger: CUDA execution provider unavailable, running on CPU (${(err as Error).message})`);
        }
      }
    }
    const session = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: ['cpu'] });
    return { session, device: 'cpu' };
  }
}

/**
 * The per-worker session cache: the one module-level mutable object of the tagger, on purpose.
 * Each piscina worker thread has its own module instance, so this is one cache per worker and
 * sessions live as long as the worker does.
 */
export const workerSessions = new SessionCache();
