/**
 * The error answers of each operation in the OpenAPI document, each status with the catalog
 * codes it can carry (an `enum`, so a client and a conformance test can check them).
 *
 * A route declares what its own handler refuses with (`errorResponses`), beside its success
 * bodies: fastify serializes those answers with the same schemas. What the server does to
 * every request whatever its route (node's parser, the Host check, a draining server, rate
 * limits, tokens, body parsing, path parameter lengths) is added to every operation of the
 * finished document by `addServerErrors`, from what the operation's own documentation says
 * it takes: its method, parameters, body and security. One rule, written once, for all.
 */
import type { OpenAPIV3 } from 'openapi-types';
import { ERROR_CATALOG, type ErrorCode } from '../../../protocol/errors.ts';
import { codesOf, errorBodyOf } from '../../../protocol/schemas.ts';

/** A response schema as a fastify route declares it (serialization and documentation). */
export interface RouteErrorResponse {
  description: string;
  type: 'object';
  required: string[];
  properties: ReturnType<typeof errorBodyOf>['properties'];
}

/** What every request can be answered with, before or whatever its operation does. */
const ANY_REQUEST: readonly ErrorCode[] = [
  'E_MALFORMED_REQUEST', // node's parser, a missing Host, bad percent-encoding
  'E_HEADERS_TOO_LARGE',
  'E_REQUEST_TIMEOUT',
  'E_EXPECTATION_FAILED',
  'E_SHUTTING_DOWN',
  'E_INTERNAL',
];
/** A bearer token, when one is sent: checked, its subject looked up, its user metered. */
const TOKEN: readonly ErrorCode[] = ['E_TOKEN_EXPIRED', 'E_TOKEN_INVALID', 'E_TOKEN_ALGORITHM', 'E_STORAGE_UNAVAILABLE', 'E_RATE_LIMITED'];
/** fastify reads the body of any request but GET and HEAD, whatever the route. */
const ANY_BODY: readonly ErrorCode[] = ['E_BAD_JSON', 'E_PAYLOAD_TOO_LARGE', 'E_UNSUPPORTED_MEDIA_TYPE'];
const WITHOUT_BODY = new Set(['get', 'head']);
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

const RETRY_AFTER: OpenAPIV3.HeaderObject = {
  description: 'Seconds after which a retry may succeed',
  schema: { type: 'integer', minimum: 1 },
};

/** The responses of a route's handler refusals: one per catalog status, listing its codes. */
export function errorResponses(...codes: ErrorCode[]): Record<number, RouteErrorResponse> {
  const out: Record<number, RouteErrorResponse> = {};
  for (const [status, list] of byStatus(codes)) {
    const body = errorBodyOf(list);
    out[status] = { description: describe(list), type: 'object', required: body.required, properties: body.properties };
  }
  return out;
}

/** Where the document keeps the error body's shape; each response narrows its `code`. */
const ERROR_BODY_REF = '#/components/schemas/ErrorBody';

/**
 * An error response in OpenAPI form: `codes` under `status`, with a `lead` sentence saying
 * when; without a body for HEAD (the answer has none).
 */
export function errorResponse(status: number, codes: readonly ErrorCode[], opts: { lead?: string; method?: string } = {}): OpenAPIV3.ResponseObject {
  const response: OpenAPIV3.ResponseObject = { description: describe(codes, opts.lead) };
  if (opts.method !== 'head') response.content = { 'application/json': { schema: narrowedErrorBody(codes) } };
  if (status === 429 || status === 503) response.headers = { 'Retry-After': RETRY_AFTER };
  return response;
}

function narrowedErrorBody(codes: readonly ErrorCode[]): OpenAPIV3.SchemaObject {
  const code = errorBodyOf(codes).properties.error.properties.code;
  return {
    allOf: [
      { $ref: ERROR_BODY_REF },
      { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'string', enum: code.enum } } } } },
    ],
  };
}

/** Codes grouped by their catalog status. */
export function byStatus(codes: readonly ErrorCode[]): Map<number, ErrorCode[]> {
  const groups = new Map<number, ErrorCode[]>();
  for (const code of new Set(codes)) {
    const status = ERROR_CATALOG[code].status;
    groups.set(status, [...(groups.get(status) ?? []), code]);
  }
  return groups;
}

/** The codes the server itself may answer an operation with, from how the operation is documented. */
export function serverErrors(path: string, method: string, op: OpenAPIV3.OperationObject, opts: { unmetered: readonly string[] }): ErrorCode[] {
  const codes = [...ANY_REQUEST];
  if (!opts.unmetered.includes(path)) codes.push('E_RATE_LIMITED');
  const security = op.security ?? [];
  const tokenAccepted = security.some((requirement) => Object.keys(requirement).length > 0);
  const tokenOptional = security.some((requirement) => Object.keys(requirement).length === 0);
  if (tokenAccepted) codes.push(...TOKEN);
  if (tokenAccepted && !tokenOptional) codes.push('E_TOKEN_MISSING');
  const params = (op.parameters ?? []) as OpenAPIV3.ParameterObject[];
  // fastify refuses a path parameter over maxParamLength (100) before validation
  if (params.some((p) => p.in === 'path')) codes.push('E_VALIDATION', 'E_URI_TOO_LONG');
  if (params.some((p) => p.in === 'query')) codes.push('E_VALIDATION');
  if (!WITHOUT_BODY.has(method)) codes.push(...ANY_BODY);
  const json = (op.requestBody as OpenAPIV3.RequestBodyObject | undefined)?.content['application/json'];
  if (json) codes.push('E_VALIDATION');
  return codes;
}

