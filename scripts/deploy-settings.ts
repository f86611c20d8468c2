/**
 * Every setting, as the Kubernetes manifests carry it: `deploy/kubernetes/config.env` (the
 * ConfigMap, every setting that is not a credential) and the settings block of
 * `deploy/helm/tremolo/values.yaml` are written from src/config.ts's SETTINGS with the
 * production values below, so the chart, the kustomize base and the code list the same settings.
 *
 *   node --import tsx scripts/deploy-settings.ts     (after adding or changing a setting)
 *
 * test/unit/deploy-manifests.test.ts fails, naming what is missing, when they drift apart.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../src/config.ts';

/** Settings whose production value differs from the default (docs/production.md says why). */
export const PRODUCTION: Readonly<Record<string, string>> = {
  NODE_ENV: 'production',
  STORAGE: 'redis',
  RATE_STORE: 'redis',
  TRUST_PROXY: '1',
  PUBLIC_URL: 'https://tremolo.example.com',
  METRICS_HOST: '0.0.0.0',
  DATA_DIR: '/data',
  SHUTDOWN_TIMEOUT: '20s',
  // the exporter runs as its own Deployment, one per deployment (docs/analytics.md)
  EXPORT_IN_PROCESS: 'false',
  MEDIA_STORE: 's3',
  S3_ENDPOINT: 'https://s3.example.com',
  S3_BUCKET: 'tremolo-media',
};

/** Credentials: in the Secret, never the ConfigMap (secret settings, and URLs that may carry a password). */
export const SECRET_SETTINGS: readonly string[] = [
  ...new Set([
    ...Object.values(SETTINGS)
      .filter((s) => 'secret' in s && s.secret === true)
      .map((s) => s.env),
    'REDIS_URL',
    'CLICKHOUSE_URL',
    // an access key id is not secret on its own, but it is half of a credential
    'S3_ACCESS_KEY_ID',
  ]),
];

/** Every setting of the ConfigMap with its production value, in SETTINGS order. */
export function configMapSettings(): [string, string][] {
  return Object.values(SETTINGS)
    .map((s) => [s.env, PRODUCTION[s.env] ?? s.default] as [string, string])
    .filter(([env]) => !SECRET_SETTINGS.includes(env));
}

const BEGIN = '  # BEGIN settings (scripts/deploy-settings.ts writes this block)';
const END = '  # END settings';
const SECRETS_BEGIN = '  # BEGIN secrets (scripts/deploy-settings.ts writes this block)';
const SECRETS_END = '  # END secrets';

function main(): void {
  const root = fileURLToPath(new URL('../', import.meta.url));
  const settings = configMapSettings();
  const env = [
    '# Every tremolo setting that is not a credential, with its production value (the credentials',
    '# are in secret.yaml). Written by scripts/deploy-settings.ts; docs/operations.md explains each.',
    ...settings.map(([k, v]) => `${k}=${v}`),
    '',
  ].join('\n');
  writeFileSync(`${root}deploy/kubernetes/config.env`, env);
  const secret = readFileSync(`${root}deploy/kubernetes/secret.yaml`, 'utf8');
  const head = secret.slice(0, secret.indexOf('stringData:') + 'stringData:'.length);
  writeFileSync(`${root}deploy/kubernetes/secret.yaml`, [head, ...SECRET_SETTINGS.map((k) => `  ${k}: ""`), ''].join('\n'));

  const valuesPath = `${root}deploy/helm/tremolo/values.yaml`;
  const values = readFileSync(valuesPath, 'utf8');
  const start = values.indexOf(BEGIN);
  const end = values.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${valuesPath}: the settings block markers are missing`);
  const block = [BEGIN, ...settings.map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)].join('\n');
  let out = values.slice(0, start) + block + '\n' + values.slice(end);
  const sStart = out.indexOf(SECRETS_BEGIN);
  const sEnd = out.indexOf(SECRETS_END);
  if (sStart < 0 || sEnd < sStart) throw new Error(`${valuesPath}: the secrets block markers are missing`);
  out = out.slice(0, sStart) + [SECRETS_BEGIN, ...SECRET_SETTINGS.map((k) => `  ${k}: ""`)].join('\n') + '\n' + out.slice(sEnd);
  writeFileSync(valuesPath, out);
  console.log(`wrote ${settings.length} settings to deploy/kubernetes/config.env and ${valuesPath}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
