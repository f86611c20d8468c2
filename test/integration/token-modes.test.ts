/**
 * Issue 13, finding 11: in JWT_PUBLIC_KEY / JWKS mode, `POST /v1/sessions` signed an HS256
 * token that the same server then refused. Now a server either signs with JWT_PRIVATE_KEY
 * (and accepts what it signed) or answers local sign-up and log-in with a documented code.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SignJWT, calculateJwkThumbprint, exportJWK } from 'jose';
import type { Tremolo } from '../../src/main.ts';
import { startServer } from '../helpers/server.ts';

const pair = (type: 'rsa' | 'ed25519') => {
  const keys = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  return {
    ...keys,
    publicPem: keys.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    privatePem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
};

const post = (server: Tremolo, path: string, body: object) =>
  fetch(new URL(path, server.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const feed = (server: Tremolo, token: string) => fetch(new URL('/v1/feed', server.url), { headers: { authorization: `Bearer ${token}` } });
const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

/** Signs up and logs in; returns the two tokens. */
async function signUpAndLogIn(server: Tremolo, handle: string): Promise<string[]> {
  const registered = await post(server, '/v1/users', { handle, password: 'correct horse battery' });
  assert.equal(registered.status, 201);
  const loggedIn = await post(server, '/v1/sessions', { handle, password: 'correct horse battery' });
  assert.equal(loggedIn.status, 200);
  return [((await registered.json()) as { token: string }).token, ((await loggedIn.json()) as { token: string }).token];
}

describe('tokens in key-pair modes', () => {
  it('JWT_PUBLIC_KEY without a private key: local sign-up and log-in answer 501 E_LOCAL_LOGIN_DISABLED, never a token it refuses', async () => {
    const issuer = pair('rsa');
    const server = await startServer({ JWT_PUBLIC_KEY: issuer.publicPem });
    try {
      const user = await server.engine.createUser({ handle: 'known_elsewhere', passwordHash: 'x' });
      for (const path of ['/v1/sessions', '/v1/users']) {
        const res = await post(server, path, { handle: 'someone_new', password: 'correct horse battery' });
        assert.equal(res.status, 501, path);
        assert.equal(await errorCode(res), 'E_LOCAL_LOGIN_DISABLED', path);
      }
      assert.equal(await server.store.users.getByHandle('someone_new'), null, 'no account nobody could sign in to');
      // tokens of the identity provider are what this mode is for
      const external = await new SignJWT({})
        .setProtectedHeader({ alg: 'RS256' })
        .setSubject(user.id)
        .setIssuer('tremolo')
        .setAudience('tremolo')
        .setExpirationTime('1h')
        .sign(issuer.privateKey);
      assert.equal((await feed(server, external)).status, 200);
    } finally {
      await server.close();
    }
  });

  for (const type of ['rsa', 'ed25519'] as const) {
    it(`JWT_PRIVATE_KEY (${type}) with its JWT_PUBLIC_KEY: sign-up and log-in give tokens this server accepts`, async () => {
      const own = pair(type);
      const server = await startServer({ JWT_PRIVATE_KEY: own.privatePem, JWT_PUBLIC_KEY: own.publicPem });
      try {
        for (const token of await signUpAndLogIn(server, `keyed_${type}`)) assert.equal((await feed(server, token)).status, 200);
      } finally {
        await server.close();
      }
    });
  }

  describe('JWT_JWKS_URL with JWT_PRIVATE_KEY', () => {
    const idp = pair('rsa');
    const own = pair('ed25519');
    let jwks: Server;
    let server: Tremolo;
    before(async () => {
      const jwk = { ...(await exportJWK(idp.publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
      jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
      await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
      const { port } = jwks.address() as AddressInfo;
      server = await startServer({ JWT_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`, JWT_PRIVATE_KEY: own.privatePem });
    });
    after(async () => {
      await server.close();
      jwks.close();
    });

    it('accepts its own tokens (not listed in the JWKS) and the identity provider’s', async () => {
      for (const token of await signUpAndLogIn(server, 'jwks_local')) assert.equal((await feed(server, token)).status, 200);
      const user = await server.engine.createUser({ handle: 'jwks_external', passwordHash: 'x' });
      const external = await new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', kid: 'idp-1' })
        .setSubject(user.id)
        .setIssuer('tremolo')
        .setAudience('tremolo')
        .setExpirationTime('1h')
        .sign(idp.privateKey);
      assert.equal((await feed(server, external)).status, 200);
      // a token signed with some other key that claims our key id is still refused
      const forged = await new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid: await calculateJwkThumbprint(await exportJWK(own.publicKey)) })
        .setSubject(user.id)
        .setIssuer('tremolo')
        .setAudience('tremolo')
        .setExpirationTime('1h')
        .sign(pair('ed25519').privateKey);
      const res = await feed(server, forged);
      assert.equal(res.status, 401);
      assert.equal(await errorCode(res), 'E_TOKEN_INVALID');
    });
  });
});
