/**
 * The OTLP/HTTP (JSON) span export, written for tremolo instead of the SDK's
 * OTLPTraceExporter (otel.ts picks it for a plain http:// endpoint without compression; the
 * SDK's exporter is kept for https:// and gzip). Why (issue 16, docs/benchmarks.md "tracing"):
 * - exporting was 60 % of what a sampled span cost (span-cost loop: a root and a child, 13 µs
 *   per request exported to a sink in the same process, 5 µs with nothing exported), and the
 *   SDK's exporter builds an object per span,
 *   attribute and status, converts every timestamp through BigInt, stringifies the whole tree
 *   and encodes it again as bytes. Here each span is written once, straight into the JSON text,
 *   and the resource and scope are written once per process;
 * - its HTTP client (http.request, a Readable piped into it, a new request object per batch)
 *   runs through the same stream and OutgoingMessage functions as the server's responses, with
 *   objects of other shapes: V8 then throws away code optimized for the responses (deopts
 *   counted at 1 % sampling). Here one kept-alive socket carries every batch, written with a
 *   single write and its short response read by hand.
 *
 * Nothing here imports OpenTelemetry: spans are read through `SpanRecord`, which the SDK's
 * ReadableSpan satisfies. The payload is the same OTLP JSON as the SDK's (hex ids, nanosecond
 * strings, kind + 1, flags with the remote bits).
 */
import { connect, type Socket } from 'node:net';

type HrTime = readonly [number, number];
type AttributeValue = string | number | boolean | readonly unknown[] | Uint8Array | null | undefined;
type SpanAttributes = Readonly<Record<string, AttributeValue | unknown>>;

interface SpanContextLike {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
  readonly isRemote?: boolean;
  readonly traceState?: { serialize(): string };
}

/** What the encoder reads of a finished span: a structural subset of the SDK's ReadableSpan. */
export interface SpanRecord {
  readonly name: string;
  readonly kind: number;
  spanContext(): SpanContextLike;
  readonly parentSpanContext?: SpanContextLike | undefined;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly status: { readonly code: number; readonly message?: string | undefined };
  readonly attributes: SpanAttributes;
  readonly links: readonly { readonly context: SpanContextLike; readonly attributes?: SpanAttributes | undefined; readonly droppedAttributesCount?: number | undefined }[];
  readonly events: readonly { readonly name: string; readonly time: HrTime; readonly attributes?: SpanAttributes | undefined; readonly droppedAttributesCount?: number | undefined }[];
  readonly droppedAttributesCount: number;
  readonly droppedEventsCount: number;
  readonly droppedLinksCount: number;
  readonly resource: { readonly attributes: SpanAttributes; readonly schemaUrl?: string | undefined };
  readonly instrumentationScope: { readonly name: string; readonly version?: string | undefined; readonly schemaUrl?: string | undefined };
}

const str = (s: string): string => JSON.stringify(s);

/** Nanoseconds since the epoch as a decimal string, without BigInt for the usual [s, ns] pair. */
export function nanos(t: HrTime): string {
  const [s, ns] = t;
  if (Number.isSafeInteger(s) && s > 0 && Number.isInteger(ns) && ns >= 0 && ns < 1e9) return `${s}${String(ns).padStart(9, '0')}`;
  return (BigInt(Math.trunc(s)) * 1_000_000_000n + BigInt(Math.trunc(ns))).toString();
}

/** An OTLP AnyValue, as the SDK's JSON serializer writes it (integers as numbers). */
function anyValue(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return `{"stringValue":${str(v)}}`;
    case 'number':
      return Number.isInteger(v) ? `{"intValue":${v}}` : `{"doubleValue":${JSON.stringify(v)}}`;
    case 'boolean':
      return `{"boolValue":${v}}`;
  }
  if (v instanceof Uint8Array) return `{"bytesValue":${str(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'))}}`;
  if (Array.isArray(v)) return `{"arrayValue":{"values":[${v.map(anyValue).join(',')}]}}`;
  if (typeof v === 'object' && v !== null) return `{"kvlistValue":{"values":[${keyValues(v as SpanAttributes)}]}}`;
  return '{}';
}

function keyValues(attributes: SpanAttributes): string {
  let out = '';
  for (const key in attributes) {
    if (!Object.hasOwn(attributes, key)) continue;
    if (out) out += ',';
    out += `{"key":${str(key)},"value":${anyValue(attributes[key])}}`;
  }
  return out;
}

