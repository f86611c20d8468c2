import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK } from 'jose';
import { TremoloError } from '../../src/protocol/errors.ts';
import { TokenService } from '../../src/transport/auth/tokens.ts';

const settings = { secret: 'test-secret-test-secret-test-secret', issuer: 'tremolo', audience: 'tremolo-clients', ttlS: 3600 };
const user = { id: '0ABCDEFGHJKMN', handle: 'ada' };
const code = (c: string) => (e: unknown) => e instanceof TremoloError && e.code === c;
const nowS = () => Math.floor(Date.now() / 1000);

describe('TokenService', () => {
  it('verifies a token it issued, the same on a repeat verify', async () => {
    const tokens = new TokenService(settings);
    const { token } = await tokens.issue(user);
    const first = await tokens.verify(token);
    assert.equal(first.userId, user.id);
    assert.equal(first.handle, 'ada');
    assert.deepEqual(await tokens.verify(token), first);
  });

  it('rejects a remembered token once it expires', async () => {
    const tokens = new TokenService(settings);
    // issued so that it expires within two seconds
    const { token } = await tokens.issue(user, nowS() - settings.ttlS + 2);
    assert.equal((await tokens.verify(token)).userId, user.id);
    await sleep(2100);
    await assert.rejects(tokens.verify(token), code('E_TOKEN_EXPIRED'));
    await assert.rejects(tokens.verify(token), code('E_TOKEN_EXPIRED'));
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
