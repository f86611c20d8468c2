import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError, SETTINGS, loadConfig, taggerOptions } from '../../src/config.ts';

const SECRETS = { JWT_SECRET: 'j'.repeat(32), MEDIA_SECRET: 'm'.repeat(32) };
const pem = (type: 'rsa' | 'ed25519') => {
  const { publicKey, privateKey } = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  return { publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string, privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
};

describe('config', () => {
  it('has working defaults: the embedded in-memory server', () => {
    const c = loadConfig({});
    assert.equal(c.storage, 'memory');
    assert.equal(c.port, 3000);
    assert.equal(c.commentMaxChars, 500);
    assert.equal(c.shutdownTimeoutMs, 10_000);
  });

  it('reads and parses values', () => {
    const c = loadConfig({ ...SECRETS, STORAGE: 'redis', PORT: '8080', SHUTDOWN_TIMEOUT: '2m', LIVE_ALLOW_ANONYMOUS: 'off', TAGGER_CLASSIFIER_THRESHOLD: '0.25' });
    assert.equal(c.storage, 'redis');
    assert.equal(c.port, 8080);
    assert.equal(c.shutdownTimeoutMs, 120_000);
    assert.equal(c.liveAllowAnonymous, false);
    assert.equal(c.taggerClassifierThreshold, 0.25);
  });

  it('names every bad variable and what it allows, all at once', () => {
    assert.throws(
      () => loadConfig({ STORAGE: 'mongo', PORT: '70000', NODE_ID: 'x', REDIS_URL: 'http://nope' }),
      (err: ConfigError) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.problems.length, 4);
        assert.match(err.message, /STORAGE="mongo" is invalid: expected one of memory, redis/);
        assert.match(err.message, /PORT="70000" is invalid: expected an integer from 0 to 65535/);
        assert.match(err.message, /NODE_ID="x"/);
        assert.match(err.message, /REDIS_URL="http:\/\/nope" is invalid: expected a URL \(redis: or rediss:\)/);
        return true;
      },
    );
  });

  it('has no built-in secret: unset secrets on one memory-store process are random, different each start, and reported', () => {
    for (const { name, doc } of Object.values(SETTINGS).map((s) => ({ name: s.env, doc: s.default }))) {
      if (/SECRET|TOKEN|PRIVATE_KEY/.test(name)) assert.equal(doc, '', `${name} has no default`);
    }
    const a = loadConfig({});
    const b = loadConfig({});
    assert.deepEqual(a.generatedSecrets, ['JWT_SECRET', 'MEDIA_SECRET']);
    assert.ok(Buffer.byteLength(a.jwtSecret) >= 32 && Buffer.byteLength(a.mediaSecret) >= 32);
    assert.notEqual(a.jwtSecret, b.jwtSecret);
    assert.notEqual(a.mediaSecret, b.mediaSecret);
    assert.notEqual(a.jwtSecret, a.mediaSecret);
    assert.deepEqual(loadConfig(SECRETS).generatedSecrets, []);
    assert.equal(loadConfig(SECRETS).jwtSecret, SECRETS.JWT_SECRET);
  });

  it('refuses to start without secrets in production or on Redis, naming each variable', () => {
    for (const env of [{ NODE_ENV: 'production' }, { STORAGE: 'redis' }]) {
      assert.throws(
        () => loadConfig(env),
        (err: ConfigError) => {
          assert.ok(err instanceof ConfigError);
          assert.equal(err.problems.length, 2, err.message);
          assert.match(err.problems[0]!, /^JWT_SECRET is not set/);
          assert.match(err.problems[1]!, /^MEDIA_SECRET is not set/);
          return true;
        },
      );
      assert.throws(() => loadConfig({ ...env, JWT_SECRET: SECRETS.JWT_SECRET }), /^(?!.*JWT_SECRET)[\s\S]*MEDIA_SECRET is not set/);
      assert.equal(loadConfig({ ...env, ...SECRETS }).generatedSecrets.length, 0);
    }
  });

  it('refuses secrets shorter than 32 bytes without repeating them', () => {
    for (const name of ['JWT_SECRET', 'MEDIA_SECRET', 'METRICS_TOKEN']) {
      assert.throws(
        () => loadConfig({ ...SECRETS, [name]: 'short-secret-value' }),
        (err: ConfigError) => {
          assert.match(err.message, new RegExp(`${name} \\(18 bytes\\) is invalid: expected at least 32 bytes`));
          assert.doesNotMatch(err.message, /short-secret-value/);
          return true;
        },
      );
    }
    // 32 bytes, not 32 characters: 11 three-byte characters are 33 bytes
    assert.equal(loadConfig({ ...SECRETS, JWT_SECRET: '抖'.repeat(11) }).jwtSecret, '抖'.repeat(11));
  });

  it('needs no JWT_SECRET when tokens are signed or verified with keys', () => {
    const { publicKey, privateKey } = pem('ed25519');
    const env = { NODE_ENV: 'production', MEDIA_SECRET: SECRETS.MEDIA_SECRET };
    assert.equal(loadConfig({ ...env, JWT_PUBLIC_KEY: publicKey }).jwtSecret, '');
    assert.equal(loadConfig({ ...env, JWT_PRIVATE_KEY: privateKey }).jwtPrivateKey, privateKey);
    assert.equal(loadConfig({ ...env, JWT_JWKS_URL: 'https://id.example/jwks.json' }).generatedSecrets.length, 0);
  });

  it('checks token keys: PEM of a supported type, and the two halves of one pair', () => {
    const rsa = pem('rsa');
    const ed = pem('ed25519');
    assert.throws(() => loadConfig({ ...SECRETS, JWT_PUBLIC_KEY: 'not a key' }), /JWT_PUBLIC_KEY="not a key" is invalid: expected a PEM public key/);
    assert.throws(
      () => loadConfig({ ...SECRETS, JWT_PRIVATE_KEY: 'nope' }),
      (err: ConfigError) => /JWT_PRIVATE_KEY \(4 bytes\) is invalid: expected a PEM private key/.test(err.message) && !err.message.includes('nope'),
    );
    assert.throws(() => loadConfig({ ...SECRETS, JWT_PRIVATE_KEY: rsa.privateKey, JWT_PUBLIC_KEY: ed.publicKey }), /JWT_PRIVATE_KEY does not belong to JWT_PUBLIC_KEY/);
    assert.equal(loadConfig({ ...SECRETS, JWT_PRIVATE_KEY: rsa.privateKey, JWT_PUBLIC_KEY: rsa.publicKey }).jwtPublicKey, rsa.publicKey);
  });

  it('serves metrics on loopback unless a token protects them', () => {
    const c = loadConfig(SECRETS);
    assert.equal(c.metricsHost, '127.0.0.1');
    assert.equal(c.metricsPort, 9464);
    assert.throws(() => loadConfig({ ...SECRETS, METRICS_HOST: '0.0.0.0' }), /METRICS_HOST="0.0.0.0" is not a loopback address: set METRICS_TOKEN/);
    assert.equal(loadConfig({ ...SECRETS, METRICS_HOST: '0.0.0.0', METRICS_TOKEN: 't'.repeat(32) }).metricsHost, '0.0.0.0');
    assert.equal(loadConfig({ ...SECRETS, METRICS_HOST: '0.0.0.0', METRICS_ENABLED: 'false' }).metricsEnabled, false);
    for (const host of ['::1', 'localhost', '127.0.0.2']) assert.equal(loadConfig({ ...SECRETS, METRICS_HOST: host }).metricsHost, host);
  });

  it('reads CORS_ORIGINS as a list of origins', () => {
    assert.deepEqual(loadConfig(SECRETS).corsOrigins, []);
    assert.deepEqual(loadConfig({ ...SECRETS, CORS_ORIGINS: 'https://app.example.com, http://localhost:5173/' }).corsOrigins, [
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    for (const bad of ['*', 'app.example.com', 'https://app.example.com/path', 'null']) {
      assert.throws(() => loadConfig({ ...SECRETS, CORS_ORIGINS: bad }), /CORS_ORIGINS=.* is invalid: expected comma-separated origins/, bad);
    }
  });

  it('parses the tagger settings at start: the classifier only with both its model and labels, RGB triples checked', () => {
    assert.deepEqual(taggerOptions(loadConfig(SECRETS)), { device: 'cpu', threads: 1 });
    const c = loadConfig({
      ...SECRETS,
      TAGGER_DEVICE: 'cuda',
      TAGGER_THREADS: '2',
      TAGGER_CLASSIFIER_MODEL: '/m/model.onnx',
      TAGGER_CLASSIFIER_LABELS: '/m/labels.txt',
      TAGGER_CLASSIFIER_MEAN: '0.5, 0.5,0.5',
      TAGGER_CLASSIFIER_STD: '0.25,0.25,0.25',
    });
    assert.deepEqual(taggerOptions(c), {
      device: 'cuda',
      threads: 2,
      classifier: { modelPath: '/m/model.onnx', labelsPath: '/m/labels.txt', size: 224, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], topK: 3, threshold: 0.5 },
    });
    assert.throws(
      () => loadConfig({ ...SECRETS, TAGGER_CLASSIFIER_MEAN: '0.5,0.5', TAGGER_CLASSIFIER_STD: '0.2,0,0.2' }),
      (err: ConfigError) => {
        assert.equal(err.problems.length, 2);
        assert.match(err.message, /TAGGER_CLASSIFIER_MEAN="0.5,0.5" is invalid: expected three comma-separated numbers from 0 to 1/);
        assert.match(err.message, /TAGGER_CLASSIFIER_STD="0.2,0,0.2" is invalid: expected three comma-separated numbers from 0.001 to 10/);
        return true;
      },
    );
    for (const bad of ['a,b,c', '0.1,,0.2', '0.1,0.2,0.3,0.4', '0.1,0.2,2']) {
      assert.throws(() => loadConfig({ ...SECRETS, TAGGER_CLASSIFIER_MEAN: bad }), /TAGGER_CLASSIFIER_MEAN=.* is invalid/, bad);
    }
    assert.throws(() => loadConfig({ ...SECRETS, TAGGER_CLASSIFIER_MODEL: '/m/model.onnx' }), /TAGGER_CLASSIFIER_MODEL and TAGGER_CLASSIFIER_LABELS go together/);
    assert.throws(() => loadConfig({ ...SECRETS, TAGGER_CLASSIFIER_LABELS: '/m/labels.txt' }), /TAGGER_CLASSIFIER_MODEL and TAGGER_CLASSIFIER_LABELS go together/);
  });
});
