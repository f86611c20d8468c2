/**
 * The OpenAPI document tells the truth. Against a real server (non-default limits), every
 * operation in its own /openapi.json gets a valid request and the requests the document
 * derives from it (missing fields, wrong types, one character too long, unknown ids, no
 * token, ...), and every answer, success or refusal, must be a status the operation
 * documents, with a body and headers matching what it documents for that status. A request
 * the document calls invalid must be refused (4xx); one it calls valid at an edge (the
 * longest title) must not be refused as malformed. The valid requests are the only thing
 * written per operation here; an operation without one fails the test.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { OpenAPIV3 } from 'openapi-types';
import type { Tremolo } from '../../src/main.ts';
import { isErrorCode } from '../../src/protocol/errors.ts';
import { mediaUrlPath } from '../../src/transport/media/routes.ts';
import { MediaSigner } from '../../src/transport/media/signing.ts';
import { makeTinyClip, tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { operationsOf, SchemaChecker, variantsOf, type Doc, type Operation, type Probe, type Schema } from '../helpers/openapi.ts';
import { newUser, startServer } from '../helpers/server.ts';

/** Limits other than the defaults, so the document can only state them by reading the configuration. */
const LIMITS = {
  HANDLE_MAX_CHARS: '20',
  TITLE_MAX_CHARS: '40',
  DESCRIPTION_MAX_CHARS: '60',
  COMMENT_MAX_CHARS: '30',
  UPLOAD_MAX_BYTES: '4096',
};

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Sends `probe` to `op` over plain HTTP/1.1 (node:http, so every header is ours to choose). */
function send(base: string, op: Operation, probe: Probe, opts: { noHost?: boolean } = {}): Promise<Answer> {
  const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(probe.path[name] ?? '').replace(/%2F/g, '/'));
  const query = new URLSearchParams(probe.query).toString();
  const headers: Record<string, string> = { ...probe.headers };
  if (probe.token !== undefined) headers.authorization = `Bearer ${probe.token}`;
  let payload: Buffer | string | undefined;
  if (probe.rawBody) {
    headers['content-type'] = probe.rawBody.type;
    payload = probe.rawBody.data;
  } else if (probe.body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(probe.body);
  }
  const url = new URL(`${path}${query ? `?${query}` : ''}`, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: op.method.toUpperCase(), headers, setHost: !opts.noHost, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer to ${op.id} within 15 s`)));
    req.end(payload);
  });
}

/** The codes a refusal is refused as malformed with: what a request the document admits must never get. */
const MALFORMED = new Set(['E_VALIDATION', 'E_BAD_JSON', 'E_UNSUPPORTED_MEDIA_TYPE']);

describe('the OpenAPI document', () => {
  let server: Tremolo;
  let dataDir: string;
  let doc: Doc;
  const checker = new SchemaChecker();

  // what the valid requests act on
  let alice: Awaited<ReturnType<typeof newUser>>;
  let bob: Awaited<ReturnType<typeof newUser>>;
  let videoId: string;
  let jobId: string;
  let finishedUploadId: string;
  /** A real video small enough for UPLOAD_MAX_BYTES: its job takes long enough to cancel. */
  let tinyClip: Buffer;
  let signer: MediaSigner;
  let seq = 0;
  const unique = (prefix: string) => `${prefix}${process.pid % 1000}x${++seq}`;

  const tus = (token: string, headers: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0', ...headers });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  /** A new upload of `length` bytes by `token`'s user; its id. */
  const newUpload = async (token: string, length = 10): Promise<string> => {
    const res = await fetch(`${server.url}/v1/uploads`, {
      method: 'POST',
      headers: tus(token, { 'upload-length': String(length), 'upload-metadata': `title ${b64('a clip')}` }),
    });
    assert.equal(res.status, 201, await res.text());
    return res.headers.get('location')!.split('/').at(-1)!;
  };
  /** Sends all of `data` as a new upload: its id and the job it started. */
  const finishedUpload = async (token: string, data: Buffer = randomBytes(10)): Promise<{ uploadId: string; jobId: string }> => {
    const uploadId = await newUpload(token, data.length);
    const res = await fetch(`${server.url}/v1/uploads/${uploadId}`, {
      method: 'PATCH',
      headers: tus(token, { 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }),
      body: new Uint8Array(data),
    });
    assert.equal(res.status, 204, await res.text());
    return { uploadId, jobId: res.headers.get('tremolo-job-id')! };
  };
  const json = async <T>(res: Response): Promise<T> => {
    const text = await res.text();
    assert.ok(res.ok, `${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  const newVideo = async (): Promise<string> =>
    (
      await json<{ id: string }>(
        await fetch(`${server.url}/v1/videos`, {
          method: 'POST',
          headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ title: 'travel diary', mediaUrl: 'https://cdn.example.org/v.mp4' }),
        }),
      )
    ).id;
  const newComment = async (): Promise<string> =>
    (
      await json<{ id: string }>(
        await fetch(`${server.url}/v1/videos/${videoId}/comments`, {
          method: 'POST',
          headers: { authorization: `Bearer ${bob.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ text: 'nice one' }),
        }),
      )
    ).id;
  const media = (rel: string): Pick<Probe, 'path' | 'query'> => {
    const url = new URL(signer.sign(mediaUrlPath(rel)), 'http://x');
    return { path: { path: rel }, query: { exp: url.searchParams.get('exp')!, sig: url.searchParams.get('sig')! } };
  };
  const probe = (p: Partial<Probe>): Probe => ({ path: {}, query: {}, headers: {}, ...p });
  /** Alice accepts messages from anyone; bob writes to her: the id of their conversation. */
  const newConversation = async (): Promise<string> => {
    const put = await fetch(`${server.url}/v1/me/dm-policy`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ policy: 'anyone' }),
    });
    assert.equal(put.status, 200, await put.text());
    const sent = await json<{ message: { conversationId: string } }>(
      await fetch(`${server.url}/v1/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bob.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ toUserId: alice.id, text: 'hello', idempotencyKey: unique('dm') }),
      }),
    );
    return sent.message.conversationId;
  };

  /**
   * One valid request per operation, by operationId: what a client would send. `fresh` ones
   * are made anew for each use (they consume what they act on).
   */
  const VALID: Record<string, () => Promise<Probe>> = {
    getLiveness: async () => probe({}),
    getReadiness: async () => probe({}),
    registerUser: async () => probe({ body: { handle: unique('reg'), password: 'correct horse', displayName: 'Someone' } }),
    createSession: async () => probe({ body: { handle: alice.handle, password: 'correct horse battery' } }),
    createVideo: async () =>
      probe({ token: alice.token, body: { title: 'A day out', description: 'by the sea', mediaUrl: 'https://cdn.example.org/day.mp4' } }),
    getVideo: async () => probe({ path: { id: videoId } }),
    deleteVideo: async () => probe({ token: alice.token, path: { id: await newVideo() } }),
    likeVideo: async () => probe({ token: bob.token, path: { id: videoId } }),
    unlikeVideo: async () => probe({ token: bob.token, path: { id: videoId } }),
    listComments: async () => probe({ path: { id: videoId }, query: { order: 'oldest', limit: '5' } }),
    addComment: async () => probe({ token: bob.token, path: { id: videoId }, body: { text: 'great', idempotencyKey: unique('key') } }),
    deleteComment: async () => probe({ token: bob.token, path: { id: await newComment() } }),
    listVideosByTag: async () => probe({ path: { tag: 'travel' }, query: { limit: '10' } }),
    getUser: async () => probe({ path: { id: alice.id } }),
    listUserVideos: async () => probe({ path: { id: alice.id } }),
    listFollowers: async () => probe({ path: { id: alice.id } }),
    listFollowing: async () => probe({ path: { id: alice.id } }),
    followUser: async () => probe({ token: bob.token, path: { id: alice.id } }),
    unfollowUser: async () => probe({ token: bob.token, path: { id: alice.id } }),
    getFollowingFeed: async () => probe({ token: bob.token, query: { limit: '20' } }),
    getHotFeed: async () => probe({}),
    getForYouFeed: async () => probe({ query: { session: 'conformance-session-01', limit: '5' } }),
    startJob: async () => probe({ token: alice.token, body: { uploadId: finishedUploadId } }),
    getJob: async () => probe({ token: alice.token, path: { id: jobId } }),
    // the job of a real (tiny) video was started a moment ago: still queued or running, so it can be cancelled
    cancelJob: async () => probe({ token: alice.token, path: { id: (await finishedUpload(alice.token, tinyClip)).jobId } }),
    getUploadCapabilities: async () => probe({}),
    createUpload: async () => probe({ token: alice.token, headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '10', 'Upload-Metadata': `title ${b64('my clip')}` } }),
    getUploadOffset: async () => probe({ token: alice.token, path: { id: await newUpload(alice.token) }, headers: { 'Tus-Resumable': '1.0.0' } }),
    appendToUpload: async () =>
      probe({
        token: alice.token,
        path: { id: await newUpload(alice.token) },
        headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0' },
        rawBody: { type: 'application/offset+octet-stream', data: randomBytes(5) },
      }),
    terminateUpload: async () => probe({ token: alice.token, path: { id: await newUpload(alice.token) }, headers: { 'Tus-Resumable': '1.0.0' } }),
    overrideUploadMethod: async () =>
      probe({
        token: alice.token,
        path: { id: await newUpload(alice.token) },
        headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'X-HTTP-Method-Override': 'PATCH' },
        rawBody: { type: 'application/offset+octet-stream', data: randomBytes(5) },
      }),
    getMedia: async () => probe(media('openapi1/video.mp4')),
    // direct messages
    listConversations: async () => {
      await newConversation();
      return probe({ token: bob.token, query: { limit: '10' } });
    },
    getConversation: async () => probe({ token: bob.token, path: { id: await newConversation() } }),
    listMessages: async () => probe({ token: alice.token, path: { id: await newConversation() }, query: { limit: '5' } }),
    sendMessage: async () => {
      const conversationId = await newConversation();
      // bob again: alice accepts anyone, bob only mutual followers
      return probe({ token: bob.token, body: { conversationId, text: 'one more', idempotencyKey: unique('dm') } });
    },
    getDmPolicy: async () => probe({ token: alice.token }),
    setDmPolicy: async () => probe({ token: alice.token, body: { policy: 'anyone' } }),
    // impressions: watch progress is rate-limited per video, and a valid request is sent more than once
    reportEvents: async () => probe({ token: bob.token, body: { events: [{ type: 'impression', videoId, feed: 'hot', position: 0 }] } }),
    getVideoAnalytics: async () => probe({ token: alice.token, path: { id: videoId }, query: { bucket: 'day' } }),
    // social depth: inbox, blocks, reports, operators (an `admin` role claim)
    listNotifications: async () => probe({ token: alice.token, query: { limit: '5' } }),
    getUnreadCount: async () => probe({ token: alice.token }),
    markNotificationsRead: async () => probe({ token: alice.token, body: {} }),
    blockUser: async () => probe({ token: alice.token, path: { id: (await newUser(server, 'ok')).id } }),
    unblockUser: async () => probe({ token: alice.token, path: { id: bob.id } }),
    listBlockedUsers: async () => probe({ token: alice.token }),
    createReport: async () => probe({ token: bob.token, body: { target: { type: 'video', id: videoId }, reason: 'spam' } }),
    listOpenReports: async () => probe({ token: await adminToken(), query: { limit: '5' } }),
    hideVideo: async () => probe({ token: await adminToken(), path: { id: await newVideo() }, body: { reason: 'spam' } }),
    restoreVideo: async () => probe({ token: await adminToken(), path: { id: videoId } }),
    hideComment: async () => probe({ token: await adminToken(), path: { id: await newComment() }, body: { reason: 'rude' } }),
    restoreComment: async () => probe({ token: await adminToken(), path: { id: await newComment() } }),
    listCommentThreads: async () => probe({ token: bob.token, path: { id: videoId }, query: { order: 'top', limit: '5' } }),
    listCommentReplies: async () => probe({ path: { id: await newComment() }, query: { limit: '5' } }),
    likeComment: async () => probe({ token: alice.token, path: { id: await newComment() } }),
    unlikeComment: async () => probe({ token: alice.token, path: { id: await newComment() } }),
    pinComment: async () => probe({ token: alice.token, path: { id: videoId }, body: { commentId: await newComment() } }),
    unpinComment: async () => probe({ token: alice.token, path: { id: videoId } }),
    favoriteVideo: async () => probe({ token: bob.token, path: { id: videoId } }),
    unfavoriteVideo: async () => probe({ token: bob.token, path: { id: videoId } }),
    getFavoriteState: async () => probe({ token: bob.token, path: { id: videoId } }),
    listFavorites: async () => probe({ token: bob.token, path: { id: bob.id }, query: { limit: '5' } }),
    getSettings: async () => probe({ token: bob.token }),
    updateSettings: async () => probe({ token: bob.token, body: { favoritesPublic: false } }),
  };

  /** A token with the `admin` role claim for alice, signed as the server signs its own. */
  const adminToken = () =>
    new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(alice.id)
      .setIssuer(server.config.jwtIssuer)
      .setAudience(server.config.jwtAudience)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(Buffer.from(server.config.jwtSecret!));

  /**
   * A valid request answered with this code is sent again (at most twice, each time made
   * anew): on a starved machine even the tiny clip's job may end before the cancel for it arrives.
   */
  const RETRY: Record<string, string> = { cancelJob: 'E_JOB_FINISHED' };

  /** More valid requests for answers a plain one does not show (ranges, playlists). */
  const EXTRA: Record<string, () => Promise<{ label: string; probe: Probe; refused?: boolean }[]>> = {
    getMedia: async () => [
      { label: 'a range', probe: probe({ ...media('openapi1/video.mp4'), headers: { range: 'bytes=0-9' } }) },
      { label: 'a range past the end', probe: probe({ ...media('openapi1/video.mp4'), headers: { range: 'bytes=99999-' } }), refused: true },
      { label: 'a playlist', probe: probe(media('openapi1/hls/master.m3u8')) },
      { label: 'a poster', probe: probe(media('openapi1/poster.jpg')) },
      { label: 'a file never served', probe: probe(media('openapi1/audio.wav')), refused: true },
    ],
    addComment: async () => {
      const again = await VALID.addComment!();
      return [
        { label: 'a first send', probe: again },
        { label: 'a retry with the same key', probe: again },
        { label: 'a reply to a comment of another video', probe: { ...again, body: { text: 'hm', replyTo: `${await newVideo()}-0APCR7RS00000` } }, refused: true },
      ];
    },
    pinComment: async () => [
      { label: "someone else's video", probe: probe({ token: bob.token, path: { id: videoId }, body: { commentId: await newComment() } }), refused: true },
    ],
    listFavorites: async () => [{ label: "someone else's private list", probe: probe({ token: alice.token, path: { id: bob.id } }), refused: true }],
    registerUser: async () => [{ label: 'a taken handle', probe: probe({ body: { handle: alice.handle, password: 'correct horse' } }), refused: true }],
    createSession: async () => [{ label: 'a wrong password', probe: probe({ body: { handle: bob.handle, password: 'wrong password' } }), refused: true }],
    deleteVideo: async () => [{ label: "someone else's video", probe: probe({ token: bob.token, path: { id: videoId } }), refused: true }],
    followUser: async () => [{ label: 'oneself', probe: probe({ token: alice.token, path: { id: alice.id } }), refused: true }],
    reportEvents: async () => [
      { label: "another user's event", probe: probe({ token: bob.token, body: { events: [{ type: 'impression', videoId, feed: 'hot', position: 0, userId: alice.id }] } }), refused: true },
      { label: 'a future-dated event', probe: probe({ token: bob.token, body: { events: [{ type: 'impression', videoId, feed: 'hot', position: 0, at: Date.now() + 86_400_000 }] } }), refused: true },
      { label: 'an anonymous session', probe: probe({ body: { sessionId: 'openapi-session', events: [{ type: 'impression', videoId, feed: 'hot', position: 1 }] } }) },
    ],
    getVideoAnalytics: async () => [{ label: "someone else's video", probe: probe({ token: bob.token, path: { id: videoId } }), refused: true }],
    cancelJob: async () => [{ label: 'a finished job', probe: probe({ token: alice.token, path: { id: jobId } }), refused: true }],
    appendToUpload: async () => {
      const id = await newUpload(alice.token);
      const tusHeaders = { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '5' };
      return [
        {
          label: 'bytes at the wrong offset',
          probe: probe({ token: alice.token, path: { id }, headers: tusHeaders, rawBody: { type: 'application/offset+octet-stream', data: randomBytes(5) } }),
          refused: true,
        },
        {
          label: 'the last bytes, with the wrong checksum',
          probe: await (async () => {
            const sha = createHash('sha256').update('abcd').digest('base64');
            const ok = await fetch(`${server.url}/v1/uploads`, {
              method: 'POST',
              headers: tus(alice.token, { 'upload-length': '4', 'upload-metadata': `title ${b64('x')},checksum ${b64(`sha256 ${sha}`)}` }),
            });
            const upload = ok.headers.get('location')!.split('/').at(-1)!;
            return probe({
              token: alice.token,
              path: { id: upload },
              headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0' },
              rawBody: { type: 'application/offset+octet-stream', data: 'abce' },
            });
          })(),
          refused: true,
        },
      ];
    },
  };

  before(async () => {
    dataDir = await tempDir('tremolo-openapi-');
    tinyClip = await readFile(await makeTinyClip(dataDir));
    assert.ok(tinyClip.length <= Number(LIMITS.UPLOAD_MAX_BYTES), `the tiny clip is ${tinyClip.length} bytes`);
    server = await startServer({ DATA_DIR: dataDir, WORKER_THREADS: '1', ...LIMITS });
    doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as Doc;
    signer = new MediaSigner({ secret: server.config.mediaSecret, ttlS: 300 });
    alice = await newUser(server, 'oa');
    bob = await newUser(server, 'ob');
    videoId = await newVideo();
    await newComment();
    ({ uploadId: finishedUploadId, jobId } = await finishedUpload(alice.token));
    // files as a transcode leaves them, and one it leaves that is never served
    const dir = join(dataDir, 'media', 'openapi1');
    await mkdir(join(dir, 'hls'), { recursive: true });
    await writeFile(join(dir, 'video.mp4'), randomBytes(2048));
    await writeFile(join(dir, 'poster.jpg'), randomBytes(64));
    await writeFile(join(dir, 'hls', 'master.m3u8'), '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\n480p/index.m3u8\n');
    await writeFile(join(dir, 'audio.wav'), randomBytes(64));
  });

  after(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Asserts that `answer` is documented for `op`: its status, content type, body and required headers. */
  function assertDocumented(op: Operation, answer: Answer, what: string): { code?: string } {
    const label = `${op.id} (${op.method.toUpperCase()} ${op.path}), ${what}`;
    const text = answer.body.toString('utf8');
    const response = op.op.responses[String(answer.status)] as OpenAPIV3.ResponseObject | undefined;
    assert.ok(response, `${label}: status ${answer.status} is not documented (body ${text.slice(0, 300)})`);
    for (const [name, h] of Object.entries(response.headers ?? {}) as [string, OpenAPIV3.HeaderObject][]) {
      if (h.required) assert.ok(answer.headers[name.toLowerCase()] !== undefined, `${label}: header ${name} is documented as always sent`);
    }
    if (op.method === 'head' || answer.status === 204 || answer.status === 304) {
      assert.equal(answer.body.length, 0, `${label}: no body`);
      return {};
    }
    const content = response.content ?? {};
    if (Object.keys(content).length === 0) {
      assert.equal(answer.body.length, 0, `${label}: ${answer.status} is documented without a body, got ${text.slice(0, 200)}`);
      return {};
    }
    const type = String(answer.headers['content-type'] ?? '').split(';')[0]!.trim();
    const media = content[type];
    assert.ok(media, `${label}: content type ${type} is not documented for ${answer.status} (documented: ${Object.keys(content).join(', ')})`);
    if (type !== 'application/json') return {};
    let body: unknown;
    assert.doesNotThrow(() => (body = JSON.parse(text)), `${label}: a JSON body, got ${text.slice(0, 200)}`);
    const problems = checker.errors(media.schema as Schema, body);
    assert.equal(problems, undefined, `${label}: the ${answer.status} body ${text.slice(0, 300)} does not match the documented schema: ${problems}`);
    const code = (body as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? { code } : {};
  }

  it('states the configured limits in its request schemas', () => {
    const ops = new Map(operationsOf(doc).map((o) => [o.id, o]));
    const bodyProp = (id: string, name: string) => ops.get(id)?.body?.json?.properties?.[name] as Schema | undefined;
    assert.equal(bodyProp('registerUser', 'handle')?.maxLength, 20);
    assert.ok(bodyProp('registerUser', 'handle')?.pattern);
    assert.equal(bodyProp('createVideo', 'title')?.maxLength, 40);
    assert.equal(bodyProp('createVideo', 'description')?.maxLength, 60);
    assert.equal(bodyProp('addComment', 'text')?.maxLength, 30);
    const length = ops.get('createUpload')?.parameters.find((p) => p.name === 'Upload-Length');
    assert.equal((length?.schema as Schema | undefined)?.maximum, 4096);
  });

  it('documents security on every operation that takes a token, and catalog codes for every refusal', () => {
    for (const op of operationsOf(doc)) {
      assert.ok(op.op.security, `${op.id} states its security`);
      assert.ok(op.op.summary && op.op.operationId, `${op.id} has a summary and an operationId`);
      for (const [status, r] of Object.entries(op.op.responses)) {
        if (Number(status) < 400) continue;
        const response = r as OpenAPIV3.ResponseObject;
        const codes = /`(E_[A-Z_]+)`/g;
        const listed = [...response.description.matchAll(codes)].map((m) => m[1]!);
        assert.ok(listed.length > 0 && listed.every(isErrorCode), `${op.id} ${status} lists catalog codes: ${response.description}`);
        if (op.method === 'head') continue;
        const schema = response.content?.['application/json']?.schema as Schema | undefined;
        assert.ok(schema, `${op.id} ${status} has a JSON body`);
        for (const code of listed) {
          const body = { error: { code, message: 'm' } };
          assert.equal(checker.errors(schema, body), undefined, `${op.id} ${status} admits ${code}`);
        }
        assert.notEqual(checker.errors(schema, { error: { code: 'E_NOT_A_CODE', message: 'm' } }), undefined, `${op.id} ${status} admits only its codes`);
      }
    }
  });

  it('answers every operation as documented, for valid requests and for the invalid ones the document derives', async (t) => {
    const ops = operationsOf(doc);
    const missing = ops.filter((o) => !VALID[o.id]).map((o) => o.id);
    assert.deepEqual(missing, [], 'every documented operation has a valid request here');
    const failures: string[] = [];
    const checked: string[] = [];
    const attempt = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    for (const op of ops) {
      const seen = { accepted: 0, refused: 0 };
      const valid = VALID[op.id]!;

      await attempt(`${op.id} valid`, async () => {
        let answer: Answer;
        for (let tries = 1; ; tries++) {
          const p = await valid();
          assert.deepEqual(checker.requestProblems(op, p), [], `${op.id}: the valid request is valid by the document`);
          answer = await send(server.url, op, p);
          const { code } = assertDocumented(op, answer, 'a valid request');
          if (answer.status < 300 || tries === 3 || code === undefined || RETRY[op.id] !== code) break;
        }
        assert.ok(answer.status < 300, `${op.id}: a valid request answered ${answer.status} ${answer.body.toString().slice(0, 200)}`);
        seen.accepted++;
      });

      for (const extra of (await EXTRA[op.id]?.()) ?? []) {
        await attempt(`${op.id} ${extra.label}`, async () => {
          const answer = await send(server.url, op, extra.probe);
          assertDocumented(op, answer, extra.label);
          if (extra.refused) {
            assert.ok(answer.status >= 400 && answer.status < 500, `${op.id}, ${extra.label}: refused, got ${answer.status}`);
            seen.refused++;
          } else {
            assert.ok(answer.status < 300, `${op.id}, ${extra.label}: accepted, got ${answer.status} ${answer.body.toString().slice(0, 200)}`);
          }
        });
      }

      const base = await valid();
      for (const variant of variantsOf(op, base)) {
        // only what the document itself says: a variant it does not judge as expected is not a test of it
        const documentSays = checker.requestProblems(op, variant.probe).length === 0;
        if (documentSays !== variant.valid) continue;
        await attempt(`${op.id} ${variant.label}`, async () => {
          const answer = await send(server.url, op, variant.probe);
          const { code } = assertDocumented(op, answer, variant.label);
          checked.push(`${variant.label}: ${answer.status}${code ? ` ${code}` : ''}`);
          if (variant.valid) {
            assert.ok(!(code && MALFORMED.has(code)), `${op.id}, ${variant.label}: the document admits it, the server refused it as ${code}`);
          } else {
            assert.ok(answer.status >= 400 && answer.status < 500, `${op.id}, ${variant.label}: the document refuses it, the server answered ${answer.status}`);
            seen.refused++;
          }
        });
      }

      await attempt(`${op.id} without Host`, async () => {
        const answer = await send(server.url, op, base, { noHost: true });
        assertDocumented(op, answer, 'an HTTP/1.1 request without Host');
        assert.equal(answer.status, 400);
        seen.refused++;
      });
      t.diagnostic(`${op.id}: ${seen.accepted} accepted, ${seen.refused} refused (${checked.splice(0).join('; ')})`);
      if (seen.accepted === 0 || seen.refused === 0) failures.push(`${op.id}: accepted ${seen.accepted}, refused ${seen.refused}`);
    }
    assert.deepEqual(failures, []);
  });

  it("answers a draining server's requests as documented (503 E_SHUTTING_DOWN, also on the health probes)", async () => {
    const ops = new Map(operationsOf(doc).map((o) => [`${o.method} ${o.path}`, o]));
    for (const path of ['/readyz', '/healthz']) {
      const answer = await answerWhileDraining(path);
      assert.equal(answer.status, 503, `${path}: ${answer.status} ${answer.body.toString()}`);
      const { code } = assertDocumented(ops.get(`get ${path}`)!, answer, 'a request while draining');
      assert.equal(code, 'E_SHUTTING_DOWN');
    }
  });

  it('never rate-limits the health probes, as documented (no 429), whatever their query string', async () => {
    const limited = await startServer({ DATA_DIR: dataDir, RATE_IP_PER_MIN: '1' });
    try {
      const ops = new Map(operationsOf(doc).map((o) => [`${o.method} ${o.path}`, o]));
      assert.equal((await fetch(`${limited.url}/v1/feed/hot`)).status, 200);
      assert.equal((await fetch(`${limited.url}/v1/feed/hot`)).status, 429);
      for (const path of ['/healthz', '/readyz']) {
        const op = ops.get(`get ${path}`)!;
        assert.ok(!op.op.responses['429'], `${path} documents no 429`);
        const answer = await send(limited.url, op, { path: {}, query: { probe: 'k8s' }, headers: {} });
        assertDocumented(op, answer, 'a probe with a query string from a limited address');
        assert.equal(answer.status, 200);
      }
    } finally {
      await limited.close();
    }
  });

  /** The answer to `GET path` arriving on an open connection while a server shuts down. */
  async function answerWhileDraining(path: string): Promise<Answer> {
    const draining = await startServer({ DATA_DIR: dataDir });
    const { hostname, port } = new URL(draining.url);
    const socket = connect(Number(port), hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    let text = '';
    let onText = () => {};
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      onText();
    });
    const closed = new Promise((resolve) => socket.once('close', resolve));
    // a request whose body is still to come keeps the connection open through close();
    // "100 Continue" says the server has it
    const body = JSON.stringify({ handle: 'somebody', password: '12345678' });
    const continued = new Promise<void>((resolve) => (onText = () => /100 Continue/.test(text) && resolve()));
    socket.write(`POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    await continued;
    const closing = draining.close();
    socket.write(`${body}GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await Promise.all([closed, closing]);
    const last = text.split(/(?=HTTP\/1\.1 \d\d\d )/).at(-1)!;
    const split = last.indexOf('\r\n\r\n');
    const headers: Record<string, string> = {};
    for (const line of last.slice(0, split).split('\r\n').slice(1)) headers[line.slice(0, line.indexOf(':')).toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
    return { status: Number(last.split(' ')[1]), headers, body: Buffer.from(last.slice(split + 4)) };
  }
});
