/**
 * What an upload is, apart from where its bytes live: its id, the metadata keys only the
 * server sets, and the whole-file checksum a client may declare. Shared by the upload
 * files (storage/media/upload-files.ts), the media services and the tus routes, so the
 * routes read an upload without reaching into storage.
 */
import { randomBytes } from 'node:crypto';
import { TremoloError } from '../protocol/errors.ts';

/** What tus keeps about an upload (the subset we read). */
export interface UploadInfo {
  id: string;
  size?: number;
  /** Bytes received so far (the file's length: tus's record keeps only the declared size). */
  offset: number;
  metadata: Record<string, string | null>;
  creationDate?: string;
}

/** The metadata key that names an upload's owner: set by the server, trusted by ownership checks, never shown to clients. */
export const OWNER_METADATA_KEY = 'owner';

/** The upload if it exists and belongs to `userId`; E_UPLOAD_NOT_FOUND otherwise (others' uploads look absent). */
export function ownedUpload(info: UploadInfo | null, userId: string): UploadInfo {
  if (!info || info.metadata[OWNER_METADATA_KEY] !== userId) throw new TremoloError('E_UPLOAD_NOT_FOUND');
  return info;
}

/**
 * The metadata key that marks a partial upload of the tus concatenation extension (value
 * `partial`): set by the server, never shown to clients. A partial has no job of its own
 * and expires even when finished, unless a final upload took its bytes first.
 */
export const CONCAT_METADATA_KEY = 'concat';

/** True for a partial upload (concatenation), which only a final upload of its owner may use. */
export function isPartial(info: Pick<UploadInfo, 'metadata'>): boolean {
  return info.metadata[CONCAT_METADATA_KEY] === 'partial';
}

/** Upload ids are `<ownerId>-<random>`; the owner is also kept in the metadata, which is what ownership checks trust. */
const UPLOAD_ID = /^[A-Za-z0-9]{1,64}-[a-f0-9]{32}$/;

export function newUploadId(ownerId: string): string {
  return `${ownerId}-${randomBytes(16).toString('hex')}`;
}

export function isUploadId(id: string): boolean {
  return UPLOAD_ID.test(id);
}

/** Checksum algorithms accepted in the `checksum` metadata (`<algorithm> <base64 digest>`). */
export const CHECKSUM_ALGORITHMS: ReadonlySet<string> = new Set(['sha256', 'sha1', 'md5']);

/** `sha256 <base64>` -> parts; E_VALIDATION for anything else. */
export function parseChecksum(value: string): { algorithm: string; digest: string } {
  const m = /^([a-z0-9]+) ([A-Za-z0-9+/]+={0,2})$/.exec(value.trim());
  if (!m || !CHECKSUM_ALGORITHMS.has(m[1]!)) {
    throw new TremoloError('E_VALIDATION', 'checksum must be "<sha256|sha1|md5> <base64 digest>"', { details: { field: 'checksum' } });
  }
  return { algorithm: m[1]!, digest: m[2]! };
}
