import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK } from 'jose';
import { ManualClock } from '../../src/domain/clock.ts';
import { TremoloError } from '../../src/protocol/errors.ts';
import { TokenService } from '../../src/transport/auth/tokens.ts';

const settings = { secret: 'test-secret-test-secret-test-secret', issuer: 'tremolo', audience: 'tremolo-clients', ttlS: 3600 };
const user = { id: '0ABCDEFGHJKMN', handle: 'ada' };
const code = (c: string) => (e: unknown) => e instanceof TremoloError && e.code === c;

describe('TokenService', () => {
  it('verifies a token it issued, the same on a repeat verify', async () => {
    const tokens = new TokenService(settings);
    const { token } = await tokens.issue(user);
    const first = await tokens.verify(token);
    assert.equal(first.userId, user.id);
    assert.equal(first.handle, 'ada');
    assert.deepEqual(await tokens.verify(token), first);
  });

  it('rejects a remembered token once it expires on its clock', async () => {
    const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000); // a whole second, as `exp` is
    const tokens = new TokenService(settings, { clock });
    const { token, expiresAt } = await tokens.issue(user);
    assert.equal(Date.parse(expiresAt), clock.now() + settings.ttlS * 1000, 'issued at the clock\'s time');
    assert.equal((await tokens.verify(token)).userId, user.id);
    clock.advance(settings.ttlS * 1000 - 1000);
    assert.equal((await tokens.verify(token)).userId, user.id, 'a second left');
    clock.advance(1000);
    await assert.rejects(tokens.verify(token), code('E_TOKEN_EXPIRED'));
    await assert.rejects(tokens.verify(token), code('E_TOKEN_EXPIRED'), 'and again, once no longer remembered');
  });

  it('checks expiry against its clock on a first verify too (not the wall clock)', async () => {
    const clock = new ManualClock(Date.now());
    const issuer = new TokenService(settings, { clock });
    const { token } = await issuer.issue(user);
    clock.advance(settings.ttlS * 1000);
    await assert.rejects(new TokenService(settings, { clock }).verify(token), code('E_TOKEN_EXPIRED'));
    // and a token issued in the clock's future is good on that clock
    const later = new ManualClock(Date.now() + 10 * settings.ttlS * 1000);
    const ahead = await new TokenService(settings, { clock: later }).issue(user);
    assert.equal((await new TokenService(settings, { clock: later }).verify(ahead.token)).userId, user.id);
  });

  it('forgets a remembered token after five minutes on its clock and verifies it afresh', async () => {
    const clock = new ManualClock(Date.now());
    let lookups = 0;
    const tokens = new TokenService(settings, {
      clock,
      userExists: async () => {
        lookups++;
        return true;
      },
    });
    const { token } = await tokens.issue(user);
    await tokens.verify(token);
    await tokens.verify(token);
    assert.equal(lookups, 1, 'remembered');
    clock.advance(5 * 60_000 + 1);
    await tokens.verify(token);
    assert.equal(lookups, 2, 'verified again after VERIFIED_TTL');
  });

  it('does not let a verified token vouch for a tampered one', async () => {
    const tokens = new TokenService(settings);
    const { token } = await tokens.issue(user);
    await tokens.verify(token);
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as object;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'SOMEONEELSE00' })).toString('base64url')}.${s}`;
    await assert.rejects(tokens.verify(forged), code('E_TOKEN_INVALID'));
    await assert.rejects(tokens.verify(`${token}x`), code('E_TOKEN_INVALID'));
    await assert.rejects(new TokenService({ ...settings, secret: 'another-secret-another-secret-xx' }).verify(token), code('E_TOKEN_INVALID'));
  });
});

describe('TokenService with keys', () => {
  const pems = (type: 'rsa' | 'ed25519') => {
    const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
    return {
      publicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
      privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    };
  };
  const base = { issuer: 'tremolo', audience: 'tremolo-clients', ttlS: 3600 };

  for (const [type, alg] of [['rsa', 'RS256'], ['ed25519', 'EdDSA']] as const) {
    it(`signs with JWT_PRIVATE_KEY (${type} -> ${alg}) and verifies what it signed`, async () => {
      const { privateKeyPem, publicKeyPem } = pems(type);
      const tokens = new TokenService({ ...base, privateKeyPem });
      assert.equal(tokens.canIssue, true);
      const { token } = await tokens.issue(user);
      const header = decodeProtectedHeader(token);
      assert.equal(header.alg, alg);
      assert.equal(header.kid, await calculateJwkThumbprint(await exportJWK(createPublicKey(publicKeyPem))));
      assert.equal((await tokens.verify(token)).userId, user.id);
      // the same key pair given as JWT_PUBLIC_KEY too (another process, or the issuer's config)
      assert.equal((await new TokenService({ ...base, privateKeyPem, publicKeyPem }).verify(token)).userId, user.id);
      assert.equal((await new TokenService({ ...base, publicKeyPem }).verify(token)).userId, user.id);
      // and an HS256 token is not accepted in this mode
      const hs = await new TokenService({ ...settings, audience: base.audience }).issue(user);
      await assert.rejects(tokens.verify(hs.token), code('E_TOKEN_ALGORITHM'));
    });
  }

  it('issues nothing when it only verifies tokens issued elsewhere', async () => {
    const { publicKeyPem } = pems('ed25519');
    for (const tokens of [new TokenService({ ...base, publicKeyPem }), new TokenService({ ...base, jwksUrl: 'http://127.0.0.1:9/jwks.json' })]) {
      assert.equal(tokens.canIssue, false);
      await assert.rejects(tokens.issue(user), code('E_LOCAL_LOGIN_DISABLED'));
    }
  });
});
