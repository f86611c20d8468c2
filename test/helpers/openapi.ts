/**
 * Reading an OpenAPI 3.0 document the way a client would: its operations, the schemas of
 * their parameters, bodies and answers (local `$ref`s resolved), checked with ajv (the one
 * fastify ships, through @fastify/ajv-compiler). Also derives requests from the document:
 * from one valid request of an operation, the requests its documentation says are invalid
 * (a required field missing, a wrong type, a string one character too long, ...) and the
 * ones it says are valid at the edges (exactly the longest string, the largest integer).
 */
import AjvCompiler from '@fastify/ajv-compiler';
import type { ValidateFunction } from 'ajv';
import type { OpenAPIV3 } from 'openapi-types';

export type Doc = OpenAPIV3.Document;
export type Schema = OpenAPIV3.SchemaObject;

export interface Operation {
  method: string;
  path: string;
  id: string;
  op: OpenAPIV3.OperationObject;
  parameters: OpenAPIV3.ParameterObject[];
  /** The JSON body schema, or the raw content types a body may have. */
  body?: { required: boolean; json?: Schema; types: string[] };
  /** `required`: a bearer token is needed; `optional`: one may be sent; `none`. */
  token: 'required' | 'optional' | 'none';
}

/** A request to an operation, by part. `body` is JSON unless `rawBody` is given. */
export interface Probe {
  path: Record<string, string>;
  query: Record<string, string>;
  headers: Record<string, string>;
  token?: string | undefined;
  body?: unknown;
  rawBody?: { type: string; data: Buffer | string };
}

export const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'] as const;

/** A copy of `value` with every local `$ref` replaced by what it points at. */
export function deref<T>(doc: Doc, value: T): T {
  const seen = new Map<string, unknown>();
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const ref = (v as { $ref?: unknown }).$ref;
    if (typeof ref === 'string') {
      if (!ref.startsWith('#/')) throw new Error(`not a local $ref: ${ref}`);
      if (!seen.has(ref)) {
        const target = ref
          .slice(2)
          .split('/')
          .reduce<unknown>((at, key) => (at as Record<string, unknown>)[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
        if (target === undefined) throw new Error(`dangling $ref ${ref}`);
        seen.set(ref, walk(target));
      }
      return seen.get(ref);
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
  };
  return walk(value) as T;
}

/** Every operation of the document, resolved. */
export function operationsOf(doc: Doc): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const raw = item?.[method];
      if (!raw) continue;
      const op = deref(doc, raw);
      const parameters = (op.parameters ?? []) as OpenAPIV3.ParameterObject[];
      const requestBody = op.requestBody as OpenAPIV3.RequestBodyObject | undefined;
      const security = op.security ?? doc.security ?? [];
      const accepted = security.some((r) => Object.keys(r).length > 0);
      const optional = security.some((r) => Object.keys(r).length === 0);
      out.push({
        method,
        path,
        id: op.operationId ?? `${method} ${path}`,
        op,
        parameters,
        ...(requestBody
          ? {
              body: {
                required: requestBody.required === true,
                types: Object.keys(requestBody.content),
                ...(requestBody.content['application/json']?.schema ? { json: requestBody.content['application/json'].schema as Schema } : {}),
              },
            }
          : {}),
        token: accepted ? (optional ? 'optional' : 'required') : 'none',
      });
    }
  }
  return out;
}

/** Compiles JSON schemas of an OpenAPI 3.0 document with ajv (formats included, OpenAPI's extra keywords ignored). */
export class SchemaChecker {
  readonly #compiled = new Map<string, ValidateFunction>();
  readonly #compile: (schema: object) => ValidateFunction;

  constructor() {
    let ajv: AjvCompiler.Ajv | undefined;
    AjvCompiler()(
      {},
      {
        customOptions: { strict: false, allErrors: true, coerceTypes: false, removeAdditional: false, useDefaults: false },
        onCreate: (instance) => {
          ajv = instance;
        },
      },
    );
    if (!ajv) throw new Error('no ajv instance');
    ajv.addFormat('binary', true);
    const instance = ajv;
    this.#compile = (schema) => instance.compile(schema);
  }

