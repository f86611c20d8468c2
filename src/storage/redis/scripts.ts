/**
 * The Lua scripts (lua/<name>-<numKeys>.lua), loaded once when the store is built and run
 * with EVALSHA, falling back to EVAL when the server answers NOSCRIPT (after a restart,
 * SCRIPT FLUSH, or on a Cluster node that has not seen the script yet).
 *
 * A script may include shared Lua with a line `--- @include "<name>"` (BullMQ's convention):
 * the loader puts `lua/includes/<name>.lua` there, once per script however often it is
 * asked for, includes of includes too, so each rule (the log's epoch, a job's lease) is
 * written once.
 *
 * Also the two error translations of the driver, each in one place: a script's failure
 * code -> TremoloError (`scriptFailure`), and a client/connection error -> TremoloError
 * (`storageError`).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import { TremoloError, type ErrorCode } from '../../protocol/errors.ts';
import { endWith, noopTracing, type SpanHandle, type TraceContext, type Tracing } from '../../telemetry/tracing.ts';
import { appendWait, checkReplicaWait, checkWaitReply, connectionFor, NO_REPLICA_WAIT, refreshTopology, type ReplicaWaitOptions } from './replicas.ts';

export type RedisClient = Redis | Cluster;

export const SCRIPT_NAMES = [
  'video-create',
  'video-state',
  'video-apply',
  'video-events',
  'video-comments',
  'video-delete',
  'video-tagging',
  'video-liked',
  'video-likers-migrate',
  'comment-threads',
  'comment-replies',
  'favorite-video',
  'favorite-user',
  'user-follow',
  'interaction-record',
  'interaction-ack',
  'interaction-deliver',
  'interaction-claim',
  'interaction-trim',
  'interaction-lag',
  'user-list',
  'user-videos',
  'feed-push',
  'fanout-enqueue',
  'fanout-claim',
  'fanout-progress',
  'fanout-release',
  'fanout-done',
  'hot-after',
  'rec-signal',
  'rec-seen',
  'rec-similar',
  'rec-engager',
  'rec-fresh-add',
  'rec-impressions',
  'job-create',
  'job-update',
  'job-claim',
  'job-renew',
  'job-release',
  'upload-reserve',
  'upload-release',
  'upload-add-video',
  'upload-remove-video',
  'upload-lock',
  'upload-lock-renew',
  'upload-unlock',
  'conversation-apply',
  'conversation-state',
  'conversation-events',
  // social depth (redis/social.ts)
  'inbox-add',
  'inbox-list',
  'inbox-read',
  'user-block',
  'mod-report',
  'mod-resolve',
] as const;

export type ScriptName = (typeof SCRIPT_NAMES)[number];

/**
 * The scripts that only read: they skip the WAIT of REDIS_WAIT_REPLICAS (replicas.ts);
 * every other script writes and is followed by one.
 */
const READ_ONLY: ReadonlySet<ScriptName> = new Set<ScriptName>([
  'video-state',
  'video-events',
  'video-comments',
  'video-liked',
  'comment-threads',
  'comment-replies',
  'user-list',
  'hot-after',
  'conversation-state',
  'conversation-events',
  'inbox-list',
  'interaction-lag',
]);

interface LoadedScript {
  lua: string;
  sha: string;
  numKeys: number;
}

/**
 * Failure codes scripts return (negative integers), and the error each one means.
 * Whole-call failures become a thrown TremoloError; per-op failures (video-apply)
 * become `{ ok: false, code }` results.
 */
const FAILURES = {
  [-1]: 'E_VIDEO_NOT_FOUND',
  [-2]: 'E_USER_NOT_FOUND',
  [-3]: 'E_COMMENT_NOT_FOUND',
  [-4]: 'E_FORBIDDEN',
  [-5]: 'E_REPLY_TARGET',
  [-6]: 'E_CONVERSATION_NOT_FOUND',
  [-7]: 'E_EXPORT_BACKLOG',
  [-8]: 'E_BLOCK_LIMIT',
  [-11]: 'E_BAD_CURSOR',
  [-10]: 'E_PIN_TARGET',
  [-16]: 'E_BUSY',
} as const satisfies Record<number, ErrorCode>;

export type ScriptFailureCode = (typeof FAILURES)[keyof typeof FAILURES];

export function isScriptFailure(reply: unknown): reply is number {
  return typeof reply === 'number' && reply < 0;
}

