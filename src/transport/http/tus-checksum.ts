/**
 * The tus checksum extension: a PATCH may carry `Upload-Checksum: <algorithm> <base64>` for
 * its own bytes. @tus/server does not offer it, so the route hashes the body on its way to
 * tus and fails the stream at its end when the digest differs: tus then stores nothing
 * more for the request (its offset is put back by the route) and the client gets 460.
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { TremoloError } from '../../protocol/errors.ts';

/** Algorithms accepted in Upload-Checksum, as OPTIONS lists them in Tus-Checksum-Algorithm. */
export const CHUNK_CHECKSUM_ALGORITHMS = ['sha1', 'sha256'] as const;

/** `sha1 <base64>` -> parts; E_VALIDATION (400, as tus requires) for anything else. */
export function parseUploadChecksum(value: string): { algorithm: string; digest: string } {
  const m = /^([a-z0-9]+) ([A-Za-z0-9+/]+={0,2})$/.exec(value.trim());
  if (!m || !(CHUNK_CHECKSUM_ALGORITHMS as readonly string[]).includes(m[1]!)) {
    throw new TremoloError('E_VALIDATION', `Upload-Checksum must be "<${CHUNK_CHECKSUM_ALGORITHMS.join('|')}> <base64 digest>"`, {
      details: { field: 'Upload-Checksum' },
    });
  }
  return { algorithm: m[1]!, digest: m[2]! };
}

/**
 * A pass-through that hashes what goes by and, at the end, fails with `mismatch()` when the
 * digest is not `digest`; the failure reaches tus as the body stream's error.
 */
export function checksumVerifier(algorithm: string, digest: string, mismatch: () => unknown): Transform {
  const hash = createHash(algorithm);
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done: TransformCallback): void {
      if (hash.digest('base64') === digest) done();
      else done(mismatch() as Error);
    },
  });
}