const flags = (ctx: SpanContextLike, isRemote: boolean | undefined): number => (ctx.traceFlags & 0xff) | 0x100 | (isRemote ? 0x200 : 0);

/** One span's OTLP JSON object. */
export function spanJson(s: SpanRecord): string {
  const ctx = s.spanContext();
  const parent = s.parentSpanContext;
  const traceState = ctx.traceState?.serialize();
  let out = `{"traceId":"${ctx.traceId}","spanId":"${ctx.spanId}"`;
  if (parent?.spanId) out += `,"parentSpanId":"${parent.spanId}"`;
  if (traceState !== undefined) out += `,"traceState":${str(traceState)}`;
  out += `,"name":${str(s.name)},"kind":${s.kind + 1},"startTimeUnixNano":"${nanos(s.startTime)}","endTimeUnixNano":"${nanos(s.endTime)}"`;
  out += `,"attributes":[${keyValues(s.attributes)}],"droppedAttributesCount":${s.droppedAttributesCount}`;
  out += `,"events":[`;
  for (let i = 0; i < s.events.length; i++) {
    const e = s.events[i]!;
    out += `${i ? ',' : ''}{"attributes":[${e.attributes ? keyValues(e.attributes) : ''}],"name":${str(e.name)},"timeUnixNano":"${nanos(e.time)}","droppedAttributesCount":${e.droppedAttributesCount ?? 0}}`;
  }
  out += `],"droppedEventsCount":${s.droppedEventsCount},"status":{"code":${s.status.code}`;
  if (s.status.message !== undefined) out += `,"message":${str(s.status.message)}`;
  out += `},"links":[`;
  for (let i = 0; i < s.links.length; i++) {
    const l = s.links[i]!;
    const ts = l.context.traceState?.serialize();
    out += `${i ? ',' : ''}{"attributes":[${l.attributes ? keyValues(l.attributes) : ''}],"spanId":"${l.context.spanId}","traceId":"${l.context.traceId}"`;
    if (ts !== undefined) out += `,"traceState":${str(ts)}`;
    out += `,"droppedAttributesCount":${l.droppedAttributesCount ?? 0},"flags":${flags(l.context, l.context.isRemote)}}`;
  }
  return `${out}],"droppedLinksCount":${s.droppedLinksCount},"flags":${flags(ctx, parent?.isRemote)}}`;
}

/** A finished span written as JSON (UTF-8 bytes), with what groups it in a request. */
interface EncodedSpan {
  readonly resource: SpanRecord['resource'];
  readonly scope: SpanRecord['instrumentationScope'];
  readonly json: Buffer;
}

const COMMA = Buffer.from(',');

/** A span as the bytes of its JSON: copied once more, into the request, with no string joined around it. */
const encodedSpan = (s: SpanRecord): EncodedSpan => ({ resource: s.resource, scope: s.instrumentationScope, json: Buffer.from(spanJson(s)) });

/**
 * An OTLP ExportTraceServiceRequest in JSON: spans grouped by resource, then by scope (in
 * practice one of each per process), in the order given.
 */
export class OtlpJsonEncoder {
  /** Each resource's and scope's JSON, written once (they are the same objects for every span). */
  readonly #resources = new WeakMap<object, string>();
  readonly #scopes = new WeakMap<object, string>();

  encode(spans: readonly SpanRecord[]): Buffer {
    return this.#encodeEncoded(spans.map(encodedSpan));
  }

