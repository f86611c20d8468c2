/**
 * Every Redis key the driver uses is built here, and nowhere else.
 *
 * Keys of one entity share a Redis Cluster hash tag (the part in braces), so every
 * script touches one slot: `v:{id}:*` for a video, `u:{id}:*` for a user, `{jobs}:*`
 * for all job records (the claim script scans them together), `up:{id}*` for a user's
 * upload quota. Cross-entity indexes
 * (handle -> user, tag -> videos, the hot ranking) live in their own slots and are
 * written as separate, idempotent steps.
 *
 * | key                         | type   | content                                              |
 * |-----------------------------|--------|------------------------------------------------------|
 * | u:{uid}                     | hash   | id, handle, displayName, bio, createdAt, passwordHash |
 * | u:{uid}:followers           | zset   | follower ids, score 0 (lex = sign-up order)          |
 * | u:{uid}:following           | zset   | followed ids, score 0                                |
 * | u:{uid}:videos              | zset   | the user's video ids (outbox), score 0               |
 * | u:{uid}:inbox               | zset   | `${videoId}:${authorId}`, score 0, capped            |
 * | u:{sid}:rec:interests       | hash   | feature -> `<weight>:<ms when set>` (decayed on read)|
 * | u:{sid}:rec:seen            | zset   | video id -> last shown (ms); TTL, capped             |
 * | u:{sid}:rec:engaged         | list   | recent liked/finished video ids, newest first, capped|
 * | u:{sid}:rec:similar         | zset   | co-engaged video id -> score, capped                 |
 * |                             |        | (sid: a user id, or `~s:<session>` for anonymous)    |
 * | h:{handle}                  | string | user id (handle lower-cased)                         |
 * | v:{vid}:meta                | hash   | record, tagging, owner, views, version, head,        |
 * |                             |        | lastComment (offset of newest comment event),        |
 * |                             |        | epoch, epochStart (head when the epoch began)        |
 * | v:{vid}:likers:<n>          | set    | likers bucket n (lua/includes/likers.lua): user ids  |
 * |                             |        | as decimal integers (intsets); meta `likes` counts   |
 * | v:{vid}:likers              | set    | likers before the buckets (13-char ids), until       |
 * |                             |        | migrated (RedisStore.migrateLikers)                  |
 * | v:{vid}:viewers             | zset   | user id -> last counted view (ms)                    |
 * | v:{vid}:comments            | hash   | comment id -> comment JSON                           |
 * | v:{vid}:comment-authors     | hash   | comment id -> author id                              |
 * | v:{vid}:comment-order       | zset   | comment ids, score 0; comments = ZCARD               |
 * | v:{vid}:idempotency         | hash   | `${authorId}:${key}` -> comment id                   |
 * | v:{vid}:log                 | stream | events, id `<offset>-1`, MAXLEN eventLogMax          |
 * | v:{vid}:comment-info        | hash   | comment id -> `<createdMs>` (top-level) or           |
 * |                             |        | `<createdMs>:<threadId>` (a reply)                   |
 * | v:{vid}:threads             | zset   | score 0: `t:<commentId>` per top-level comment,      |
 * |                             |        | `r:<threadId>:<replyId>` per reply                   |
 * | v:{vid}:comment-likes       | zset   | score 0: `<commentId>:<userId>`; likes = ZLEXCOUNT   |
 * | v:{vid}:comment-top         | zset   | top-level comment id -> `top` score                  |
 * | v:{vid}:comment-top:<token> | list   | a frozen `top` ranking (comment ids), EXPIRE         |
 * | v:{vid}:favoriters          | set    | ids of users who keep the video; favorites = SCARD   |
 * |                             |        | (meta field `pinned`: the pinned comment id)         |
 * | u:{uid}:favorites           | zset   | score 0: `<at>:<videoId>` (at: TSID of saving)       |
 * | u:{uid}:favorite-members    | hash   | video id -> its member in u:{uid}:favorites          |
 * | u:{uid}:settings            | hash   | favoritesPublic: '1' when the list is public         |
 * | t:{tag}                     | zset   | video ids, score 0                                   |
 * | v:{vid}:engagers            | list   | recent subjects who liked/finished it, capped        |
 * | hot                         | zset   | video id -> hot score                                |
 * | {rec}:fresh                 | zset   | exploration pool: video id -> impressions            |
 * | {rec}:fresh-ids             | zset   | the same ids, score 0 (lex = age, for trimming)      |
 * | {fanout}:queue              | stream | fan-out entries (v video, a author, at ms), group    |
 * |                             |        | `fanout`; XDEL when done, so XLEN = waiting          |
 * | {fanout}:cursors            | hash   | entry id -> follower cursor its fan-out reached      |
 * | {jobs}:job:<id>             | hash   | one job record, field per property                   |
 * | {jobs}:active               | zset   | ids of jobs not in a final stage, score 0            |
 * | up:{uid}                    | hash   | upload id -> bytes reserved of the user's quota      |
 * | up:{uid}:used               | string | the sum of up:{uid}'s values                         |
 * | up:{uid}:videos:<uploadId>  | set    | ids of videos showing media made from the upload     |
 * | rl:<name>:<key>             | string | a rate-limit counter (rate-limiter-flexible), TTL    |
 * | c:{cid}:meta                | hash   | id, kind, members (JSON), head, epoch, epochStart,   |
 * |                             |        | activity (ms), lastMessage (seq)                     |
 * | c:{cid}:members             | hash   | user id -> receipts/unread/muted JSON                |
 * | c:{cid}:log                 | stream | entries, id `<seq>-1`, MAXLEN dmLogMax               |
 * | c:{cid}:idem                | zset   | `${senderId}:${key}` -> seq                          |
 * | c:{cid}:deleted             | zset   | seqs of messages deleted for everyone                |
 * | u:{uid}:dms                 | zset   | conversation id -> last activity (ms)                |
 * | u:{uid}:dm-policy           | string | anyone, mutual (default when absent) or nobody       |
 * | ix:{<slot tag>}             | stream | interaction events of every entity in that slot      |
 * |                             |        | (slots.ts), field `e` = event JSON; bounded by       |
 * |                             |        | EXPORT_MAX_LAG, trimmed by the exporter              |
 * | ix:streams                  | set    | slot tags of the ix streams ever written (<= 16384)  |
 * | u:{uid}:notes               | zset   | inbox entry ids by update sequence (newest highest)  |
 * | u:{uid}:notes:data          | hash   | entry id -> entry JSON; `<id>:n` -> latest notification JSON |
 * | u:{uid}:notes:agg           | hash   | `<type>|<target>` -> id of the entry taking them now |
 * | u:{uid}:notes:unread        | set    | unread entry ids; unread = SCARD                     |
 * | u:{uid}:notes:seq           | string | the inbox's update sequence (INCR)                   |
 * | u:{uid}:blocks              | zset   | ids the user blocks, score 0                         |
 * | u:{uid}:blocked-by          | zset   | ids blocking the user, score 0 (follows check it)    |
 * | {mod}:reports               | zset   | open report ids, score 0 (lex = filing order)        |
 * | {mod}:report-data           | hash   | report id -> report JSON                             |
 * | {mod}:report-dedup          | hash   | `<reporterId>|<target>` -> open report id            |
 * | {mod}:target:<target>       | set    | open report ids on one target (`video:<id>`, ...)    |
 * | {mod}:hidden                | hash   | `<type>:<id>` -> why it is hidden (JSON)             |
 *
 * Pub/sub channels (not keys, but named the same way so deployments sharing a Redis
 * stay apart):
 *
 * | channel                     | carries                                              |
 * |-----------------------------|------------------------------------------------------|
 * | invalidate                  | `<sender>|<cache key>`: drop a cached read           |
 * | socket.io*                  | Socket.IO's Redis adapter (rooms across processes)   |
 */