  /** undefined when `value` is valid, else ajv's complaint. */
  errors(schema: object, value: unknown): string | undefined {
    const key = JSON.stringify(schema);
    let validate = this.#compiled.get(key);
    if (!validate) {
      validate = this.#compile(JSON.parse(key) as object);
      this.#compiled.set(key, validate);
    }
    return validate(value) ? undefined : JSON.stringify(validate.errors);
  }

  /** Whether `probe` is a valid request by the document's description of `op`. */
  requestProblems(op: Operation, probe: Probe): string[] {
    const problems: string[] = [];
    for (const p of op.parameters) {
      const raw = p.in === 'path' ? probe.path[p.name] : p.in === 'query' ? probe.query[p.name] : headerOf(probe.headers, p.name);
      if (raw === undefined) {
        if (p.required) problems.push(`${p.in} ${p.name} is missing`);
        continue;
      }
      const schema = p.schema as Schema;
      const e = this.errors(schema, textAs(schema, raw));
      if (e) problems.push(`${p.in} ${p.name}: ${e}`);
    }
    if (op.token === 'required' && probe.token === undefined) problems.push('no token');
    // the scheme's bearerFormat is JWT: three base64url parts
    if (op.token !== 'none' && probe.token !== undefined && !/^[\w-]+\.[\w-]+\.[\w-]*$/.test(probe.token)) problems.push('a token that is not a JWT');
    if (op.body) {
      if (probe.rawBody) {
        if (!op.body.types.includes(probe.rawBody.type)) problems.push(`body type ${probe.rawBody.type}`);
        else if (probe.rawBody.type === 'application/json') problems.push('JSON body that does not parse');
      } else if (probe.body === undefined) {
        if (op.body.required) problems.push('no body');
      } else if (!op.body.json) {
        problems.push('a JSON body');
      } else {
        const e = this.errors(op.body.json, probe.body);
        if (e) problems.push(`body: ${e}`);
      }
    }
    return problems;
  }
}

function headerOf(headers: Record<string, string>, name: string): string | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : headers[key];
}

