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
  type Checks = Record<string, { status: 'UP' | 'DOWN'; error?: string }>;

  /** A probe: 200 UP or 503 DOWN, one body shape; readiness adds the checks it ran. */
  const probe = (url: string, operationId: string, summary: string, downWhy: string, assess: () => Promise<{ up: boolean; checks?: Checks }>) =>
    app.get(
      url,
      {
        schema: {
          tags: ['health'],
          security: [],
          operationId,
          summary,
          response: { 200: { ...health('UP'), description: 'UP' }, 503: down(`DOWN: ${downWhy}`) },
        },
      },
      async (_req, reply) => {
        const { up, checks } = await assess();
        return reply
          .code(up ? 200 : 503)
          .send({ status: up ? 'UP' : 'DOWN', timestamp: new Date().toISOString(), version: deps.version, ...(checks ? { checks } : {}) });
      },
    );

  probe('/healthz', 'getLiveness', 'Liveness: UP while the process serves', 'the server is shutting down', async () => ({ up: !deps.isShuttingDown() }));

  probe(
    '/readyz',
    'getReadiness',
    'Readiness: UP when storage answers too; DOWN names the check that failed',
    'a dependency failed (see checks), or the server is shutting down',
    async () => {
      const checks: Checks = {};
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
      return { up: !deps.isShuttingDown() && Object.values(checks).every((c) => c.status === 'UP'), checks };
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
