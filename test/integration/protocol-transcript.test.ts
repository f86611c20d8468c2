/**
 * The worked session of docs/protocol.md, played against a real server by clients that speak
 * the Engine.IO 4 / Socket.IO 5 text protocol by hand over a bare WebSocket, as a client in
 * another language would: if the page's frames stop matching what the server really sends
 * (an event renamed, a field added or dropped), this fails.
 *
 * `TRANSCRIPT_OUT=<file>` writes the session as captured, to paste into the page.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import type { Tremolo } from '../../src/main.ts';
import { eventually, newUser, startServer } from '../helpers/server.ts';

interface Frame {
  who: string;
  dir: '->' | '<-';
  text: string;
}

/** One hand-written client: every frame it sends and receives goes into the shared log. */
class RawClient {
  private readonly inbox: string[] = [];
  private readonly ws: WebSocket;
  private ackId = 0;

  constructor(
    url: string,
    private readonly who: string,
    private readonly log: Frame[],
  ) {
    this.ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
    this.ws.on('message', (data: Buffer) => {
      const text = data.toString();
      this.log.push({ who: this.who, dir: '<-', text });
      if (text === '2') this.send('3'); // Engine.IO ping: answer with a pong
      else this.inbox.push(text);
    });
  }

  send(text: string): void {
    this.log.push({ who: this.who, dir: '->', text });
    this.ws.send(text);
  }

  /** The first received frame (not yet taken) that `match` accepts, removed from the inbox. */
  async take(match: (text: string) => boolean, what: string): Promise<string> {
    await eventually(() => this.inbox.some(match), `${this.who}: ${what}`);
    const i = this.inbox.findIndex(match);
    return this.inbox.splice(i, 1)[0]!;
  }

  /** Opens the Socket.IO session: the Engine.IO open packet, then CONNECT with `auth`. */
  async connect(auth?: object): Promise<string> {
    await this.take((t) => t.startsWith('0{'), 'Engine.IO open');
    this.send(auth ? `40${JSON.stringify(auth)}` : '40');
    return this.take((t) => t.startsWith('40') || t.startsWith('44'), 'CONNECT answer');
  }

  /** Emits an event with an ack id and returns the ack's argument. */
  async request(event: string, payload: unknown): Promise<Record<string, unknown>> {
    const id = this.ackId++;
    this.send(`42${id}${JSON.stringify([event, payload])}`);
    const ack = await this.take((t) => t.startsWith(`43${id}[`), `ack ${id} of ${event}`);
    return (JSON.parse(ack.slice(2 + String(id).length)) as [Record<string, unknown>])[0];
  }

  /** The next server event `name` whose payload `match` accepts (any, by default). */
  async event(name: string, match: (payload: unknown) => boolean = () => true): Promise<unknown> {
    const prefix = `42["${name}",`;
    const payloadOf = (t: string) => (JSON.parse(t.slice(2)) as [string, unknown])[1];
    const frame = await this.take((t) => t.startsWith(prefix) && match(payloadOf(t)), name);
    return payloadOf(frame);
  }

  close(): void {
    this.ws.close();
  }
}

/** A value's shape: what a client decodes, without the values (ids, times, counts). */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return [...new Set(v.map((x) => JSON.stringify(shape(x))))].sort();
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, shape((v as Record<string, unknown>)[k])]),
    );
  }
  return v === null ? 'null' : typeof v;
}

/** A frame's identity and shape: packet type (and event name), then the shape of its JSON. */
function frameKey(f: Frame): string {
  const m = /^(\d+)(.*)$/s.exec(f.text);
  if (!m) return `${f.dir} ${f.text}`;
  const body = m[2]!;
  const type = m[1]!.slice(0, 2);
  if (!body) return `${f.dir} ${type}`;
  const json: unknown = JSON.parse(body);
  // an event is `42` (or `42<ack id>`) and its name; the ack id's value is not part of the shape
  const name = type === '42' && Array.isArray(json) ? String(json[0]) : '';
  return `${f.dir} ${type} ${name} ${JSON.stringify(shape(json))}`;
}

