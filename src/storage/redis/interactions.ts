/**
 * The behaviour log on Redis: one stream per Cluster slot, `ix:{<slot tag>}` (keys.ts,
 * slots.ts), so the script that changes an entity appends its event to a stream of the same
 * slot, atomically. A set, `ix:streams`, names every stream ever written; a writer adds its
 * stream there BEFORE its first write (idempotent, remembered per process), so a crash
 * between the two can leave an empty registered stream but never an unregistered event.
 *
 * An entry holds one event (`e`: its JSON) or, in hold mode, the events of one write
 * (`e`: their JSONs joined by commas, `n`: how many, at most `entryEvents`;
 * lua/includes/interaction-room.lua): one XADD per write instead of per event. Every reader
 * takes both, so entries written before batching still read; with `entryEvents` 1 writers
 * write only the one-event entries that readers from before batching take. A counter beside
 * each stream (`ix:{<tag>}:extra`) holds the events it keeps beyond one per entry, so the
 * bound (EXPORT_MAX_LAG) and `lag` count events.
 *
 * A position is the last entry read in each stream (base64url JSON), `<id>/<k>` when only
 * the first k events of that entry were read; streams it does not name are read from their start.
 *
 * The export group is a stream consumer group, `export`, on every stream, created (from the
 * stream's start) the first time this process delivers from it. New events are delivered by
 * `interaction-deliver`, which packs a stream's delivery into two strings (its ids, and its
 * events as the items of one JSON array); another consumer's idle ones are taken over by
 * `interaction-claim`, packed the same way, which never hands a consumer its own; a receipt
 * names, per stream, the ids delivered, space-separated (base64url JSON); `interaction-ack`
 * acknowledges and trims in one script.
 */
import { TremoloError } from '../../protocol/errors.ts';
import type { InteractionEvent } from '../../protocol/interactions.ts';
import type { DeliverOptions, InteractionDelivery, InteractionLimits, InteractionLog, InteractionPage } from '../interactions.ts';
import type { RedisContext } from './context.ts';
import { io, isScriptFailure, scriptFailure, storageError } from './scripts.ts';

/** Finds and registers the slot streams. One per store. */
export class InteractionStreams {
  /** Slot tags this process has registered, with their stream and counter keys (at most 16384: the registry never shrinks). */
  readonly #registered = new Map<string, [stream: string, extra: string]>();

  constructor(private readonly ctx: Pick<RedisContext, 'client' | 'keys'>) {}

  /** The stream that shares `hashTag`'s slot, registered before the caller writes to it. */
  async streamFor(hashTag: string): Promise<string> {
    return (await this.keysFor(hashTag))[0];
  }

  /** The stream that shares `hashTag`'s slot and its counter of extra events, registered before the caller writes to them. */
  async keysFor(hashTag: string): Promise<[stream: string, extra: string]> {
    const { client, keys } = this.ctx;
    const tag = keys.interactionTag(hashTag);
    let pair = this.#registered.get(tag);
    if (pair === undefined) {
      await io(() => client.sadd(keys.interactionStreams(), tag));
      pair = [keys.interactionStream(tag), keys.interactionExtra(tag)];
      this.#registered.set(tag, pair);
    }
    return pair;
  }

  async all(): Promise<string[]> {
    const { client, keys } = this.ctx;
    return (await io(() => client.smembers(keys.interactionStreams()))).sort();
  }
}

/** The script arguments that carry the log's bound. */
export function boundArgs(limits: InteractionLimits): [number, string] {
  return [limits.max, limits.hold ? '1' : '0'];
}

/** The bound's arguments and the most events per entry (EXPORT_ENTRY_EVENTS): what the scripts that record a write's events together take. */
export function writeArgs(limits: InteractionLimits): [number, string, number] {
  return [...boundArgs(limits), limits.entryEvents];
}

/** The consumer group of the exporters on every interaction stream. */
export const EXPORT_GROUP = 'export';

/** The events of one stream entry: one event, or a batch (`n` after `e`); none when its fields are gone (trimmed meanwhile). */
function entryEvents(fields: string[] | null | undefined): InteractionEvent[] {
  const json = fields?.[1];
  if (json === undefined) return [];
  return fields![2] === 'n' ? (JSON.parse(`[${json}]`) as InteractionEvent[]) : [JSON.parse(json) as InteractionEvent];
}

/** The InteractionLog of the Redis driver. */
export class RedisInteractions implements InteractionLog {
  /** Slot tags whose stream has the export group (created by this process or found existing). */
  readonly #grouped = new Set<string>();

  constructor(
    private readonly ctx: RedisContext,
    private readonly streams: InteractionStreams,
    private readonly limits: InteractionLimits,
  ) {}