/**
 * Adds to every operation of `doc` the answers the server gives whatever the route
 * (`serverErrors`), merged into the operation's own error responses by status. Error
 * responses that several operations share identically are kept once, in
 * `components.responses`.
 */
export function addServerErrors(doc: Partial<OpenAPIV3.Document>, opts: { unmetered: readonly string[] }): void {
  const components = (doc.components ??= {});
  // every answer that is not a success: one of the catalog's codes, a message, maybe details
  const anyCode = Object.keys(ERROR_CATALOG) as ErrorCode[];
  components.schemas = { ...components.schemas, ErrorBody: errorBodyOf(anyCode) as OpenAPIV3.SchemaObject };
  const operations: { method: string; responses: Record<string, OpenAPIV3.ResponseObject> }[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item?.[method];
      if (!op) continue;
      const responses = op.responses as Record<string, OpenAPIV3.ResponseObject>;
      // the route's own refusals first, in the same form
      for (const [status, response] of Object.entries(responses)) {
        if (Number(status) >= 400) responses[status] = merged(response, Number(status), [], method);
      }
      for (const [status, codes] of byStatus(serverErrors(path, method, op, opts))) {
        responses[String(status)] = merged(responses[String(status)], status, codes, method);
      }
      operations.push({ method, responses });
    }
  }
  share(operations, components);
}

/** `existing` (an error response, or a body of another kind under the same status) with `codes` added. */
function merged(existing: OpenAPIV3.ResponseObject | undefined, status: number, codes: ErrorCode[], method: string): OpenAPIV3.ResponseObject {
  if (!existing) return errorResponse(status, codes, { method });
  const lead = leadOf(existing.description);
  const schema = existing.content?.['application/json']?.schema as OpenAPIV3.SchemaObject | undefined;
  // a body of another kind (a health report) under the same status is kept as a choice
  const members = schema ? ((schema.anyOf ?? [schema]) as OpenAPIV3.SchemaObject[]) : [];
  const errorAt = members.findIndex((m) => codesIn(m).length > 0);
  const own = schema ? (errorAt >= 0 ? codesIn(members[errorAt]!) : []) : codesListed(existing.description);
  const all = [...own, ...codes];
  if (all.length === 0) return existing;
  const response = errorResponse(status, all, { lead, method });
  const headers = { ...existing.headers, ...response.headers };
  if (Object.keys(headers).length > 0) response.headers = headers;
  const others = members.filter((_, i) => i !== errorAt);
  if (others.length > 0 && response.content) {
    response.content = { 'application/json': { schema: { anyOf: [...others, response.content['application/json']!.schema!] } } };
  }
  return response;
}

/** The codes an error body schema admits, inline (a route's) or narrowed from ErrorBody. */
function codesIn(schema: OpenAPIV3.SchemaObject): ErrorCode[] {
  return [schema, ...((schema.allOf ?? []) as OpenAPIV3.SchemaObject[])].flatMap((s) => codesOf(s));
}

/** Moves error responses used identically by several operations to `components.responses`. */
function share(operations: { method: string; responses: Record<string, OpenAPIV3.ResponseObject | OpenAPIV3.ReferenceObject> }[], components: OpenAPIV3.ComponentsObject): void {
  const uses = new Map<string, number>();
  const keyOf = (response: OpenAPIV3.ResponseObject | OpenAPIV3.ReferenceObject) => JSON.stringify(response);
  for (const { responses } of operations) {
    for (const [status, response] of Object.entries(responses)) if (Number(status) >= 400) uses.set(keyOf(response), (uses.get(keyOf(response)) ?? 0) + 1);
  }
  const names = new Map<string, string>();
  const shared: Record<string, OpenAPIV3.ResponseObject> = {};
  for (const { method, responses } of operations) {
    for (const [status, response] of Object.entries(responses)) {
      const key = keyOf(response);
      if (Number(status) < 400 || (uses.get(key) ?? 0) < 2 || '$ref' in response) continue;
      let name = names.get(key);
      if (!name) {
        const content = response.content?.['application/json']?.schema;
        const codes = content ? codesIn(content as OpenAPIV3.SchemaObject) : codesListed(response.description);
        // the status and codes say what it is; a suffix keeps apart responses differing otherwise
        const base = `${status}-${method === 'head' ? 'head-' : ''}${codes.map((c) => c.slice(2)).join('-')}`;
        name = base;
        for (let n = 2; shared[name]; n++) name = `${base}-${n}`;
        names.set(key, name);
        shared[name] = response;
      }
      responses[status] = { $ref: `#/components/responses/${name}` };
    }
  }
  components.responses = { ...components.responses, ...shared };
}

const LIST_START = '\n\n- `E_';

function describe(codes: readonly ErrorCode[], lead?: string): string {
  const list = [...new Set(codes)]
    .sort()
    .map((code) => `- \`${code}\`: ${ERROR_CATALOG[code].message}`)
    .join('\n');
  return `${lead ?? 'Refused'}\n\n${list}`;
}

function leadOf(description: string): string | undefined {
  const at = description.indexOf(LIST_START);
  const lead = at >= 0 ? description.slice(0, at) : description;
  return lead === 'Default Response' ? undefined : lead;
}

/** The codes listed in a description made by `describe` (responses without a body keep them there). */
function codesListed(description: string): ErrorCode[] {
  return [...description.matchAll(/^- `(E_[A-Z_]+)`/gm)].map((m) => m[1]).filter((c): c is ErrorCode => c !== undefined && Object.hasOwn(ERROR_CATALOG, c));
}
