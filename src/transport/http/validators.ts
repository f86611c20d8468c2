/**
 * Request validation with fastify's own ajv compiler, in two flavours. JSON bodies are
 * checked as sent: ajv's type coercion would turn `{"title":12}` into "12" and
 * `{"title":["a"]}` into "a", so for bodies it is off and a wrong JSON type is an
 * E_VALIDATION. Querystrings, path parameters and headers are text on the wire, so they
 * are still coerced to their declared types (`?limit=20` is the number 20).
 */
import AjvCompiler from '@fastify/ajv-compiler';
import type { FastifyServerOptions } from 'fastify';

type ValidatorFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator'];
/** What fastify hands a validator compiler for each part of each route. */
interface RouteSchema {
  schema: unknown;
  httpPart?: string;
}
type Compile = (route: RouteSchema) => unknown;
/** fastify's `ajv` server option, as it reaches the factory. */
interface AjvServerOptions {
  customOptions?: Record<string, unknown>;
  plugins?: unknown[];
}
type Pool = (externalSchemas: unknown, options: AjvServerOptions) => Compile;

/** fastify's `schemaController.compilersFactory.buildValidator`: strict bodies, coerced text parts. */
export function requestValidators(): ValidatorFactory {
  // the factory fastify uses by default; it keeps one ajv per set of options
  const pool = AjvCompiler() as unknown as Pool;
  const build = (externalSchemas: unknown, options: AjvServerOptions = {}): Compile => {
    const compilerFor = (coerceTypes: false | 'array'): Compile =>
      pool(externalSchemas, { ...options, customOptions: { ...options.customOptions, coerceTypes } });
    const strict = compilerFor(false);
    const coercing = compilerFor('array');
    return (route) => (route.httpPart === 'body' ? strict : coercing)(route);
  };
  return build as unknown as ValidatorFactory;
}

/** What the message of a failed check needs from one ajv error. */
export interface ValidationIssue {
  instancePath?: string;
  message?: string;
  params?: unknown;
}

/** The field an ajv error is about, as a dotted path (`a.b`); '' for the value as a whole. */
export function issueField(issue: ValidationIssue | undefined): string {
  return issue?.instancePath?.replace(/^\//, '').replace(/\//g, '.') || (issue?.params as { missingProperty?: string } | undefined)?.missingProperty || '';
}
