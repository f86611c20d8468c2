/**
 * A real gRPC client of tremolo.v1, built at run time from the proto files the package
 * ships (no generated code), with promise helpers for unary calls and streams.
 */
import { credentials, loadPackageDefinition, Metadata, type ChannelCredentials, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { loadContract } from '../../src/transport/grpc/contract.ts';

type UnaryMethod = (req: object, metadata: Metadata, options: { deadline?: number }, cb: (err: ServiceError | null, res: unknown) => void) => unknown;
type StreamMethod = (req: object, metadata: Metadata, options?: { deadline?: number }) => ClientReadableStream<unknown>;

export interface CallOptions {
  token?: string;
  deadline?: number;
  /** More metadata entries (e.g. `traceparent`). */
  metadata?: Record<string, string>;
}

export interface TremoloGrpcClient {
  client: Client;
  /** A unary call: resolves with the response, rejects with the ServiceError. */
  call<T = Record<string, unknown>>(method: string, req: object, opts?: CallOptions): Promise<T>;
  /** A server stream. */
  stream(method: string, req: object, opts?: CallOptions): ClientReadableStream<unknown>;
  close(): void;
}

/** `address` is host:port. Pass `rootCert` to connect over TLS. */
export function grpcClient(address: string, opts: { rootCert?: string; token?: string; defaults?: boolean } = {}): TremoloGrpcClient {
  const contract = loadContract({ keepCase: false, longs: Number, enums: String, defaults: opts.defaults ?? true, oneofs: true });
  const pkg = loadPackageDefinition(contract) as unknown as { tremolo: { v1: { Tremolo: new (address: string, creds: ChannelCredentials, options?: object) => Client } } };
  const creds = opts.rootCert ? credentials.createSsl(Buffer.from(opts.rootCert)) : credentials.createInsecure();
  const client = new pkg.tremolo.v1.Tremolo(address, creds, opts.rootCert ? { 'grpc.ssl_target_name_override': 'localhost' } : {});
  const metadata = (o: CallOptions) => {
    const m = new Metadata();
    const t = o.token ?? opts.token;
    if (t) m.set('authorization', `Bearer ${t}`);
    for (const [key, value] of Object.entries(o.metadata ?? {})) m.set(key, value);
    return m;
  };
  const method = <M>(name: string) => {
    const fn = (client as unknown as Record<string, unknown>)[name];
    if (typeof fn !== 'function') throw new Error(`no method ${name}`);
    return fn.bind(client) as M;
  };
  return {
    client,
    call: <T>(name: string, req: object, o: CallOptions = {}) =>
      new Promise<T>((resolve, reject) => {
        method<UnaryMethod>(name)(req, metadata(o), o.deadline !== undefined ? { deadline: o.deadline } : {}, (err, res) => (err ? reject(err) : resolve(res as T)));
      }),
    stream: (name, req, o = {}) => method<StreamMethod>(name)(req, metadata(o), o.deadline !== undefined ? { deadline: o.deadline } : {}),
    close: () => client.close(),
  };
}

/** What a stream delivers, collected as it arrives, with its end (status) when it ends. */
export interface Collected<T> {
  items: T[];
  /** Set when the stream ended: null for OK, else the error. */
  ended: ServiceError | null | undefined;
}

export function collect<T>(stream: ClientReadableStream<unknown>): Collected<T> {
  const out: Collected<T> = { items: [], ended: undefined };
  stream.on('data', (d: T) => out.items.push(d));
  stream.on('error', (err: ServiceError) => (out.ended = err));
  stream.on('end', () => {
    if (out.ended === undefined) out.ended = null;
  });
  return out;
}

/** The catalog code of a failed call (the `tremolo-error-code` trailer). */
export function errorCodeOf(err: unknown): string | undefined {
  const value = (err as ServiceError).metadata?.get('tremolo-error-code')[0];
  return typeof value === 'string' ? value : undefined;
}
