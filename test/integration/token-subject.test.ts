/**
 * A validly signed token whose subject is not a user cannot write (issue 13, finding 8):
 * tokens signed with the server's own key (as a leaked key or a careless issuer would
 * make them) for a ghost subject, markup, and a well-formed id of nobody, tried over real
 * HTTP and a real socket.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { LiveClient, TremoloClientError } from '../../src/client/live-client.ts';
import { TsidGenerator } from '../../src/domain/ids.ts';
import type { Tremolo } from '../../src/main.ts';
import { newUser, startServer } from '../helpers/server.ts';

describe('token subjects', () => {
  let server: Tremolo;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  const tokenFor = (sub: string) =>
    new SignJWT({ handle: 'ghost' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(sub)
      .setIssuer(server.config.jwtIssuer)
      .setAudience(server.config.jwtAudience)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(server.config.jwtSecret));

  const subjects = {
    'a ghost': 'GHOSTGHOSTGH0',
    markup: '<img src=x onerror=alert(1)>',
    'a well-formed id of nobody': new TsidGenerator({ nodeId: 1023 }).next(),
  };

  for (const [what, sub] of Object.entries(subjects)) {
    it(`refuses ${what} as a subject: no like, no comment, no socket`, async () => {
      const owner = await newUser(server);
      const video = await owner.http.createVideo({ title: 'target' });
      const token = await tokenFor(sub);
      const auth = { authorization: `Bearer ${token}` };

      const like = await fetch(new URL(`/v1/videos/${video.id}/like`, server.url), { method: 'POST', headers: auth });
      assert.equal(like.status, 401);
      assert.equal(((await like.json()) as { error: { code: string } }).error.code, 'E_TOKEN_INVALID');
      const comment = await fetch(new URL(`/v1/videos/${video.id}/comments`, server.url), {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'I am nobody' }),
      });
      assert.equal(comment.status, 401);
      assert.equal(((await comment.json()) as { error: { code: string } }).error.code, 'E_TOKEN_INVALID');

      const live = new LiveClient({ url: server.url, token, socket: { reconnection: false } });
      await assert.rejects(live.connect(), (e) => (e as TremoloClientError).code === 'E_TOKEN_INVALID');
      live.close();

      const after = await owner.http.getVideo(video.id);
      assert.deepEqual([after.counters.likes, after.counters.comments], [0, 0]);
      assert.equal((await owner.http.comments(video.id)).items.length, 0);
    });
  }

  it('still accepts a token of a real user, issued elsewhere with the same key', async () => {
    const owner = await newUser(server);
    const video = await owner.http.createVideo({ title: 'target' });
    const res = await fetch(new URL(`/v1/videos/${video.id}/like`, server.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${await tokenFor(owner.id)}` },
    });
    assert.equal(res.status, 200);
  });
});