import { SlotTags } from './slots.ts';

/** The per-video keys, in the order every video script declares them as KEYS. */
export interface VideoKeys {
  meta: string;
  likers: string;
  viewers: string;
  comments: string;
  commentAuthors: string;
  commentOrder: string;
  idempotency: string;
  log: string;
}

/** The per-conversation keys, in the order conversation-apply declares them as KEYS. */
export interface ConversationKeys {
  meta: string;
  members: string;
  log: string;
  idempotency: string;
  deleted: string;
}

/** Per-video keys of comment threads, in the order video-apply declares them after VideoKeys. */
export interface CommentKeys {
  info: string;
  threads: string;
  likes: string;
  top: string;
}

export class RedisKeys {
  readonly #slotTags = new SlotTags();

  constructor(readonly prefix: string) {
    if (typeof prefix !== 'string') throw new TypeError('prefix must be a string');
    // a brace in the prefix would become the hash tag and put every key in one slot
    if (/[{}]/.test(prefix)) throw new RangeError(`prefix must not contain braces: ${JSON.stringify(prefix)}`);
  }

  // ------------------------------------------------------------ users

  user(id: string): string {
    return `${this.prefix}u:{${id}}`;
  }

  followers(id: string): string {
    return `${this.user(id)}:followers`;
  }

