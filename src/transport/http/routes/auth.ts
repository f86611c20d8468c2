/**
 * Accounts: POST /v1/users registers, POST /v1/sessions logs in and returns a JWT.
 * Both cost a password hash, so both are limited before it: sign-ups per client address,
 * login attempts per address, failed logins per (handle, address) and per handle with
 * growing delays (LoginThrottle), and every hash waits its turn in a bounded HashingQueue.
 */
import type { FastifyInstance } from 'fastify';
import type { Credentials, Engine } from '../../../actors/engine.ts';
import { normalizeHandle } from '../../../domain/text.ts';
import { TremoloError } from '../../../protocol/errors.ts';
import { handleField, schemas } from '../../../protocol/schemas.ts';
import { DUMMY_HASH, checkPasswordRules, hashPassword, verifyPassword } from '../../auth/passwords.ts';
import type { HashingQueue } from '../../auth/hashing-queue.ts';
import type { TokenService } from '../../auth/tokens.ts';
import { addressKey } from '../../client-address.ts';
import { errorResponses } from '../openapi/operation-errors.ts';
import type { RateLimits } from '../rate-limits.ts';

export interface AuthDeps {
  engine: Engine;
  tokens: TokenService;
  limits: RateLimits;
  hashing: HashingQueue;
  handleMaxChars: number;
}

export async function authRoutes(app: FastifyInstance, deps: AuthDeps): Promise<void> {
  const session = {
    type: 'object',
    required: ['token', 'expiresAt', 'user'],
    properties: { token: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' }, user: schemas.userProfile },
  } as const;

  app.post<{ Body: { handle: string; password: string; displayName?: string } }>(
    '/v1/users',
    {
      schema: {
        tags: ['auth'],
        operationId: 'registerUser',
        summary: 'Register an account: returns an access token',
        description: 'At most SIGNUP_RATE_PER_HOUR sign-ups per client address (429 `E_RATE_LIMITED`).',
        security: [],
        body: {
          type: 'object',
          required: ['handle', 'password'],
          additionalProperties: false,
          properties: {
            handle: handleField(deps.handleMaxChars),
            password: { type: 'string', minLength: 8, maxLength: 256 },
            displayName: { type: 'string', minLength: 1, maxLength: 64, description: 'Shown instead of the handle; cleaned as titles are' },
          },
        },
        response: {
          201: session,
          // E_BUSY: too many password hashes waiting
          ...errorResponses('E_HANDLE_TAKEN', 'E_CONTENT_REJECTED', 'E_LOCAL_LOGIN_DISABLED', 'E_BUSY', 'E_STORAGE_UNAVAILABLE'),
        },
      },
    },
    async (req, reply) => {
      // an account nobody could sign in to is not created (tokens come from elsewhere)
      if (!deps.tokens.canIssue) throw new TremoloError('E_LOCAL_LOGIN_DISABLED');
      const handle = normalizeHandle(req.body.handle, deps.handleMaxChars);
      checkPasswordRules(req.body.password);
      await deps.limits.consumeSignup(addressKey(req.ip));
      const password = req.body.password;
      const passwordHash = await deps.hashing.run('signup', () => hashPassword(password));
      const user = await deps.engine.createUser({
        handle,
        passwordHash,
        ...(req.body.displayName !== undefined ? { displayName: req.body.displayName } : {}),
      });
      const token = await deps.tokens.issue(user);
      return reply.code(201).send({ ...token, user });
    },
  );

  app.post<{ Body: { handle: string; password: string } }>(
    '/v1/sessions',
    {
      schema: {
        tags: ['auth'],
        operationId: 'createSession',
        summary: 'Log in: returns an access token',
        description:
          'At most LOGIN_RATE_PER_MIN attempts per client address; failed logins of a handle make its next attempts wait ' +
          '(429 `E_RATE_LIMITED` with Retry-After).',
        security: [],
        body: {
          type: 'object',
          required: ['handle', 'password'],
          additionalProperties: false,
          // any handle that could ever have been registered (HANDLE_MAX_CHARS may have been lowered since)
          properties: { handle: { type: 'string', maxLength: 64 }, password: { type: 'string', maxLength: 256 } },
        },
        response: { 200: session, ...errorResponses('E_BAD_CREDENTIALS', 'E_LOCAL_LOGIN_DISABLED', 'E_BUSY', 'E_STORAGE_UNAVAILABLE') },
      },
    },
    async (req) => {
      if (!deps.tokens.canIssue) throw new TremoloError('E_LOCAL_LOGIN_DISABLED');
      const { handle, password } = req.body;
      const address = addressKey(req.ip);
      await deps.limits.consumeLogin(address);
      await deps.limits.logins.begin(handle, address);
      let account: Credentials | null;
      let ok: boolean;
      try {
        account = await deps.engine.credentials(handle);
        // compare against a dummy hash for unknown handles so timing does not tell them apart
        const stored = account?.passwordHash ?? DUMMY_HASH;
        ok = await deps.hashing.run('login', () => verifyPassword(password, stored));
      } catch (err) {
        await deps.limits.logins.unchecked(handle, address); // busy or storage down: the password was not checked
        throw err;
      }
      if (!account || !ok) {
        await deps.limits.logins.failed(handle, address);
        throw new TremoloError('E_BAD_CREDENTIALS');
      }
      await deps.limits.logins.succeeded(handle, address);
      const user = (await deps.engine.profile(account.userId)).value;
      return { ...(await deps.tokens.issue(user)), user };
    },
  );
}
