/**
 * deploy/compose.yaml, deploy/kubernetes and deploy/helm/tremolo, tested like code:
 * - `docker-compose config` accepts the compose file (and refuses it without the secrets); every
 *   variable it gives a tremolo process is a real setting and the settings load as the process
 *   would load them;
 * - `kubectl kustomize deploy/kubernetes` and `helm template` of the chart render the same
 *   objects, and the same checks run over both: every object passes the Kubernetes schemas of
 *   the `kubernetes-models` package (the ServiceMonitor, a CRD that package lacks, is checked by
 *   hand); the objects refer to each other correctly; the ConfigMap and the Secret hold every
 *   setting, and together they load;
 * - the chart passes `helm lint --strict`, its values schema refuses bad values, its switches
 *   render valid objects, and every `.Values` path its templates read exists (helm itself renders
 *   a missing one as empty). helm comes from scripts/provision.mjs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { SECRET_SETTINGS } from '../../scripts/deploy-settings.ts';
import { loadConfig, SETTINGS } from '../../src/config.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const SETTING_NAMES = new Set(Object.values(SETTINGS).map((s) => s.env));
/** Values a test gives the credentials (long enough for every check config.ts makes). */
const TEST_SECRETS: Record<string, string> = {
  JWT_SECRET: 'j'.repeat(48),
  MEDIA_SECRET: 'm'.repeat(48),
  METRICS_TOKEN: 't'.repeat(48),
  S3_SECRET_ACCESS_KEY: 's'.repeat(40),
  S3_ACCESS_KEY_ID: 'tremolo',
  REDIS_URL: 'redis://redis:6379',
  CLICKHOUSE_URL: 'http://tremolo:secret@clickhouse:8123',
};

function run(cmd: string, args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Variables a deployment sets that are not settings (a typo, or a setting since renamed). */
function unknownSettings(names: Iterable<string>): string[] {
  return [...names].filter((n) => !SETTING_NAMES.has(n));
}

/** The settings load as a process would load them. */
function loads(env: Record<string, string>): void {
  assert.doesNotThrow(() => loadConfig(env), 'the settings load');
}

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: unknown };