  following(id: string): string {
    return `${this.user(id)}:following`;
  }

  userVideos(id: string): string {
    return `${this.user(id)}:videos`;
  }

  inbox(id: string): string {
    return `${this.user(id)}:inbox`;
  }

  // ------------------------------------------------------------ social: inbox, blocks (user slot)

  /** The user's inbox keys, in the order inbox-add declares them (then the user's blocks). */
  notes(id: string): { order: string; data: string; agg: string; unread: string; seq: string } {
    const base = `${this.user(id)}:notes`;
    return { order: base, data: `${base}:data`, agg: `${base}:agg`, unread: `${base}:unread`, seq: `${base}:seq` };
  }

  blocks(id: string): string {
    return `${this.user(id)}:blocks`;
  }

  blockedBy(id: string): string {
    return `${this.user(id)}:blocked-by`;
  }

  // ------------------------------------------------------------ moderation (one slot: low volume)

  moderation(): { reports: string; data: string; dedup: string; hidden: string } {
    const base = `${this.prefix}{mod}`;
    return { reports: `${base}:reports`, data: `${base}:report-data`, dedup: `${base}:report-dedup`, hidden: `${base}:hidden` };
  }

  /** Open report ids on one target (`video:<id>`, ...). */
  targetReports(target: string): string {
    return `${this.prefix}{mod}:target:${target}`;
  }

  /** `normalizedHandle` is already lower-cased. */
  handle(normalizedHandle: string): string {
    return `${this.prefix}h:{${normalizedHandle}}`;
  }

  // ------------------------------------------------------------ fan-out queue (one slot)

  /** The durable fan-out queue and its cursors, under one hash tag so each script is one slot. */
  fanout(): { queue: string; cursors: string } {
    const base = `${this.prefix}{fanout}`;
    return { queue: `${base}:queue`, cursors: `${base}:cursors` };
  }

  // ------------------------------------------------------------ videos

  video(id: string): VideoKeys {
    const base = `${this.prefix}v:{${id}}`;
    return {
      meta: `${base}:meta`,
      likers: `${base}:likers`,
      viewers: `${base}:viewers`,
      comments: `${base}:comments`,
      commentAuthors: `${base}:comment-authors`,
      commentOrder: `${base}:comment-order`,
      idempotency: `${base}:idempotency`,
      log: `${base}:log`,
    };
  }

  /**
   * A SCAN pattern for the likers sets of the layout before the buckets (`v:{id}:likers`;
   * a bucket is `v:{id}:likers:<n>`), and the video id of a key it finds.
   */
  legacyLikers(): { pattern: string; videoId: (key: string) => string | null } {
    const head = `${this.prefix}v:{`;
    const tail = '}:likers';
    return {
      pattern: `${head.replace(/[*?[\]\\]/g, '\\$&')}*${tail}`,
      videoId: (key) => (key.startsWith(head) && key.endsWith(tail) ? key.slice(head.length, -tail.length) : null),
    };
  }

  /** All per-video keys in KEYS order (video-create, video-apply, video-delete). */
  videoAll(id: string): string[] {
    const k = this.video(id);
    return [k.meta, k.likers, k.viewers, k.comments, k.commentAuthors, k.commentOrder, k.idempotency, k.log];
  }

  /** Threads, comment likes and the `top` ranking of a video's comments (video-apply's KEYS 9-12). */
  comments(id: string): CommentKeys {
    const base = `${this.prefix}v:{${id}}`;
    return { info: `${base}:comment-info`, threads: `${base}:threads`, likes: `${base}:comment-likes`, top: `${base}:comment-top` };
  }

  /** One frozen `top` ranking of a video's comments (same slot as the video). */
  commentTopSnapshot(id: string, token: string): string {
    return `${this.comments(id).top}:${token}`;
  }

  favoriters(id: string): string {
    return `${this.prefix}v:{${id}}:favoriters`;
  }

  userFavorites(id: string): string {
    return `${this.user(id)}:favorites`;
  }

  userFavoriteMembers(id: string): string {
    return `${this.user(id)}:favorite-members`;
  }

