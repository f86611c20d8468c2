/**
 * Synchronous replication on demand (REDIS_WAIT_REPLICAS): a write is followed by
 * `WAIT <replicas> <timeoutMs>` before its caller hears of it, so what tremolo acknowledges
 * has reached that many replicas and survives the failover of its master.
 *
 * Redis replicates asynchronously: a master that dies takes with it the writes it answered
 * but had not yet streamed, and a replica promoted in its place never saw them. WAIT blocks
 * the connection that wrote until the replicas acknowledge everything that connection wrote
 * so far, so it must go out on the very connection (the very node, on a Cluster) that took
 * the write. Both go out in ONE pipeline on one connection here: on a Cluster, the connection
 * of the master that serves the write's slot, taken from the client's slot map once for both
 * (not the Cluster's own pipeline, whose retry after a redirection or timeout could run the
 * two apart, and whose slot map may change between two separate commands: a WAIT on a node
 * that never saw the write finds nothing to wait for and passes). When that node no longer
 * serves the slot, the write is refused (MOVED) and fails like any storage error, and the
 * slot map is refreshed for the retry.
 *
 * The actors group-commit a turn into one store call, so a turn costs one WAIT, not one per
 * like. WAIT does not undo the write: a turn that fails it may have been applied, and the
 * client's retry is safe because every write is idempotent (set membership, idempotency keys).
 */
import { Cluster, type ChainableCommander, type Redis } from 'ioredis';
import { TremoloError } from '../../protocol/errors.ts';
import { slotOfKey } from './slots.ts';

export interface ReplicaWaitOptions {
  /** Replicas that must hold a write before it is acknowledged; 0 = off (asynchronous replication). */
  replicas: number;
  /** How long a write waits for them; past it the write fails with E_STORAGE_UNAVAILABLE. */
  timeoutMs: number;
}

export const NO_REPLICA_WAIT: ReplicaWaitOptions = { replicas: 0, timeoutMs: 0 };

export function checkReplicaWait(opts: ReplicaWaitOptions): ReplicaWaitOptions {
  if (!Number.isInteger(opts.replicas) || opts.replicas < 0) throw new RangeError('replicas must be an integer >= 0');
  if (opts.replicas > 0 && (!Number.isInteger(opts.timeoutMs) || opts.timeoutMs <= 0)) {
    // WAIT 0 would block forever: a bound is what turns a lost replica into a failed turn
    throw new RangeError('timeoutMs must be a positive integer when replicas > 0');
  }
  return { ...opts };
}

/** Appends the WAIT to a pipeline that holds writes (nothing when off). */
export function appendWait(pipeline: ChainableCommander, opts: ReplicaWaitOptions): void {
  if (opts.replicas > 0) pipeline.call('wait', opts.replicas, opts.timeoutMs);
}

/** Checks the WAIT's answer: the number of replicas that acknowledged. */
export function checkWaitReply(reply: unknown, opts: ReplicaWaitOptions): void {
  const acked = typeof reply === 'number' ? reply : Number(reply);
  if (acked >= opts.replicas) return;
  throw new TremoloError('E_STORAGE_UNAVAILABLE', undefined, {
    retryAfter: 1,
    cause: new Error(`WAIT: ${acked} of ${opts.replicas} replicas acknowledged the write within ${opts.timeoutMs} ms`),
  });
}

/**
 * The connection that serves `key` now: the client itself on one Redis; on a Cluster, the
 * connection to the master of its slot (undefined while the slot map does not know one).
 */
export function connectionFor(client: Redis | Cluster, key: string): Redis | undefined {
  if (!(client instanceof Cluster)) return client;
  const master = client.slots[slotOfKey(key)]?.[0];
  if (master === undefined) return undefined;
  return client.nodes('master').find((node) => `${node.options.host}:${node.options.port}` === master);
}

/** After a failure on a node's own connection: the Cluster may have moved the slot (failover). */
export function refreshTopology(client: Redis | Cluster): void {
  if (client instanceof Cluster) client.refreshSlotsCache(() => {});
}
