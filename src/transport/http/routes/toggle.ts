/**
 * Toggle routes: a POST that sets something of the caller's on an `:id` (a like, a comment
 * like, a favorite) and a DELETE that takes it back, both idempotent, on one URL, with one
 * response shape. Each route file lists its pair; the route shape is written here once.
 */
import type { FastifyInstance } from 'fastify';
import { userOf } from '../server.ts';

export interface ToggleRoute<R> {
  method: 'POST' | 'DELETE';
  operationId: string;
  summary: string;
  /** Sets or takes back the caller's toggle on the entity `id`. */
  write: (id: string, userId: string) => Promise<R>;
}

export interface ToggleRoutes<R> {
  url: string;
  tags: string[];
  /** The `:id` parameter's schema. */
  params: object;
  /** The 200 response's schema and the error responses. */
  response: Record<number, unknown>;
  routes: readonly ToggleRoute<R>[];
  /** The reply to a write's result. Default: the result itself. */
  reply?: (result: R) => unknown;
}

/** Registers each route of a toggle (signed-in users only). */
export function toggleRoutes<R>(app: FastifyInstance, { url, tags, params, response, routes, reply = (r) => r }: ToggleRoutes<R>): void {
  for (const { method, operationId, summary, write } of routes) {
    app.route<{ Params: { id: string } }>({
      method,
      url,
      preHandler: app.requireUser,
      schema: { tags, operationId, summary, security: [{ bearer: [] }], params, response },
      handler: async (req) => reply(await write(req.params.id, userOf(req))),
    });
  }
}