  async record(events: readonly InteractionEvent[]): Promise<void> {
    const { client, keys, scripts } = this.ctx;
    const byVideo = new Map<string, string[]>();
    for (const e of events) {
      if (!('videoId' in e) || e.videoId === undefined) throw new TremoloError('E_VIDEO_NOT_FOUND');
      const list = byVideo.get(e.videoId) ?? [];
      list.push(JSON.stringify(e));
      byVideo.set(e.videoId, list);
    }
    // every video first, so an unknown one refuses the call before anything is written
    const found = await Promise.all([...byVideo.keys()].map((id) => io(() => client.exists(keys.video(id).meta))));
    if (found.some((f) => f !== 1)) throw new TremoloError('E_VIDEO_NOT_FOUND');
    const replies = await Promise.all(
      [...byVideo].map(async ([videoId, jsons]) =>
        scripts.run('interaction-record', [keys.video(videoId).meta, ...(await this.streams.keysFor(videoId))], [...writeArgs(this.limits), ...jsons]),
      ),
    );
    for (const reply of replies) if (isScriptFailure(reply)) throw scriptFailure(reply);
  }

  async read(position: string | null, limit: number): Promise<InteractionPage> {
    const { client, keys } = this.ctx;
    const after = position === null ? new Map<string, string>() : decodePosition(position);
    const tags = await this.streams.all();
    const want = Math.max(0, Math.trunc(limit));
    if (tags.length === 0 || want === 0) return { events: [], position: encodePosition(after) };
    const each = Math.max(1, Math.ceil(want / tags.length));
    const ranges = await Promise.all(
      tags.map((tag) => {
        const from = after.get(tag);
        // an entry read in part is read again from its start, its first k events skipped
        const start = from === undefined ? '-' : from.includes('/') ? from.slice(0, from.indexOf('/')) : `(${from}`;
        return io(() => client.xrange(keys.interactionStream(tag), start, '+', 'COUNT', each));
      }),
    );
    const events: InteractionEvent[] = [];
    const next = new Map(after);
    ranges.forEach((entries, i) => {
      const tag = tags[i]!;
      const from = after.get(tag);
      for (const [id, fields] of entries) {
        const inEntry = entryEvents(fields);
        let k = from !== undefined && from.startsWith(`${id}/`) ? Number(from.slice(id.length + 1)) : 0;
        for (; k < inEntry.length; k++) {
          if (events.length >= want) {
            if (k > 0) next.set(tag, `${id}/${k}`);
            return;
          }
          events.push(inEntry[k]!);
        }
        next.set(tag, id);
      }
    });
    return { events, position: encodePosition(next) };
  }

  /** Trims whole entries: one read only in part stays until it is read through. */
  async trim(position: string): Promise<void> {
    const { keys, scripts } = this.ctx;
    await Promise.all(
      [...decodePosition(position)].map(([tag, at]) => {
        const slash = at.indexOf('/');
        const [id, through] = slash < 0 ? [at, '1'] : [at.slice(0, slash), '0'];
        return scripts.run('interaction-trim', [keys.interactionStream(tag), keys.interactionExtra(tag)], [id, through]);
      }),
    );
  }

