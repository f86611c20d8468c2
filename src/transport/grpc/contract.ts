/**
 * The gRPC contract: `proto/tremolo/v1/*.proto` at the package root (the files are the
 * contract and ship in the package). Found from this module's place whether it runs from
 * src/ under tsx or from a build in dist/, both one level below the package root.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';

/** The service's full name, as clients and reflection see it. */
export const SERVICE_NAME = 'tremolo.v1.Tremolo';
const MAIN_FILE = 'tremolo/v1/tremolo.proto';

/**
 * How messages map to JavaScript: camelCase fields, 64-bit integers as numbers (counters and
 * offsets stay far below 2^53), unset fields left undefined so an absent `since_offset` is not
 * read as 0, and the name of the set member of each oneof.
 */
export const LOADER_OPTIONS: Options = { keepCase: false, longs: Number, enums: String, defaults: false, oneofs: true };

/** The folder holding `tremolo/v1/tremolo.proto`: the package's `proto/`. */
export function protoRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, MAIN_FILE))) return candidate;
    if (dirname(dir) === dir) throw new Error(`proto/${MAIN_FILE} not found above ${from}: the package is incomplete`);
  }
}

/** The parsed contract (for the server, reflection and clients built from the same files). */
export function loadContract(options: Options = LOADER_OPTIONS): PackageDefinition {
  const root = protoRoot();
  return loadSync(join(root, MAIN_FILE), { ...options, includeDirs: [root] });
}
