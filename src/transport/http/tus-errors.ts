/**
 * @tus/server's refusals as catalog errors. tus answers in plain text, and on a 500 its
 * text ends with the internal error's own message (errno, file paths under DATA_DIR):
 * that text is never passed on. Known refusals get a code and a message of ours; anything
 * else gets the catalog's message for the code its status maps to. The caller keeps tus's
 * status code, which tus clients act on (409 offset mismatch, 410 expired, 460 checksum).
 */
import { ERRORS } from '@tus/server';
import { TremoloError, type ErrorCode } from '../../protocol/errors.ts';

type TusErrorName = keyof typeof ERRORS;

/** tus's known refusals, by name in its ERRORS table -> what the client is told. */
const KNOWN: Partial<Record<TusErrorName, { code: ErrorCode; message?: string; field?: string }>> = {
  MISSING_OFFSET: { code: 'E_VALIDATION', message: 'Upload-Offset is required', field: 'Upload-Offset' },
  INVALID_OFFSET: { code: 'E_VALIDATION', message: "Upload-Offset does not match the upload's offset; HEAD the upload for it", field: 'Upload-Offset' },
  INVALID_CONTENT_TYPE: { code: 'E_UNSUPPORTED_MEDIA_TYPE', message: 'A PATCH must be sent as application/offset+octet-stream' },
  INVALID_LENGTH: { code: 'E_VALIDATION', message: 'Upload-Length is required', field: 'Upload-Length' },
  INVALID_METADATA: { code: 'E_VALIDATION', message: 'Upload-Metadata must be comma-separated "key base64value" pairs with unique keys', field: 'Upload-Metadata' },
  INVALID_TERMINATION: { code: 'E_VALIDATION', message: 'A finished upload cannot be terminated' },
  ABORTED: { code: 'E_BUSY', message: 'Another request for this upload took over; resume from its offset' },
  ERR_LOCK_TIMEOUT: { code: 'E_BUSY', message: 'The upload is busy with another request; retry shortly' },
  FILE_NOT_FOUND: { code: 'E_UPLOAD_NOT_FOUND', message: 'No such upload' },
  FILE_NO_LONGER_EXISTS: { code: 'E_UPLOAD_NOT_FOUND', message: 'The upload has expired or was removed' },
  ERR_SIZE_EXCEEDED: { code: 'E_PAYLOAD_TOO_LARGE', message: "More bytes were sent than the upload's length" },
  ERR_MAX_SIZE_EXCEEDED: { code: 'E_PAYLOAD_TOO_LARGE' },
  UNSUPPORTED_CONCATENATION_EXTENSION: { code: 'E_VALIDATION', message: 'Parallel uploads (concatenation) are not offered' },
  UNSUPPORTED_CREATION_DEFER_LENGTH_EXTENSION: { code: 'E_VALIDATION', message: 'Upload-Length is required (deferred lengths are not accepted)' },
  UNSUPPORTED_EXPIRATION_EXTENSION: { code: 'E_INTERNAL' },
};

const BY_BODY = new Map(
  Object.entries(KNOWN).map(([name, known]) => [ERRORS[name as TusErrorName].body.trim(), known] as const),
);

/** The catalog code for a status tus answered with, when its text is not one we know. */
function codeForStatus(status: number): ErrorCode {
  if (status === 404 || status === 410) return 'E_UPLOAD_NOT_FOUND';
  if (status === 413) return 'E_PAYLOAD_TOO_LARGE';
  if (status === 415) return 'E_UNSUPPORTED_MEDIA_TYPE';
  if (status === 460) return 'E_CHECKSUM_MISMATCH';
  if (status >= 500 && status !== 501) return 'E_INTERNAL';
  return 'E_VALIDATION'; // 400, 403, 409, 412 (Tus-Resumable missing), 501 (an extension we do not offer)
}

/** The error to answer with for tus's response `status` and plain-text `body`. */
export function tusError(status: number, body: string): TremoloError {
  const text = body.trim();
  // a 500's text is "Something went wrong...\n<internal message>": it never equals a known one
  const known = BY_BODY.get(text);
  if (known) return new TremoloError(known.code, known.message, known.field ? { details: { field: known.field } } : {});
  // tus's header check names only tus header names ("Invalid upload-offset"): safe to repeat
  const invalid = status === 400 ? /^Invalid ((?:[a-z-]+ ?)+)$/.exec(text) : null;
  if (invalid) {
    const names = invalid[1]!.trim();
    if (names === 'content-type') return new TremoloError('E_UNSUPPORTED_MEDIA_TYPE', 'A PATCH must be sent as application/offset+octet-stream');
    return new TremoloError('E_VALIDATION', `Invalid tus header: ${names}`, { details: { field: names } });
  }
  if (status === 412) return new TremoloError('E_VALIDATION', 'Tus-Resumable: 1.0.0 is required', { details: { field: 'Tus-Resumable' } });
  return new TremoloError(codeForStatus(status));
}