  /** The request for spans already written (`encodedSpan`), grouped by their resource and scope. */
  #encodeEncoded(spans: readonly EncodedSpan[]): Buffer {
    const byResource = new Map<SpanRecord['resource'], Map<SpanRecord['instrumentationScope'], Buffer[]>>();
    for (const s of spans) {
      let byScope = byResource.get(s.resource);
      if (!byScope) byResource.set(s.resource, (byScope = new Map()));
      let list = byScope.get(s.scope);
      if (!list) byScope.set(s.scope, (list = []));
      list.push(s.json);
    }
    // the spans' bytes are copied once, into the request; only the few words around them are text
    const parts: Buffer[] = [];
    let text = '{"resourceSpans":[';
    let firstResource = true;
    for (const [resource, byScope] of byResource) {
      text += `${firstResource ? '' : ','}{"resource":${this.#resource(resource)},"scopeSpans":[`;
      firstResource = false;
      let firstScope = true;
      for (const [scope, list] of byScope) {
        text += `${firstScope ? '' : ','}{"scope":${this.#scope(scope)},"spans":[`;
        firstScope = false;
        parts.push(Buffer.from(text));
        for (let i = 0; i < list.length; i++) {
          if (i) parts.push(COMMA);
          parts.push(list[i]!);
        }
        text = ']';
        if (scope.schemaUrl !== undefined) text += `,"schemaUrl":${str(scope.schemaUrl)}`;
        text += '}';
      }
      text += ']';
      if (resource.schemaUrl) text += `,"schemaUrl":${str(resource.schemaUrl)}`;
      text += '}';
    }
    parts.push(Buffer.from(`${text}]}`));
    return Buffer.concat(parts);
  }

  #resource(r: SpanRecord['resource']): string {
    let json = this.#resources.get(r);
    if (json === undefined) {
      json = `{"attributes":[${keyValues(r.attributes)}],"droppedAttributesCount":0${r.schemaUrl ? `,"schemaUrl":${str(r.schemaUrl)}` : ''}}`;
      this.#resources.set(r, json);
    }
    return json;
  }

  #scope(s: SpanRecord['instrumentationScope']): string {
    let json = this.#scopes.get(s);
    if (json === undefined) {
      json = `{"name":${str(s.name)}${s.version !== undefined ? `,"version":${str(s.version)}` : ''}}`;
      this.#scopes.set(s, json);
    }
    return json;
  }
}

/** How one POST ended, as the SDK's transports say it: retryable failures are tried again. */
export type SendOutcome = { status: 'success' } | { status: 'retryable'; error: Error; retryInMs?: number } | { status: 'failure'; error: Error };

export interface OtlpHttpTarget {
  /** An http:// URL (the path is where batches are posted). */
  readonly url: URL;
  /** Extra request headers (OTEL_EXPORTER_OTLP_HEADERS). */
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
/** A response larger than this is not an OTLP answer: the connection is dropped (as the SDK does). */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * POSTs to one OTLP/HTTP endpoint over one kept-alive connection, one request at a time (a
 * batch waits for the one before it), opened on first use and again after the server closed it.
 * HTTP/1.1 by hand: a request is its head and body written at once; the response's status decides,
 * its body (read to its Content-Length or last chunk) is dropped.
 */
export class OtlpHttpSender {
  readonly #head: string;
  #socket: Socket | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(private readonly target: OtlpHttpTarget) {
    const { url } = target;
    if (url.protocol !== 'http:') throw new TypeError(`OtlpHttpSender posts to http:// only, not ${url.protocol}`);
    let head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n`;
    if (url.username) head += `Authorization: Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}\r\n`;
    for (const [k, v] of Object.entries(target.headers)) {
      if (/[\r\n]/.test(k + v)) throw new TypeError(`header ${JSON.stringify(k)} has a line break`);
      head += `${k}: ${v}\r\n`;
    }
    this.#head = head;
  }

  /** Posts `body`; never rejects. */
  send(body: Buffer): Promise<SendOutcome> {
    const run = this.#tail.then(() => this.#post(body));
    this.#tail = run;
    return run;
  }

  close(): void {
    this.#closed = true;
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #connection(): Socket {
    let socket = this.#socket;
    if (!socket || socket.destroyed || !socket.writable) {
      const { hostname, port } = this.target.url;
      socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || 80), noDelay: true });
      // a kept-alive connection is no reason to keep the process alive
      socket.unref();
      socket.on('error', () => {}); // surfaced per request (close), never as an unhandled event
      this.#socket = socket;
    }
    return socket;
  }

  #post(payload: Buffer): Promise<SendOutcome> {
    if (this.#closed) return Promise.resolve({ status: 'failure', error: new Error('exporter closed') });
    const socket = this.#connection();
    return new Promise<SendOutcome>((resolve) => {
      const response = new ResponseReader();
      let settled = false;
      const done = (outcome: SendOutcome, keep: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('close', onClose);
        socket.off('error', onError);
        if (!keep) {
          socket.destroy();
          if (this.#socket === socket) this.#socket = undefined;
        }
        resolve(outcome);
      };
      const decide = () => {
        const status = response.status;
        const keep = response.keepAlive;
        if (status >= 200 && status <= 299) done({ status: 'success' }, keep);
        else if (RETRYABLE_STATUS.has(status)) done({ status: 'retryable', error: new Error(`OTLP endpoint answered ${status}`), ...retryAfter(response.retryAfter) }, keep);
        else done({ status: 'failure', error: new Error(`OTLP endpoint answered ${status}`) }, keep);
      };
      const onData = (chunk: Buffer) => {
        const r = response.add(chunk);
        if (r === 'bad') done({ status: 'failure', error: new Error('OTLP endpoint sent a malformed or oversized response') }, false);
        else if (r === 'done') decide();
      };
      // a connection closed before the response ended: the batch may or may not have arrived
      // (OTLP receivers accept duplicates), so it is tried again; a response without a length
      // ends with its connection
      const onClose = () => {
        if (response.untilClose) decide();
        else done({ status: 'retryable', error: new Error('OTLP connection closed') }, false);
      };
      const onError = (err: Error) => done({ status: 'retryable', error: err }, false);
      const timer = setTimeout(() => done({ status: 'retryable', error: new Error('OTLP request timed out') }, false), this.target.timeoutMs);
      timer.unref();
      socket.on('data', onData);
      socket.on('close', onClose);
      socket.on('error', onError);
      // head and body leave in one writev
      socket.cork();
      socket.write(`${this.#head}Content-Length: ${payload.length}\r\n\r\n`);
      socket.write(payload);
      socket.uncork();
    });
  }
}