  userSettings(id: string): string {
    return `${this.user(id)}:settings`;
  }

  tag(tag: string): string {
    return `${this.prefix}t:{${tag}}`;
  }

  hot(): string {
    return `${this.prefix}hot`;
  }

  // ------------------------------------------------------------ recommendations

  /** A subject's keys share the user hash tag: one slot per user (or anonymous session). */
  recommendations(subject: string): { interests: string; seen: string; engaged: string; similar: string } {
    const base = `${this.user(subject)}:rec`;
    return { interests: `${base}:interests`, seen: `${base}:seen`, engaged: `${base}:engaged`, similar: `${base}:similar` };
  }

  engagers(videoId: string): string {
    return `${this.prefix}v:{${videoId}}:engagers`;
  }

  freshPool(): string {
    return `${this.prefix}{rec}:fresh`;
  }

  freshIds(): string {
    return `${this.prefix}{rec}:fresh-ids`;
  }

  // ------------------------------------------------------------ jobs

  /** Job hashes are `jobPrefix() + id`; the claim script builds them from this prefix. */
  jobPrefix(): string {
    return `${this.prefix}{jobs}:job:`;
  }

  job(id: string): string {
    return `${this.jobPrefix()}${id}`;
  }

  activeJobs(): string {
    return `${this.prefix}{jobs}:active`;
  }

  // ------------------------------------------------------------ uploads (quota)

  /** Upload id -> reserved bytes, for one user. */
  reservations(userId: string): string {
    return `${this.prefix}up:{${userId}}`;
  }

  reservedBytes(userId: string): string {
    return `${this.reservations(userId)}:used`;
  }

  uploadVideos(userId: string, uploadId: string): string {
    return `${this.reservations(userId)}:videos:${uploadId}`;
  }

  /** One upload's lock (a token, SET NX PX); its siblings share the upload's hash tag. */
  uploadLock(uploadId: string): string {
    return `${this.prefix}upl:{${uploadId}}:lock`;
  }

  /** Set while another request waits for the upload's lock (its holder sees it on renewal). */
  uploadUnlockRequest(uploadId: string): string {
    return `${this.prefix}upl:{${uploadId}}:unlock`;
  }

  /** The job that processes the upload (SET NX: of two racing starts one wins). */
  uploadJob(uploadId: string): string {
    return `${this.prefix}upl:{${uploadId}}:job`;
  }

  // ------------------------------------------------------------ conversations (direct messages)

  /** One hash tag per conversation: every conversation script touches one slot. */
  conversation(id: string): ConversationKeys {
    const base = `${this.prefix}c:{${id}}`;
    return { meta: `${base}:meta`, members: `${base}:members`, log: `${base}:log`, idempotency: `${base}:idem`, deleted: `${base}:deleted` };
  }

  /** A user's conversations by last activity (in the user's slot). */
  userConversations(userId: string): string {
    return `${this.user(userId)}:dms`;
  }

  dmPolicy(userId: string): string {
    return `${this.user(userId)}:dm-policy`;
  }

  // ------------------------------------------------------------ the behaviour log

  /** The slot tag of the interaction stream that shares `hashTag`'s slot (a video id, a user id, `jobs`). */
  interactionTag(hashTag: string): string {
    return this.#slotTags.sameSlotAs(hashTag);
  }

  /** The interaction stream of one slot tag. */
  interactionStream(slotTag: string): string {
    return `${this.prefix}ix:{${slotTag}}`;
  }

  /** How many events the interaction stream of `slotTag` keeps beyond one per entry (lua/includes/interaction-room.lua). */
  interactionExtra(slotTag: string): string {
    return `${this.prefix}ix:{${slotTag}}:extra`;
  }

  /** The set of slot tags whose streams were ever written: how an exporter finds them. */
  interactionStreams(): string {
    return `${this.prefix}ix:streams`;
  }

  // ------------------------------------------------------------ beside the Store

  /** The key prefix of one rate limiter's counters (the limiter appends `:<key>`). */
  rateLimit(name: string): string {
    return `${this.prefix}rl:${name}`;
  }

  /** The pub/sub channel of cache invalidations between processes. */
  invalidation(): string {
    return `${this.prefix}invalidate`;
  }

  /** The channel (prefix) of the Socket.IO Redis adapter. */
  socketIo(): string {
    return `${this.prefix}socket.io`;
  }
}
