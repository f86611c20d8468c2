/**
 * A private S3 server for a test: s3rver (an npm devDependency, S3's REST API in Node, files
 * under a temp directory) on a free port, with one bucket. Chosen over MinIO because it
 * installs with npm on any machine the tests run on (Debian ships no S3 server); it lacks
 * multipart ListParts, which tremolo's own upload layout does not need (bucket-uploads.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { freePort } from './redis.ts';

export interface PrivateS3 {
  endpoint: string;
  bucket: string;
  /** MEDIA_STORE=s3 and the S3_* settings that reach this server. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startS3(bucket = 'tremolo-test'): Promise<PrivateS3> {
  const directory = await mkdtemp(join(tmpdir(), 'tremolo-s3-'));
  const port = await freePort();
  const server = new S3rver({ port, address: '127.0.0.1', directory, silent: true, configureBuckets: [{ name: bucket, configs: [] }] });
  await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    env: {
      MEDIA_STORE: 's3',
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_BUCKET: bucket,
      // s3rver's fixed credentials
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      S3_FORCE_PATH_STYLE: 'true',
    },
    stop: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