const retryAfter = (h: string | undefined): { retryInMs?: number } => {
  if (h === undefined) return {};
  const s = Number(h);
  if (Number.isFinite(s) && s >= 0) return { retryInMs: s * 1000 };
  const at = Date.parse(h);
  return Number.isFinite(at) ? { retryInMs: Math.max(0, at - Date.now()) } : {};
};

/** Reads one HTTP/1.1 response: status, the headers that matter, and where its body ends. */
class ResponseReader {
  status = 0;
  keepAlive = true;
  retryAfter: string | undefined;
  /** No length given: the body runs to the connection's end. */
  untilClose = false;
  #buf: Buffer = Buffer.alloc(0);
  #bodyStart = -1;
  #length = -1;
  #chunked = false;

  add(chunk: Buffer): 'more' | 'done' | 'bad' {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    if (this.#buf.length > MAX_RESPONSE_BYTES) return 'bad';
    if (this.#bodyStart < 0) {
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end < 0) return 'more';
      const lines = this.#buf.toString('latin1', 0, end).split('\r\n');
      const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '');
      if (!m) return 'bad';
      this.status = Number(m[2]);
      this.keepAlive = m[1] === '1';
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i]!;
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === 'content-length') this.#length = Number(value);
        else if (name === 'transfer-encoding') this.#chunked = value.toLowerCase().includes('chunked');
        else if (name === 'connection') this.keepAlive = value.toLowerCase() === 'keep-alive' || (this.keepAlive && value.toLowerCase() !== 'close');
        else if (name === 'retry-after') this.retryAfter = value;
      }
      this.#bodyStart = end + 4;
      if (this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200)) this.#length = 0;
      if (!this.#chunked && !(this.#length >= 0)) {
        this.untilClose = true;
        this.keepAlive = false;
      }
    }
    if (this.untilClose) return 'more';
    if (!this.#chunked) return this.#buf.length - this.#bodyStart >= this.#length ? 'done' : 'more';
    // chunked: walk the chunk sizes from the body's start; done after the last (empty) chunk
    let at = this.#bodyStart;
    for (;;) {
      const eol = this.#buf.indexOf('\r\n', at);
      if (eol < 0) return 'more';
      const size = Number.parseInt(this.#buf.toString('latin1', at, eol), 16);
      if (!Number.isFinite(size) || size < 0) return 'bad';
      // the last chunk, then trailers (usually none) up to an empty line
      if (size === 0) return this.#buf.indexOf('\r\n\r\n', eol) >= 0 ? 'done' : 'more';
      at = eol + 2 + size + 2;
      if (at > this.#buf.length) return 'more';
    }
  }
}

export interface ExportResultLike {
  /** 0: success, 1: failed (the SDK's ExportResultCode). */
  code: 0 | 1;
  error?: Error;
}

const MAX_ATTEMPTS = 5;
const INITIAL_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 5000;
/** Batches waiting for the connection at most; more fail at once (the SDK's exporter allows 30). */
const MAX_PENDING = 30;

/**
 * A span exporter (the SDK's SpanExporter, structurally) over `OtlpJsonEncoder` and
 * `OtlpHttpSender`. A retryable failure is tried again, at most 5 attempts within the timeout,
 * with the SDK's back-off (1 s growing 1.5x to 5 s, ±20 % jitter, or the server's Retry-After).
 */
export class OtlpJsonExporter {
  readonly #encoder = new OtlpJsonEncoder();
  readonly #sender: OtlpHttpSender;
  readonly #pending = new Set<Promise<void>>();
  #shutdown = false;

  constructor(private readonly target: OtlpHttpTarget) {
    this.#sender = new OtlpHttpSender(target);
  }

  export(spans: SpanRecord[], resultCallback: (result: ExportResultLike) => void): void {
    if (this.#shutdown) return resultCallback({ code: 1, error: new Error('exporter shut down') });
    if (this.#pending.size >= MAX_PENDING) return resultCallback({ code: 1, error: new Error('too many exports waiting') });
    let body: Buffer;
    try {
      body = this.#encoder.encode(spans);
    } catch (err) {
      return resultCallback({ code: 1, error: err instanceof Error ? err : new Error(String(err)) });
    }
    void this.send(body).then(resultCallback);
  }

  /** Posts an encoded request (tried again as above); never rejects. */
  send(body: Buffer): Promise<ExportResultLike> {
    if (this.#shutdown) return Promise.resolve({ code: 1, error: new Error('exporter shut down') });
    if (this.#pending.size >= MAX_PENDING) return Promise.resolve({ code: 1, error: new Error('too many exports waiting') });
    const run = this.#deliver(body);
    const tracked = run.then(() => {});
    this.#pending.add(tracked);
    void tracked.finally(() => this.#pending.delete(tracked));
    return run;
  }

  async #deliver(body: Buffer): Promise<ExportResultLike> {
    const deadline = Date.now() + this.target.timeoutMs;
    let backoff = INITIAL_BACKOFF_MS;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.#sender.send(body);
      if (outcome.status === 'success') return { code: 0 };
      if (outcome.status === 'failure' || attempt >= MAX_ATTEMPTS || this.#shutdown) return { code: 1, error: outcome.error };
      const wait = outcome.retryInMs ?? backoff * (0.8 + Math.random() * 0.4);
      backoff = Math.min(backoff * 1.5, MAX_BACKOFF_MS);
      if (Date.now() + wait > deadline) return { code: 1, error: outcome.error };
      await new Promise((resolve) => setTimeout(resolve, wait).unref());
    }
  }

  /** Waits for every export under way. */
  async forceFlush(): Promise<void> {
    await Promise.all(this.#pending);
  }

  async shutdown(): Promise<void> {
    this.#shutdown = true;
    await this.forceFlush();
    this.#sender.close();
  }
}

/**
 * Where OTLP/HTTP spans go, from the standard variables as the SDK's exporter reads them
 * (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces,
 * else http://localhost:4318/v1/traces; _HEADERS `k=v,...`; _TIMEOUT ms, 10 s), or undefined
 * when this exporter does not serve them (https://, gzip): the SDK's exporter does.
 */
export function otlpHttpTarget(env: Readonly<Record<string, string | undefined>>, exporterUrl?: string): OtlpHttpTarget | undefined {
  const compression = env.OTEL_EXPORTER_OTLP_TRACES_COMPRESSION ?? env.OTEL_EXPORTER_OTLP_COMPRESSION;
  if (compression !== undefined && compression.trim() !== '' && compression.trim() !== 'none') return undefined;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const raw = exporterUrl || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || (base ? `${base}${base.endsWith('/') ? '' : '/'}v1/traces` : 'http://localhost:4318/v1/traces');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined; // the SDK's exporter reports it
  }
  if (url.protocol !== 'http:') return undefined;
  const headers = { ...parseHeaders(env.OTEL_EXPORTER_OTLP_HEADERS), ...parseHeaders(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS) };
  const timeout = Number(env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT ?? 10_000);
  return { url, headers, timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : 10_000 };
}

/** The W3C Baggage-like `key=value,...` list of OTEL_EXPORTER_OTLP_HEADERS, values URL-decoded. */
function parseHeaders(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch {
      // kept as written
    }
    if (key && !/[\r\n:]/.test(key) && !/[\r\n]/.test(value)) out[key] = value;
  }
  return out;
}