describe('deploy/compose.yaml', () => {
  const secrets = { JWT_SECRET: TEST_SECRETS.JWT_SECRET!, MEDIA_SECRET: TEST_SECRETS.MEDIA_SECRET!, METRICS_TOKEN: TEST_SECRETS.METRICS_TOKEN!, S3_SECRET_ACCESS_KEY: TEST_SECRETS.S3_SECRET_ACCESS_KEY! };
  const rendered = run('docker-compose', ['-f', 'deploy/compose.yaml', 'config'], secrets);

  it('is accepted by docker-compose config, and refused without the secrets', () => {
    assert.equal(rendered.status, 0, rendered.stderr);
    const without = run('docker-compose', ['-f', 'deploy/compose.yaml', 'config']);
    assert.notEqual(without.status, 0);
    assert.match(without.stderr, /JWT_SECRET|MEDIA_SECRET|METRICS_TOKEN|S3_SECRET_ACCESS_KEY/);
  });

  it('runs three tremolo processes on Redis, S3, ClickHouse, NATS, Prometheus and Grafana', () => {
    const compose = parse(rendered.stdout) as { services: Record<string, { image?: string; environment?: Record<string, string | null>; volumes?: (string | { source: string; target: string })[] }> };
    const services = compose.services;
    const tremolos = Object.keys(services).filter((n) => /^tremolo-\d$/.test(n));
    assert.equal(tremolos.length, 3);
    for (const name of ['redis', 'minio', 'clickhouse', 'nats', 'prometheus', 'grafana', 'nginx']) assert.ok(services[name], `a ${name} service`);

    const nodeIds = new Set<string>();
    for (const name of tremolos) {
      const env = Object.fromEntries(Object.entries(services[name]!.environment ?? {}).map(([k, v]) => [k, String(v ?? '')]));
      assert.deepEqual(unknownSettings(Object.keys(env)), [], `${name} sets variables that are not settings`);
      nodeIds.add(env.NODE_ID ?? '0');
      assert.equal(env.STORAGE, 'redis');
      assert.equal(env.MEDIA_STORE, 's3');
      loads(env);
    }
    assert.equal(nodeIds.size, 3, 'each process has its own NODE_ID');

    // Prometheus gets tremolo's rules, Grafana its dashboards: the files compose mounts exist
    const mounts = (service: string) => (services[service]!.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[0]! : v.source));
    const prometheus = mounts('prometheus');
    assert.ok(prometheus.some((m) => m.endsWith('deploy/prometheus/tremolo-rules.yml')), prometheus.join());
    const promConfig = parse(readFileSync(join(DEPLOY, 'prometheus', 'prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: { static_configs: { targets: string[] }[] }[] };
    assert.deepEqual(promConfig.rule_files, ['/etc/prometheus/tremolo-rules.yml']);
    assert.deepEqual(promConfig.scrape_configs[0]!.static_configs[0]!.targets, tremolos.map((n) => `${n}:9464`));
    const grafana = mounts('grafana');
    assert.ok(grafana.some((m) => m.endsWith('deploy/grafana')), grafana.join());
    assert.ok(readdirSync(join(DEPLOY, 'grafana')).filter((f) => f.endsWith('.json')).length >= 1);
  });
});

/** The objects of a rendered manifest stream. */
function objectsOf(rendered: { status: number | null; stdout: string }): K8sObject[] {
  return rendered.status === 0 ? parseAllDocuments(rendered.stdout).map((d) => d.toJS() as K8sObject).filter(Boolean) : [];
}

/** helm, as provisioned by scripts/provision.mjs (unpacked from an npm package when not installed). */
const HELM = process.env.HELM_BIN ?? 'helm';
const CHART = 'deploy/helm/tremolo';

// The kustomize base and the chart rendered with its defaults (release `tremolo`) must make the
// same objects, so one set of checks runs over both.
for (const [source, rendered] of [
  ['deploy/kubernetes (kubectl kustomize)', run('kubectl', ['kustomize', 'deploy/kubernetes'])],
  ['deploy/helm/tremolo (helm template)', run(HELM, ['template', 'tremolo', CHART])],
] as const) describe(source, () => {
  const objects = objectsOf(rendered);
  // the server's Deployment is `tremolo`; the exporter's, `tremolo-exporter`
  const one = <T = K8sObject>(kind: string, name?: string): T => {
    const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
    assert.equal(found.length, 1, `one ${kind}`);
    return found[0] as T;
  };

  it('renders', () => {
    assert.equal(rendered.status, 0, rendered.stderr);
    assert.deepEqual(objects.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceMonitor']);
  });

  it('every object passes the Kubernetes schemas (the ServiceMonitor, a CRD, checked by hand)', () => {
    const models: Record<string, { apiVersion: string; validate: (o: K8sObject) => void }> = {
      ConfigMap: { apiVersion: 'v1', validate: (o) => new ConfigMap(o as never).validate() },
      Secret: { apiVersion: 'v1', validate: (o) => new Secret(o as never).validate() },
      Service: { apiVersion: 'v1', validate: (o) => new Service(o as never).validate() },
      Deployment: { apiVersion: 'apps/v1', validate: (o) => new Deployment(o as never).validate() },
      Ingress: { apiVersion: 'networking.k8s.io/v1', validate: (o) => new Ingress(o as never).validate() },
      HorizontalPodAutoscaler: { apiVersion: 'autoscaling/v2', validate: (o) => new HorizontalPodAutoscaler(o as never).validate() },
      PodDisruptionBudget: { apiVersion: 'policy/v1', validate: (o) => new PodDisruptionBudget(o as never).validate() },
    };
    for (const o of objects) {
      if (o.kind === 'ServiceMonitor') continue;
      const model = models[o.kind];
      assert.ok(model, `a schema for ${o.kind}`);
      assert.equal(o.apiVersion, model.apiVersion, o.kind);
      assert.doesNotThrow(() => model.validate(o), `${o.kind} ${o.metadata.name}`);
    }
    // a broken object is refused: the validation is real
    const deployment = one('Deployment', 'tremolo') as K8sObject & { spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } } };
    const broken = structuredClone(deployment);
    broken.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'http';
    assert.throws(() => models.Deployment!.validate(broken));

    const monitor = one('ServiceMonitor') as K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string; bearerTokenSecret: { name: string; key: string } }[] } };
    assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
    const service = one('Service') as K8sObject & { spec: { ports: { name: string }[] } };
    const secret = one('Secret') as K8sObject & { stringData: Record<string, string> };
    assert.ok(isSubset(monitor.spec.selector.matchLabels, service.metadata.labels ?? {}), 'the ServiceMonitor selects the Service');
    for (const e of monitor.spec.endpoints) {
      assert.ok(service.spec.ports.some((p) => p.name === e.port), `endpoint port ${e.port} is a Service port`);
      assert.equal(e.path, '/metrics');
      assert.equal(e.bearerTokenSecret.name, secret.metadata.name);
      assert.ok(e.bearerTokenSecret.key in secret.stringData, 'the scrape token is a key of the Secret');
    }
  });

  it('wires the objects together: probes, ports, grace period, selectors, references', () => {
    const d = one('Deployment', 'tremolo') as DeploymentShape;
    const c = d.spec.template.spec.containers[0]!;
    const configMap = one('ConfigMap') as K8sObject & { data: Record<string, string> };
    const secret = one('Secret') as K8sObject & { stringData: Record<string, string> };
    const cfg = loadConfig({ ...configMap.data, ...TEST_SECRETS });
    const port = (name: string) => c.ports.find((p) => p.name === name)?.containerPort;
    assert.equal(port('http'), cfg.port);
    assert.equal(port('metrics'), cfg.metricsPort);
    assert.deepEqual([c.readinessProbe.httpGet.path, c.readinessProbe.httpGet.port], ['/readyz', 'http']);
    assert.deepEqual([c.livenessProbe.httpGet.path, c.livenessProbe.httpGet.port], ['/healthz', 'http']);
    const preStop = Number(c.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
    assert.ok(d.spec.template.spec.terminationGracePeriodSeconds * 1000 > cfg.shutdownTimeoutMs + preStop * 1000, 'grace period > preStop + SHUTDOWN_TIMEOUT');
    assert.deepEqual(
      c.envFrom.map((e) => e.configMapRef?.name ?? e.secretRef?.name),
      [configMap.metadata.name, secret.metadata.name],
    );
    const podLabels = d.spec.template.metadata.labels;
    assert.ok(isSubset(d.spec.selector.matchLabels, podLabels));

    const service = one('Service') as K8sObject & { spec: { selector: Record<string, string>; ports: { name: string; targetPort: string }[] } };
    assert.ok(isSubset(service.spec.selector, podLabels), 'the Service selects the pods');
    for (const p of service.spec.ports) assert.ok(port(p.targetPort) !== undefined, `Service targetPort ${p.targetPort}`);
    const ingress = one('Ingress') as K8sObject & { metadata: { annotations: Record<string, string> }; spec: { rules: { http: { paths: { backend: { service: { name: string; port: { name: string } } } }[] } }[] } };
    const backend = ingress.spec.rules[0]!.http.paths[0]!.backend.service;
    assert.equal(backend.name, service.metadata.name);
    assert.ok(service.spec.ports.some((p) => p.name === backend.port.name));
    assert.ok(Number(ingress.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']) >= 3600, 'WebSocket read timeout');
    const hpa = one('HorizontalPodAutoscaler') as K8sObject & { spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number } };
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name });
    const pdb = one('PodDisruptionBudget') as K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; maxUnavailable: number } };
    assert.ok(isSubset(pdb.spec.selector.matchLabels, podLabels));
    assert.ok(hpa.spec.minReplicas > pdb.spec.maxUnavailable, 'a disruption leaves pods serving');

    // one exporter, never two at once, on the same settings; the servers leave exporting to it
    const exporter = one('Deployment', 'tremolo-exporter') as K8sObject & {
      spec: { replicas: number; strategy: { type: string }; template: { spec: { containers: { command: string[]; envFrom: { configMapRef?: { name: string }; secretRef?: { name: string } }[] }[] } } };
    };
    assert.equal(exporter.spec.replicas, 1);
    assert.equal(exporter.spec.strategy.type, 'Recreate');
    const e = exporter.spec.template.spec.containers[0]!;
    assert.deepEqual(e.command.slice(-1), ['export']);
    assert.deepEqual(e.envFrom, c.envFrom);
    assert.equal(cfg.exportInProcess, false);
    assert.ok(!isSubset(service.spec.selector, (exporter as unknown as DeploymentShape).spec.template.metadata.labels), 'the Service does not send clients to the exporter');
  });

  it('the ConfigMap and the Secret hold every setting, credentials only in the Secret, and load together', () => {
    const configMap = one('ConfigMap') as K8sObject & { data: Record<string, string> };
    const secret = one('Secret') as K8sObject & { stringData: Record<string, string> };
    const keys = new Set([...Object.keys(configMap.data), ...Object.keys(secret.stringData)]);
    const missing = [...SETTING_NAMES].filter((n) => !keys.has(n));
    assert.deepEqual(missing, [], `settings missing from ${source}: run node --import tsx scripts/deploy-settings.ts`);
    assert.deepEqual(unknownSettings(keys), []);
    for (const s of Object.values(SETTINGS)) {
      if ('secret' in s && s.secret) assert.ok(!(s.env in configMap.data), `${s.env} is a credential: the Secret only`);
    }
    assert.deepEqual(Object.keys(secret.stringData).sort(), [...SECRET_SETTINGS].sort());
    const cfg = loadConfig({ ...configMap.data, ...TEST_SECRETS });
    assert.equal(cfg.storage, 'redis');
    assert.equal(cfg.nodeEnv, 'production');
  });
});

