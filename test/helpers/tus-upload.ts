/** Uploads a file through a plain tus client, as an app would, and resolves with the job it started. */
import * as tus from 'tus-js-client';
import type { Tremolo } from '../../src/main.ts';

export function tusUpload(server: Tremolo, file: Buffer, token: string, metadata: Record<string, string>): Promise<{ url: string; jobId: string }> {
  return new Promise((resolve, reject) => {
    const u: tus.Upload = new tus.Upload(file, {
      endpoint: `${server.url}/v1/uploads`,
      headers: { Authorization: `Bearer ${token}` },
      metadata,
      chunkSize: 512 * 1024,
      retryDelays: [],
      storeFingerprintForResuming: false,
      onSuccess: (p) => {
        const jobId = p.lastResponse.getHeader('Tremolo-Job-Id');
        if (!jobId) reject(new Error('no Tremolo-Job-Id on the final response'));
        else resolve({ url: u.url ?? '', jobId });
      },
      onError: reject,
    });
    u.start();
  });
}