const render = (frames: Frame[]) => frames.map((f) => `${f.who} ${f.dir} ${f.text}`).join('\n');

describe('the worked session in docs/protocol.md', () => {
  let server: Tremolo;
  const log: Frame[] = [];
  const clients: RawClient[] = [];
  const client = (who: string) => {
    const c = new RawClient(server.url, who, log);
    clients.push(c);
    return c;
  };

  before(async () => {
    server = await startServer({ LIVE_ALLOW_ANONYMOUS: 'true' });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
  });

  it('plays the session over a bare WebSocket and the page shows the frames the server sends', async () => {
    const alice = await newUser(server, 'alice');
    const bob = await newUser(server, 'bob');
    const video = await alice.http.createVideo({ title: 'hello' });

    // Bob connects and watches Alice's video: the ack holds the snapshot
    const b = client('B');
    assert.match(await b.connect({ token: bob.token }), /^40\{"sid":"[^"]+"\}$/);
    const watched = await b.request('video:watch', { videoId: video.id });
    assert.equal(watched.ok, true);
    const snapshot = watched.snapshot as { offset: number; epoch: string };

    // Alice likes it and comments: acks after the write is durable, events to Bob
    const a = client('A');
    await a.connect({ token: alice.token });
    const liked = await a.request('video:like', { videoId: video.id });
    assert.equal(liked.ok, true);
    assert.equal(liked.changed, true);
    // coalesced: the like's counters may come with the next interval, with the newest values
    const counters = (await b.event('video:counters', (c) => (c as { likes: number }).likes === 1)) as { version: number };
    assert.ok(counters.version >= (liked.counters as { version: number }).version);
    const comment = { videoId: video.id, text: 'first!', idempotencyKey: 'c-1' };
    const added = await a.request('comment:add', comment);
    assert.equal(added.duplicate, false);
    const [event] = (await b.event('comment:added')) as [{ offset: number; prev: number; comment: { id: string } }];
    // the ack's offset is the log's head after the write: the comment event and its counters
    assert.ok(event!.offset <= (added.offset as number));
    assert.equal(event!.comment.id, (added.comment as { id: string }).id);

    // A retry with the same idempotency key is stored once and answers the original
    const retried = await a.request('comment:add', comment);
    assert.equal(retried.duplicate, true);
    assert.deepEqual(retried.comment, added.comment);

    // Refusals are failed acks with a catalog code; the socket stays open
    const invalid = await a.request('video:like', { videoId: 'nope' });
    assert.equal(invalid.ok, false);
    assert.equal(invalid.code, 'E_VALIDATION');
    assert.equal(typeof invalid.message, 'string');
    const unknown = await a.request('video:explode', {});
    assert.equal(unknown.code, 'E_UNKNOWN_EVENT');

    // Bob follows Alice: a notification to every socket of Alice's
    assert.deepEqual(await b.request('user:follow', { userId: alice.id }), { ok: true, changed: true });
    const note = (await a.event('user:notification')) as { type: string; followerId: string };
    assert.equal(note.type, 'user:followed');
    assert.equal(note.followerId, bob.id);

    // Bob loses his connection; on a new one he watches from the offset he last held and
    // gets exactly what he missed in the ack
    b.close();
    const missed = await a.request('comment:add', { videoId: video.id, text: 'second', idempotencyKey: 'c-2' });
    const b2 = client('B');
    await b2.connect({ token: bob.token });
    const rewatched = await b2.request('video:watch', { videoId: video.id, sinceOffset: event!.offset, epoch: snapshot.epoch });
    assert.equal(rewatched.recovered, true);
    const events = rewatched.events as { type: string; offset: number; comment?: { id: string } }[];
    assert.deepEqual(
      events.filter((e) => e.type === 'comment:added').map((e) => e.comment!.id),
      [(missed.comment as { id: string }).id],
    );
    assert.ok(events.every((e) => e.offset > event!.offset && e.offset <= (missed.offset as number)));

    // An anonymous socket may watch, not write; a bad token is refused at the handshake
    const anon = client('C');
    await anon.connect();
    assert.equal((await anon.request('video:like', { videoId: video.id })).code, 'E_TOKEN_MISSING');
    const refused = client('D');
    assert.deepEqual(JSON.parse((await refused.connect({ token: 'not-a-token' })).slice(2)), {
      message: 'The access token is malformed or its signature is wrong',
      data: { code: 'E_TOKEN_INVALID' },
    });

    const out = process.env.TRANSCRIPT_OUT;
    if (out) writeFileSync(out, render(log) + '\n');

    // Every frame the page shows matches, in kind and shape, a frame this session really had
    const page = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
    const block = /<!-- transcript:start -->\n```text\n([\s\S]*?)```\n<!-- transcript:end -->/.exec(page);
    assert.ok(block, 'docs/protocol.md has a transcript block');
    const documented = block[1]!
      .split('\n')
      .filter((line) => /^[A-Z] (->|<-) /.test(line))
      .map((line): Frame => ({ who: line[0]!, dir: line.slice(2, 4) as Frame['dir'], text: line.slice(5) }));
    assert.ok(documented.length >= 20, 'the transcript shows the session');
    const real = new Set(log.map((f) => `${f.who} ${frameKey(f)}`));
    for (const f of documented) {
      assert.ok(real.has(`${f.who} ${frameKey(f)}`), `no frame of this shape in a real session: ${f.who} ${f.dir} ${f.text.slice(0, 160)}`);
    }
  });

  it('answers each event with the codes docs/protocol.md gives it', async () => {
    const alice = await newUser(server, 'alice');
    const bob = await newUser(server, 'bob');
    const video = await alice.http.createVideo({ title: 'codes' });
    const unknownId = '0000000000000'; // a well-formed id of nothing
    const scratch: Frame[] = [];
    const a = new RawClient(server.url, 'A', scratch);
    const b = new RawClient(server.url, 'B', scratch);
    clients.push(a, b);
    await a.connect({ token: alice.token });
    await b.connect({ token: bob.token });
    const code = async (c: RawClient, event: string, payload: unknown) => (await c.request(event, payload)).code;

    assert.equal(await code(b, 'video:watch', { videoId: unknownId }), 'E_VIDEO_NOT_FOUND');
    assert.equal(await code(b, 'video:like', { videoId: unknownId }), 'E_VIDEO_NOT_FOUND');
    assert.equal(await code(b, 'video:watch', { videoId: video.id, epoch: '' }), 'E_VALIDATION');
    assert.equal(await code(b, 'video:watch', { videoId: video.id, sinceOffset: -1 }), 'E_VALIDATION');
    assert.deepEqual(await b.request('video:unwatch', { videoId: video.id }), { ok: true, videoId: video.id });
    assert.equal((await b.request('video:unlike', { videoId: video.id })).changed, false);

    const added = await a.request('comment:add', { videoId: video.id, text: 'mine', idempotencyKey: 'k' });
    const commentId = (added.comment as { id: string }).id;
    const other = await alice.http.createVideo({ title: 'other' });
    const otherComment = await a.request('comment:add', { videoId: other.id, text: 'there', idempotencyKey: 'k' });
    const foreignReply = { videoId: video.id, text: 'reply', idempotencyKey: 'r', replyTo: (otherComment.comment as { id: string }).id };
    assert.equal(await code(b, 'comment:add', foreignReply), 'E_REPLY_TARGET');
    assert.equal(await code(b, 'comment:add', { videoId: video.id, text: '\u200b', idempotencyKey: 'z' }), 'E_VALIDATION');
    assert.equal(await code(b, 'comment:delete', { commentId }), 'E_FORBIDDEN');
    assert.equal(await code(b, 'comment:delete', { commentId: `${video.id}-${unknownId}` }), 'E_COMMENT_NOT_FOUND');
    assert.deepEqual(await a.request('comment:delete', { commentId }), { ok: true, deleted: true });

    assert.equal(await code(b, 'user:follow', { userId: bob.id }), 'E_SELF_FOLLOW');
    assert.equal(await code(b, 'user:follow', { userId: unknownId }), 'E_USER_NOT_FOUND');
    assert.deepEqual(await b.request('user:unfollow', { userId: alice.id }), { ok: true, changed: false });
  });
});