/** The error code a script's negative reply stands for. */
export function failureCode(code: number): ScriptFailureCode {
  const known = (FAILURES as Record<number, ScriptFailureCode | undefined>)[code];
  if (known === undefined) throw new TremoloError('E_INTERNAL', undefined, { cause: new Error(`unknown script failure code ${code}`) });
  return known;
}

/** The one translation of a script's failure code into the error a caller sees. */
export function scriptFailure(code: number): TremoloError {
  const failure = failureCode(code);
  // the exporter drains the log within seconds once its sink answers again
  if (failure === 'E_EXPORT_BACKLOG') return new TremoloError(failure, undefined, { retryAfter: 5 });
  // the fan-out queue is full (fanout-enqueue): a page of followers takes milliseconds
  if (failure === 'E_BUSY') return new TremoloError(failure, 'Too many new posts are waiting to reach followers; retry shortly', { retryAfter: 1 });
  return new TremoloError(failure);
}

/** Server replies that mean "not now" rather than "wrong": the caller may retry later. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|NOREPLICAS|OOM|MOVED|ASK)\b/;

/**
 * The one translation of a client error: connection loss, timeouts, offline client and
 * transient server states become E_STORAGE_UNAVAILABLE (retryable); any other server
 * reply (a script or driver bug) becomes E_INTERNAL. The original is kept as `cause`.
 */
export function storageError(err: unknown): TremoloError {
  if (err instanceof TremoloError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  if (e.name === 'ReplyError' && !TRANSIENT_REPLY.test(e.message)) {
    return new TremoloError('E_INTERNAL', undefined, { cause: e });
  }
  return new TremoloError('E_STORAGE_UNAVAILABLE', undefined, { cause: e, retryAfter: 1 });
}

/** Runs a Redis call, translating its failure with `storageError`. */
export async function io<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw storageError(err);
  }
}

export class Scripts {
  readonly #client: RedisClient;
  readonly #scripts: ReadonlyMap<ScriptName, LoadedScript>;
  readonly #tracing: Tracing;
  readonly #wait: ReplicaWaitOptions;

  /**
   * `tracing`: a client span per script call (its name and number of keys; never key values or arguments).
   * `wait`: replicas every write must reach before it returns (replicas.ts); default off.
   */
  constructor(
    client: RedisClient,
    dir: URL = new URL('./lua/', import.meta.url),
    tracing: Tracing = noopTracing,
    wait: ReplicaWaitOptions = NO_REPLICA_WAIT,
  ) {
    this.#client = client;
    this.#scripts = loadScripts(dir);
    this.#tracing = tracing;
    this.#wait = checkReplicaWait(wait);
  }

  /**
   * Plain commands that write one slot (`key`'s; the steps of a cross-slot write that are
   * not scripts). With REDIS_WAIT_REPLICAS they go out with the WAIT in one pipeline on the
   * slot's node (replicas.ts); otherwise as one pipeline through the client. Resolves with
   * the first command's reply; errors are translated.
   */
  async write(key: string, commands: (pipeline: ChainableCommander) => void): Promise<unknown> {
    if (this.#wait.replicas === 0) {
      const pipeline = this.#client.pipeline();
      commands(pipeline);
      const [[err, reply]] = (await execPipeline(pipeline)) as [PipelineReply];
      if (err) throw storageError(err);
      return reply;
    }
    return this.#replicated(key, commands);
  }

  /**
   * Several `write`s, each on its own key's slot, done together: on one Redis without
   * REDIS_WAIT_REPLICAS, one pipeline (one write, one round trip); otherwise each as `write`,
   * concurrently (a Cluster pipeline must stay on one node; a WAIT must follow on each node).
   */
  async writeEach(writes: readonly { key: string; commands: (pipeline: ChainableCommander) => void }[]): Promise<void> {
    if (this.#wait.replicas > 0 || this.#client.isCluster || writes.length < 2) {
      await Promise.all(writes.map((w) => this.write(w.key, w.commands)));
      return;
    }
    const pipeline = this.#client.pipeline();
    for (const w of writes) w.commands(pipeline);
    const failed = (await execPipeline(pipeline)).find(([err]) => err !== null)?.[0];
    if (failed) throw storageError(failed);
  }