interface DeploymentShape extends K8sObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        containers: {
          ports: { name: string; containerPort: number }[];
          readinessProbe: { httpGet: { path: string; port: string } };
          livenessProbe: { httpGet: { path: string; port: string } };
          lifecycle?: { preStop?: { exec?: { command?: string[] } } };
          envFrom: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
          resources: unknown;
        }[];
      };
    };
  };
}

describe('deploy/helm/tremolo', () => {
  const chart = join(DEPLOY, 'helm', 'tremolo');
  const values = parse(readFileSync(join(chart, 'values.yaml'), 'utf8')) as Record<string, unknown> & {
    config: Record<string, string>;
    secrets: Record<string, string>;
    ports: { http: number; metrics: number };
    terminationGracePeriodSeconds: number;
    preStopSleepSeconds: number;
    ingress: { annotations: Record<string, string> };
    autoscaling: { minReplicas: number; maxReplicas: number; targetCPUUtilizationPercentage: number };
    podDisruptionBudget: { maxUnavailable: number };
    resources: unknown;
  };
  const templates = readdirSync(join(chart, 'templates'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => ({ file: f, text: readFileSync(join(chart, 'templates', f), 'utf8') }));


  it('has a Chart.yaml of apiVersion v2 and templates that read only values that exist', () => {
    const meta = parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as { apiVersion: string; name: string; version: string };
    assert.equal(meta.apiVersion, 'v2');
    assert.equal(meta.name, 'tremolo');
    assert.match(meta.version, /^\d+\.\d+\.\d+$/);
    for (const { file, text } of [...templates, { file: '_helpers.tpl', text: readFileSync(join(chart, 'templates', '_helpers.tpl'), 'utf8') }]) {
      assert.equal((text.match(/\{\{/g) ?? []).length, (text.match(/\}\}/g) ?? []).length, `${file}: balanced {{ }}`);
      for (const m of text.matchAll(/\.Values((?:\.[A-Za-z0-9_]+)+)/g)) {
        let at: unknown = values;
        for (const part of m[1]!.slice(1).split('.')) {
          assert.ok(at !== null && typeof at === 'object' && part in at, `${file}: .Values${m[1]} is not in values.yaml`);
          at = (at as Record<string, unknown>)[part];
        }
      }
    }
  });

  it('passes helm lint --strict, and its values schema refuses a wrong type or an unknown key', () => {
    const lint = run(HELM, ['lint', '--strict', CHART]);
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    const wrongType = run(HELM, ['template', 'tremolo', CHART, '--set', 'ports.http=web']);
    assert.notEqual(wrongType.status, 0);
    assert.match(wrongType.stderr, /ports\/http/);
    const typo = run(HELM, ['template', 'tremolo', CHART, '--set', 'replicaCont=2']);
    assert.notEqual(typo.status, 0);
    assert.match(typo.stderr, /replicaCont/);
  });

  it('renders the same pods as the kustomize base (only the ConfigMap name differs: kustomize hashes it)', () => {
    const podSpec = (rendered: { stdout: string; status: number | null }, name: string) => {
      const d = objectsOf(rendered).find((o) => o.kind === 'Deployment' && o.metadata.name === name) as DeploymentShape | undefined;
      assert.ok(d, `Deployment ${name}`);
      const spec = structuredClone(d.spec.template.spec);
      for (const c of spec.containers) for (const e of c.envFrom) if (e.configMapRef) e.configMapRef.name = 'tremolo-config';
      return spec;
    };
    const chart = run(HELM, ['template', 'tremolo', CHART]);
    const kustomize = run('kubectl', ['kustomize', 'deploy/kubernetes']);
    for (const name of ['tremolo', 'tremolo-exporter']) assert.deepEqual(podSpec(chart, name), podSpec(kustomize, name), name);
  });

  it('renders its switches: fixed replicas without the autoscaler, an existing Secret, no ingress, monitor or exporter', () => {
    const rendered = run(HELM, [
      'template', 'edge', CHART,
      '--set', 'autoscaling.enabled=false,replicaCount=5,ingress.enabled=false,serviceMonitor.enabled=false,exporter.enabled=false,existingSecret=tremolo-managed',
    ]);
    assert.equal(rendered.status, 0, rendered.stderr);
    const objects = objectsOf(rendered);
    assert.deepEqual(objects.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service']);
    const d = objects.find((o) => o.kind === 'Deployment') as DeploymentShape & { spec: { replicas: number } };
    assert.equal(d.metadata.name, 'edge-tremolo');
    assert.equal(d.spec.replicas, 5);
    assert.doesNotThrow(() => new Deployment(d as never).validate());
    assert.deepEqual(d.spec.template.spec.containers[0]!.envFrom.map((e) => e.secretRef?.name).filter(Boolean), ['tremolo-managed']);
  });

  it('has a ConfigMap value or a Secret value for every setting, the same as the kustomize base', () => {
    const env = Object.fromEntries(
      readFileSync(join(DEPLOY, 'kubernetes', 'config.env'), 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.deepEqual(values.config, env, 'values.yaml config = deploy/kubernetes/config.env (scripts/deploy-settings.ts writes both)');
    assert.deepEqual(Object.keys(values.secrets).sort(), [...SECRET_SETTINGS].sort());
    const missing = [...SETTING_NAMES].filter((n) => !(n in values.config) && !(n in values.secrets));
    assert.deepEqual(missing, [], 'settings missing from values.yaml: run node --import tsx scripts/deploy-settings.ts');
  });
});

function isSubset(small: Record<string, string>, big: Record<string, string>): boolean {
  return Object.entries(small).every(([k, v]) => big[k] === v);
}
