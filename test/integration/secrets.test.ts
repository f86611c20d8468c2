/**
 * Issue 13, finding 1: no built-in secrets. The attack: with the published default
 * secrets anyone could sign a token for any user and a media URL for any path. Now an
 * unset secret is random per process (memory store, not production, with a warning), and
 * production or Redis refuse to start without one.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { Tremolo } from '../../src/main.ts';
import { MediaSigner } from '../../src/transport/media/signing.ts';
import { tempDir } from '../helpers/ffmpeg-fixtures.ts';
import { spawnServer } from '../helpers/process.ts';
import { REDIS_URL } from '../helpers/redis.ts';
import { newUser, startServer } from '../helpers/server.ts';

/** The literals tremolo once shipped as defaults (anyone could read them in the source). */
const OLD_JWT_SECRET = 'dev-secret-change-me-dev-secret-change-me';
const OLD_MEDIA_SECRET = 'dev-media-secret-change-me';
const NO_SECRETS = { JWT_SECRET: undefined, MEDIA_SECRET: undefined };

const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe('a server started without secrets', () => {
  let server: Tremolo;
  let dataDir: string;
  before(async () => {
    dataDir = await tempDir('tremolo-secrets-');
    server = await startServer({ ...NO_SECRETS, DATA_DIR: dataDir });
  });
  after(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses a token forged with the old default JWT secret (it answered 201 as the victim)', async () => {
    const victim = await newUser(server, 'victim');
    const forged = await new SignJWT({ handle: victim.handle })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(victim.id)
      .setIssuer(server.config.jwtIssuer)
      .setAudience(server.config.jwtAudience)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(OLD_JWT_SECRET));
    const res = await fetch(new URL('/v1/videos', server.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${forged}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'posted as the victim', mediaUrl: 'https://cdn.example/v.mp4' }),
    });
    assert.equal(res.status, 401);
    assert.equal(await errorCode(res), 'E_TOKEN_INVALID');
    // the victim's own token works: the server has a secret, just not a published one
    assert.equal((await victim.http.createVideo({ title: 'mine', mediaUrl: 'https://cdn.example/v.mp4' })).title, 'mine');
  });

  it('refuses a media URL signed with the old default media secret', async () => {
    const dir = join(dataDir, 'media', 'JOB0000000001');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'video.mp4'), 'mp4 bytes');
    const forged = new MediaSigner({ secret: OLD_MEDIA_SECRET, ttlS: 300 }).sign('/media/JOB0000000001/video.mp4');
    const res = await fetch(new URL(forged, server.url));
    assert.equal(res.status, 403);
    assert.equal(await errorCode(res), 'E_SIGNATURE_INVALID');
    const signed = new MediaSigner({ secret: server.config.mediaSecret, ttlS: 300 }).sign('/media/JOB0000000001/video.mp4');
    assert.equal((await fetch(new URL(signed, server.url))).status, 200);
  });
});

describe('start-up without secrets', () => {
  it('`npm start` with no settings serves, and warns that tokens and media URLs will not survive a restart', async () => {
    const proc = await spawnServer({ ...NO_SECRETS, LOG_LEVEL: 'info' });
    try {
      assert.equal((await fetch(new URL('/healthz', proc.url))).status, 200);
      const warning = proc
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; msg: string; generated?: string[] })
        .find((l) => l.generated);
      assert.ok(warning, `a warning about the generated secrets in:\n${proc.output()}`);
      assert.equal(warning.level, 40);
      assert.deepEqual(warning.generated, ['JWT_SECRET', 'MEDIA_SECRET']);
      assert.match(warning.msg, /will not survive a restart/);
      const { token } = await newUser(proc);
      assert.equal((await fetch(new URL('/v1/feed', proc.url), { headers: { authorization: `Bearer ${token}` } })).status, 200);
    } finally {
      await proc.stop();
    }
  });

  it('makes a new secret at each start: a token of the previous start is void', async () => {
    const first = await startServer(NO_SECRETS);
    let token: string;
    try {
      token = (await newUser(first)).token;
    } finally {
      await first.close();
    }
    const second = await startServer(NO_SECRETS);
    try {
      const res = await fetch(new URL('/v1/feed', second.url), { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401);
      assert.equal(await errorCode(res), 'E_TOKEN_INVALID');
    } finally {
      await second.close();
    }
  });

  it('refuses to start with NODE_ENV=production or STORAGE=redis and no secrets, or a short one, naming the variables', async () => {
    const cases: [Record<string, string | undefined>, RegExp[]][] = [
      [{ ...NO_SECRETS, NODE_ENV: 'production' }, [/JWT_SECRET is not set: NODE_ENV=production/, /MEDIA_SECRET is not set/]],
      [{ ...NO_SECRETS, STORAGE: 'redis', REDIS_URL }, [/JWT_SECRET is not set: STORAGE=redis/, /MEDIA_SECRET is not set/]],
      [{ JWT_SECRET: 'x'.repeat(31) }, [/JWT_SECRET \(31 bytes\) is invalid: expected at least 32 bytes/]],
    ];
    for (const [env, expected] of cases) {
      await assert.rejects(spawnServer(env), (err: Error) => {
        assert.match(err.message, /server exited with 2/);
        for (const re of expected) assert.match(err.message, re);
        return true;
      });
    }
  });
});