  async deliver(consumer: string, limit: number, opts: DeliverOptions): Promise<InteractionDelivery> {
    const { keys, scripts } = this.ctx;
    const tags = await this.streams.all();
    const want = Math.max(0, Math.trunc(limit));
    if (tags.length === 0 || want === 0) return { events: [], receipt: encodeReceipt(new Map()) };
    await Promise.all(tags.filter((t) => !this.#grouped.has(t)).map((t) => this.group(t)));
    const each = Math.max(1, Math.ceil(want / tags.length));
    // per stream, the ids delivered, space-separated (as interaction-deliver packs them)
    const taken = new Map<string, string>();
    const events: InteractionEvent[] = [];
    const takeIds = (tag: string, ids: string) => {
      const before = taken.get(tag);
      taken.set(tag, before === undefined ? ids : `${before} ${ids}`);
    };
    // packed by the scripts: a stream's entry ids as one string and its events as the items of one JSON array
    const takePacked = (packed: [string, string, number][]) =>
      packed.forEach(([ids, json], i) => {
        if (ids === '') return;
        takeIds(tags[i]!, ids);
        const delivered = JSON.parse(`[${json}]`) as InteractionEvent[];
        // appended in place: a concat per stream would copy the whole delivery once per stream
        for (const e of delivered) events.push(e);
      });
    const perStream = (script: 'interaction-claim' | 'interaction-deliver', args: (string | number)[]) =>
      Promise.all(tags.map((tag) => this.grouped(tag, ['', '', 0] as [string, string, number], async () => (await scripts.run(script, [keys.interactionStream(tag)], args)) as [string, string, number])));
    if (opts.claimIdleMs !== undefined) {
      // other consumers' idle entries, whole, up to `each` events a stream; never this consumer's own
      takePacked(await perStream('interaction-claim', [EXPORT_GROUP, consumer, Math.max(0, Math.trunc(opts.claimIdleMs)), each]));
    }
    const left = want - events.length;
    if (left > 0) takePacked(await perStream('interaction-deliver', [EXPORT_GROUP, consumer, Math.max(1, Math.ceil(left / tags.length))]));
    return { events, receipt: encodeReceipt(taken) };
  }

  async ack(receipt: string): Promise<void> {
    const { keys, scripts } = this.ctx;
    await Promise.all(
      [...decodeReceipt(receipt)].map(([tag, ids]) => scripts.run('interaction-ack', [keys.interactionStream(tag), keys.interactionExtra(tag)], [EXPORT_GROUP, ids])),
    );
  }

  /** Creates the export group on a stream (from its start), unless it has one. */
  private async group(tag: string): Promise<void> {
    const { client, keys } = this.ctx;
    try {
      await client.xgroup('CREATE', keys.interactionStream(tag), EXPORT_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('BUSYGROUP'))) throw storageError(err);
    }
    this.#grouped.add(tag);
  }

  /** Runs a group command; a stream that lost its group (deleted meanwhile) reads as `empty` and gets it again next time. */
  private async grouped<T>(tag: string, empty: T, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      // a script's NOGROUP arrives translated (scripts.ts), with the server's reply as its cause
      const reply = err instanceof TremoloError ? err.cause : err;
      if (reply instanceof Error && reply.message.startsWith('NOGROUP')) {
        this.#grouped.delete(tag);
        return empty;
      }
      throw storageError(err);
    }
  }

  /** Events, not entries: each stream's entries plus its extra events, as the writers' bound counts them (interaction-lag). */
  async lag(): Promise<{ total: number; fullest: number }> {
    const { keys, scripts } = this.ctx;
    const lengths = await Promise.all(
      (await this.streams.all()).map(async (tag) => Number(await scripts.run('interaction-lag', [keys.interactionStream(tag), keys.interactionExtra(tag)], []))),
    );
    return { total: lengths.reduce((a, b) => a + b, 0), fullest: Math.max(0, ...lengths) };
  }
}

const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

/** A position in one stream: an entry id, with `/<k>` when only its first k events were read. */
const STREAM_POSITION = /^\d{1,20}-\d{1,20}(?:\/[1-9]\d{0,4})?$/;

/** Stream ids separated by single spaces, as a receipt holds them. */
const STREAM_IDS = /^\d{1,20}-\d{1,20}(?: \d{1,20}-\d{1,20})*$/;

/** Per slot tag, the ids delivered (space-separated, as interaction-ack takes them). */
const encodeReceipt = encodePairs;

function decodeReceipt(receipt: string): Map<string, string> {
  return decodePairs(receipt, 'export receipt', (value) => {
    // a list of ids is what receipts held before they were packed: still read
    const ids: unknown = Array.isArray(value) && value.every((id) => typeof id === 'string' && STREAM_ID.test(id)) ? value.join(' ') : value;
    if (ids === '') return undefined;
    if (typeof ids !== 'string' || !STREAM_IDS.test(ids)) throw new Error('not stream ids');
    return ids;
  });
}

/** Per slot tag, the last stream id read. */
const encodePosition = encodePairs;

function decodePosition(position: string): Map<string, string> {
  return decodePairs(position, 'interaction position', (value) => {
    if (typeof value !== 'string' || !STREAM_POSITION.test(value)) throw new Error('not a stream position');
    return value;
  });
}

/** Receipts and positions go out as base64url JSON lists of [slot tag, value] pairs. */
function encodePairs(pairs: ReadonlyMap<string, string>): string {
  return Buffer.from(JSON.stringify([...pairs]), 'utf8').toString('base64url');
}

/** `text` as encodePairs wrote it, each value checked by `value` (undefined: the pair is skipped); E_BAD_CURSOR naming `what` when anything is off. */
function decodePairs(text: string, what: string, value: (raw: unknown) => string | undefined): Map<string, string> {
  try {
    const pairs = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(pairs)) throw new Error('not a list');
    const map = new Map<string, string>();
    for (const pair of pairs) {
      if (!Array.isArray(pair) || typeof pair[0] !== 'string' || !/^\d{1,9}$/.test(pair[0])) throw new Error('not a slot tag');
      const checked = value(pair[1]);
      if (checked !== undefined) map.set(pair[0], checked);
    }
    return map;
  } catch (err) {
    throw new TremoloError('E_BAD_CURSOR', `The ${what} is malformed`, { cause: err });
  }
}
