/**
 * Liveness and readiness. /healthz answers UP while the process serves; /readyz also
 * asks storage and answers 503 naming the dependency that failed. (Metrics have their
 * own listener: metrics-server.ts.)
 */
import type { FastifyInstance } from 'fastify';
import { errorBodyOf } from '../../../protocol/schemas.ts';

export interface HealthDeps {
  version: string;
  /** Named checks; each resolves when its dependency answers. */
  checks: Record<string, () => Promise<void>>;
  isShuttingDown: () => boolean;
}

const CHECK_TIMEOUT_MS = 2000;

export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  const health = (status: 'UP' | 'DOWN') => ({
    type: 'object',
    required: ['status', 'timestamp', 'version'],
    properties: {
      status: { type: 'string', enum: [status] },
      timestamp: { type: 'string', format: 'date-time' },
      version: { type: 'string' },
      checks: { type: 'object', additionalProperties: { type: 'object', properties: { status: { type: 'string' }, error: { type: 'string' } } } },
    },
  });

  // a draining server answers any request 503 E_SHUTTING_DOWN before the route runs: both
  // bodies are 503s, and the answer is serialized with this schema
  const down = (what: string) => ({ description: what, anyOf: [health('DOWN'), errorBodyOf(['E_SHUTTING_DOWN'])] });
  const probe = { tags: ['health'], security: [] };

  app.get(
    '/healthz',
    {
      schema: {
        ...probe,
        operationId: 'getLiveness',
        summary: 'Liveness: UP while the process serves',
        response: { 200: { ...health('UP'), description: 'UP' }, 503: down('DOWN: the server is shutting down') },
      },
    },
    async (_req, reply) => {
      const status = deps.isShuttingDown() ? 'DOWN' : 'UP';
      return reply.code(status === 'UP' ? 200 : 503).send({ status, timestamp: new Date().toISOString(), version: deps.version });
    },
  );

  app.get(
    '/readyz',
    {
      schema: {
        ...probe,
        operationId: 'getReadiness',
        summary: 'Readiness: UP when storage answers too; DOWN names the check that failed',
        response: { 200: { ...health('UP'), description: 'UP' }, 503: down('DOWN: a dependency failed (see checks), or the server is shutting down') },
      },
    },
    async (_req, reply) => {
      const checks: Record<string, { status: 'UP' | 'DOWN'; error?: string }> = {};
      await Promise.all(
        Object.entries(deps.checks).map(async ([name, check]) => {
          try {
            await withTimeout(check(), CHECK_TIMEOUT_MS);
            checks[name] = { status: 'UP' };
          } catch (err) {
            checks[name] = { status: 'DOWN', error: err instanceof Error ? err.message : String(err) };
          }
        }),
      );
      const up = !deps.isShuttingDown() && Object.values(checks).every((c) => c.status === 'UP');
      return reply.code(up ? 200 : 503).send({ status: up ? 'UP' : 'DOWN', timestamp: new Date().toISOString(), version: deps.version, checks });
    },
  );
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}