  /**
   * Runs a script: EVALSHA, then EVAL once if the server does not know it. Errors are translated.
   * `trace`: the span to trace it under, for a call made after an await (see `caller`); default:
   * the active one.
   */
  run(name: ScriptName, keys: readonly string[], args: readonly (string | number)[], trace?: TraceContext): Promise<unknown> {
    if (!this.#underSampled(trace)) return this.#run(name, keys, args);
    return this.#traced(name, keys.length, 1, () => this.#run(name, keys, args), trace);
  }

  /**
   * The caller's trace position, taken when a Store method begins: the active context is a
   * synchronous scope (telemetry/tracing.ts), so a method that awaits before its script passes
   * this to `run`.
   */
  caller(): TraceContext | undefined {
    return this.#tracing.current();
  }

  /**
   * Whether a call here is traced: only under a sampled span (a script span is a child or
   * nothing). The common case at a low ratio is no, and then the call costs nothing more.
   */
  #underSampled(trace: TraceContext | undefined): boolean {
    const tracing = this.#tracing;
    if (!tracing.enabled) return false;
    const parent = trace ?? tracing.current();
    return parent !== undefined && tracing.sampled(parent);
  }

  /**
   * A span around one call (or one pipeline of `batch` calls) of a script. The caller gets the
   * call's own promise and the span ends on a branch of it (`endWith`): with the async wrapper
   * this was, a traced `video-apply` reached its turn ~2 ms later than an untraced one under
   * load, and at 1 % sampling a third of the turns are traced (docs/benchmarks.md, "tracing").
   */
  #traced<T>(name: ScriptName, numKeys: number, batch: number, call: () => Promise<T>, parent?: TraceContext): Promise<T> {
    const span: SpanHandle = this.#tracing.start(`EVALSHA ${name}`, {
      kind: 'client',
      parent,
      childOnly: true,
      attributes: {
        'db.system.name': 'redis',
        'db.operation.name': 'EVALSHA',
        'db.stored_procedure.name': name,
        'tremolo.redis.keys': numKeys,
        ...(batch > 1 ? { 'db.operation.batch.size': batch } : {}),
      },
    });
    const reply = this.#tracing.run(span.context, call);
    endWith(span, reply);
    return reply;
  }

  async #run(name: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const script = this.#scripts.get(name);
    if (!script) throw new Error(`script ${name} is not loaded`);
    if (keys.length !== script.numKeys) throw new Error(`script ${name} takes ${script.numKeys} keys, got ${keys.length}`);
    const params = [...keys, ...args];
    if (this.#wait.replicas > 0 && !READ_ONLY.has(name)) return this.#runReplicated(script, keys, params);
    try {
      return await this.#client.evalsha(script.sha, script.numKeys, ...params);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw storageError(err);
    }
    // EVAL also puts the script into the server's cache, so the next EVALSHA succeeds
    return io(() => this.#client.eval(script.lua, script.numKeys, ...params));
  }

  /**
   * A write script and its WAIT, on the connection of the node that serves its first key
   * (see replicas.ts for why): EVALSHA, or EVAL when that node does not know the script
   * (the WAIT then had nothing new to wait for, and goes out again behind the EVAL).
   */
  async #runReplicated(script: LoadedScript, keys: readonly string[], params: readonly (string | number)[]): Promise<unknown> {
    const answered = await this.#replicated(keys[0]!, (p) => p.evalsha(script.sha, script.numKeys, ...params), true);
    if (answered !== NOSCRIPT) return answered;
    return this.#replicated(keys[0]!, (p) => p.eval(script.lua, script.numKeys, ...params));
  }

  /** Writes on `key`'s node, then WAIT there; `noscript`: answer NOSCRIPT instead of failing on it. */
  async #replicated(key: string, commands: (pipeline: ChainableCommander) => void, noscript = false): Promise<unknown> {
    const node = connectionFor(this.#client, key);
    if (!node) {
      refreshTopology(this.#client);
      throw storageError(new Error(`no known master serves the slot of a key yet`));
    }
    const pipeline = node.pipeline();
    commands(pipeline);
    const count = pipeline.length;
    appendWait(pipeline, this.#wait);
    let replies: PipelineReply[];
    try {
      replies = await execPipeline(pipeline);
      const failed = replies.find(([err]) => err !== null)?.[0];
      if (failed) throw failed;
    } catch (err) {
      if (noscript && err instanceof Error && err.message.startsWith('NOSCRIPT')) return NOSCRIPT;
      const moved = err instanceof Error && /^(MOVED|ASK|CLUSTERDOWN|READONLY)\b/.test(err.message);
      const answered = err instanceof Error && err.name === 'ReplyError';
      // lost node, failover, resharding: the next try finds the slot's new master
      if (moved || !answered) refreshTopology(this.#client);
      throw storageError(err);
    }
    checkWaitReply(replies[count]![1], this.#wait);
    return replies[0]![1];
  }

  /**
   * Runs one script many times (different keys, e.g. one inbox per follower). On one Redis
   * it is a single pipeline, and calls answered NOSCRIPT (which therefore did not run) are
   * run again with `run`. A Cluster pipeline must stay on one node, so there the calls go
   * out concurrently instead, and ioredis batches them per node connection.
   */
  runMany(name: ScriptName, calls: readonly { keys: readonly string[]; args: readonly (string | number)[] }[]): Promise<unknown[]> {
    if (calls.length === 0 || !this.#underSampled(undefined)) return this.#runMany(name, calls);
    return this.#traced(name, calls[0]!.keys.length, calls.length, () => this.#runMany(name, calls));
  }

  async #runMany(name: ScriptName, calls: readonly { keys: readonly string[]; args: readonly (string | number)[] }[]): Promise<unknown[]> {
    if (calls.length === 0) return [];
    const client = this.#client;
    if (client.isCluster) return Promise.all(calls.map((c) => this.#run(name, c.keys, c.args)));
    const script = this.#scripts.get(name);
    if (!script) throw new Error(`script ${name} is not loaded`);
    const pipeline = client.pipeline();
    for (const c of calls) {
      if (c.keys.length !== script.numKeys) throw new Error(`script ${name} takes ${script.numKeys} keys, got ${c.keys.length}`);
      pipeline.evalsha(script.sha, script.numKeys, ...c.keys, ...c.args);
    }
    // one WAIT covers the whole pipeline (calls answered NOSCRIPT wait again in `run`)
    const waits = this.#wait.replicas > 0 && !READ_ONLY.has(name);
    if (waits) appendWait(pipeline, this.#wait);
    const replies = await execPipeline(pipeline);
    if (waits) {
      const [waitErr, acked] = replies.pop()!;
      if (waitErr) throw storageError(waitErr);
      checkWaitReply(acked, this.#wait);
    }
    return Promise.all(
      replies.map(async ([err, reply], i) => {
        if (!err) return reply;
        if (!err.message.startsWith('NOSCRIPT')) throw storageError(err);
        const c = calls[i]!;
        return this.#run(name, c.keys, c.args);
      }),
    );
  }
}

type PipelineReply = [Error | null, unknown];

/** `#replicated`'s answer when the node does not know the script yet. */
const NOSCRIPT = Symbol('NOSCRIPT');

async function execPipeline(pipeline: ChainableCommander): Promise<PipelineReply[]> {
  const replies = await io(() => pipeline.exec());
  if (!replies) throw storageError(new Error('pipeline was discarded'));
  return replies;
}

function loadScripts(dir: URL): Map<ScriptName, LoadedScript> {
  const scripts = new Map<ScriptName, LoadedScript>();
  for (const file of readdirSync(dir)) {
    const match = /^(.+)-(\d+)\.lua$/.exec(file);
    if (!match) continue;
    const name = match[1] as ScriptName;
    if (!SCRIPT_NAMES.includes(name)) throw new Error(`unexpected Lua script ${file}`);
    const lua = expandIncludes(readFileSync(new URL(file, dir), 'utf8'), new URL('includes/', dir), new Set(), file);
    scripts.set(name, { lua, sha: createHash('sha1').update(lua).digest('hex'), numKeys: Number(match[2]) });
  }
  for (const name of SCRIPT_NAMES) {
    if (!scripts.has(name)) throw new Error(`Lua script ${name}-<numKeys>.lua is missing from ${dir.href}`);
  }
  return scripts;
}

const INCLUDE = /^--- @include "([a-z0-9-]+)"[ \t]*$/gm;

/** Replaces each `--- @include "<name>"` line with that include's text (each at most once). */
export function expandIncludes(lua: string, includes: URL, seen: Set<string>, from: string): string {
  return lua.replace(INCLUDE, (_line, name: string) => {
    if (seen.has(name)) return `-- (${name} is already included)`;
    seen.add(name);
    let text: string;
    try {
      text = readFileSync(new URL(`${name}.lua`, includes), 'utf8');
    } catch {
      throw new Error(`${from} includes "${name}", but ${includes.href}${name}.lua does not exist`);
    }
    return expandIncludes(text, includes, seen, `${name}.lua`).trimEnd();
  });
}