/** A parameter's text as the type its schema declares (what the server reads it as). */
function textAs(schema: Schema, raw: string): unknown {
  if ((schema.type === 'integer' || schema.type === 'number') && /^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (schema.type === 'boolean' && (raw === 'true' || raw === 'false')) return raw === 'true';
  return raw;
}

/** A request derived from a valid one, with what the document says about it. */
export interface Variant {
  label: string;
  probe: Probe;
  /** true: the document admits it (at an edge); false: the document refuses it. */
  valid: boolean;
}

const clone = (p: Probe): Probe => structuredClone(p);

/** A value for a label: long strings by their length. */
const shown = (value: unknown) => (typeof value === 'string' && value.length > 12 ? `${value.length} characters` : JSON.stringify(value));

/** Strings for lengths: letters only, which every text rule and handle pattern here admits. */
const filler = (n: number) => 'a'.repeat(Math.max(0, n));

/** A value of another JSON type than `schema` declares. */
function wrongType(schema: Schema): unknown {
  switch (schema.type) {
    case 'string':
      return 12345;
    case 'integer':
    case 'number':
      return '1';
    case 'boolean':
      return 'yes';
    case 'array':
      return 'x';
    default:
      return ['x'];
  }
}

/** Values at and past the edges a string or number schema states: [value, inside?]. */
function edges(schema: Schema, asText: boolean): [unknown, boolean][] {
  const out: [unknown, boolean][] = [];
  const num = (n: number) => (asText ? String(n) : n);
  if (schema.type === 'string') {
    if (schema.maxLength !== undefined) out.push([filler(schema.maxLength), true], [filler(schema.maxLength + 1), false]);
    if (schema.minLength !== undefined && schema.minLength > 0) out.push([filler(schema.minLength), true], [filler(schema.minLength - 1), false]);
    if (schema.pattern !== undefined) out.push(['~', false]);
    // no limit stated: then a long one is as good as a short one
    if (schema.maxLength === undefined && schema.pattern === undefined && !schema.enum && !schema.format) out.push([filler(1000), true]);
    if (schema.enum) out.push(['not-one-of-them', false]);
  }
  if (schema.type === 'integer' || schema.type === 'number') {
    if (schema.maximum !== undefined) out.push([num(schema.maximum), true], [num(schema.maximum + 1), false]);
    if (schema.minimum !== undefined) out.push([num(schema.minimum), true], [num(schema.minimum - 1), false]);
    if (asText) out.push(['abc', false]);
  }
  return out;
}

/**
 * Requests derived from `base` (a valid request of `op`) by the document: each part
 * changed one way at a time. `valid` is what the document says; the caller keeps only
 * variants the checker agrees about, so a rule the document does not state is never tested.
 */
export function variantsOf(op: Operation, base: Probe): Variant[] {
  const out: Variant[] = [];
  const add = (label: string, valid: boolean, change: (p: Probe) => void) => {
    const probe = clone(base);
    change(probe);
    out.push({ label, probe, valid });
  };

  if (op.token !== 'none') add('a malformed token', false, (p) => (p.token = 'not-a-token'));
  if (op.token === 'required') add('no token', false, (p) => delete p.token);

  for (const param of op.parameters) {
    const schema = param.schema as Schema;
    const where = param.in === 'path' ? 'path' : param.in === 'query' ? 'query' : param.in === 'header' ? 'headers' : undefined;
    if (!where) continue;
    const set = (p: Probe, v: string | undefined) => {
      const part = p[where];
      const key = Object.keys(part).find((k) => k.toLowerCase() === param.name.toLowerCase()) ?? param.name;
      if (v === undefined) delete part[key];
      else part[key] = v;
    };
    if (param.required && where !== 'path') add(`${param.in} ${param.name} missing`, false, (p) => set(p, undefined));
    for (const [value, inside] of edges(schema, true)) {
      add(`${param.in} ${param.name} = ${shown(value)}`, inside, (p) => set(p, String(value)));
    }
    if (where === 'path') {
      const current = base.path[param.name] ?? '';
      // well-formed but unknown: the same shape with zeros
      if (schema.pattern) add(`unknown ${param.name}`, true, (p) => set(p, current.replace(/[A-Za-z0-9]/g, '0')));
      // longer than fastify's maxParamLength (100)
      add(`${param.name} of 101 characters`, false, (p) => set(p, filler(101)));
    }
  }

  if (op.body) {
    if (op.body.required) add('no body', false, (p) => delete p.body);
    if (op.body.required) add('a text/plain body', false, (p) => (delete p.body, (p.rawBody = { type: 'text/plain', data: 'x' })));
    if (op.body.json) {
      add('a body that is not JSON', false, (p) => (delete p.body, (p.rawBody = { type: 'application/json', data: '{"oops' })));
      const json = op.body.json;
      if (json.type === 'object') {
        add('a body that is an array', false, (p) => (p.body = []));
        for (const name of json.required ?? []) add(`body.${name} missing`, false, (p) => delete (p.body as Record<string, unknown>)[name]);
        if (json.additionalProperties === false) add('an unknown body field', false, (p) => ((p.body as Record<string, unknown>).unexpectedField = 1));
        for (const [name, s] of Object.entries(json.properties ?? {})) {
          const prop = s as Schema;
          add(`body.${name} of the wrong type`, false, (p) => ((p.body as Record<string, unknown>)[name] = wrongType(prop)));
          for (const [value, inside] of edges(prop, false)) {
            add(`body.${name} = ${shown(value)}`, inside, (p) => ((p.body as Record<string, unknown>)[name] = value));
          }
        }
      }
    }
  }
  return out;
}
