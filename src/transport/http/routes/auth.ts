/**
 * Accounts: POST /v1/users registers, POST /v1/sessions logs in and returns a JWT.
 */
import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../../actors/engine.ts';
import { normalizeHandle } from '../../../domain/text.ts';
import { TremoloError } from '../../../protocol/errors.ts';
import { schemas } from '../../../protocol/schemas.ts';
import { DUMMY_HASH, checkPasswordRules, hashPassword, verifyPassword } from '../../auth/passwords.ts';
import type { TokenService } from '../../auth/tokens.ts';
import type { RateLimits } from '../rate-limits.ts';

export interface AuthDeps {
  engine: Engine;
  tokens: TokenService;
  limits: RateLimits;
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
        summary: 'Register an account',
        body: {
          type: 'object',
          required: ['handle', 'password'],
          additionalProperties: false,
          properties: {
            handle: { type: 'string', description: '3+ characters: letters, digits, "_" or ".", starting with a letter; case-insensitive' },
            password: { type: 'string', minLength: 8, maxLength: 256 },
            displayName: { type: 'string', maxLength: 64 },
          },
        },
        response: { 201: session, 409: schemas.errorBody, 501: schemas.errorBody },
      },
    },
    async (req, reply) => {
      // an account nobody could sign in to is not created (tokens come from elsewhere)
      if (!deps.tokens.canIssue) throw new TremoloError('E_LOCAL_LOGIN_DISABLED');
      const handle = normalizeHandle(req.body.handle, deps.handleMaxChars);
      checkPasswordRules(req.body.password);
      const passwordHash = await hashPassword(req.body.password);
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
        summary: 'Log in: returns an access token',
        body: {
          type: 'object',
          required: ['handle', 'password'],
          additionalProperties: false,
          properties: { handle: { type: 'string', maxLength: 64 }, password: { type: 'string', maxLength: 256 } },
        },
        response: { 200: session, 401: schemas.errorBody, 429: schemas.errorBody, 501: schemas.errorBody },
      },
    },
    async (req) => {
      if (!deps.tokens.canIssue) throw new TremoloError('E_LOCAL_LOGIN_DISABLED');
      await deps.limits.consumeLogin(req.body.handle, req.ip);
      const record = await deps.engine.store.users.getByHandle(req.body.handle);
      // compare against a dummy hash for unknown handles so timing does not tell them apart
      const ok = await verifyPassword(req.body.password, record?.passwordHash ?? DUMMY_HASH);
      if (!record || !ok) throw new TremoloError('E_BAD_CREDENTIALS');
      const user = (await deps.engine.profile(record.id)).value;
      return { ...(await deps.tokens.issue(user)), user };
    },
  );
}
