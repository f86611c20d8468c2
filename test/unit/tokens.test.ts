import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
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
