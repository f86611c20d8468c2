import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, SETTINGS, configTable, loadConfig } from '../../src/config.ts';
import { ERROR_CATALOG } from '../../src/protocol/errors.ts';

describe('config', () => {
  it('has working defaults: the embedded in-memory server', () => {
    const c = loadConfig({});
    assert.equal(c.storage, 'memory');
    assert.equal(c.port, 3000);
    assert.equal(c.commentMaxChars, 500);
    assert.equal(c.shutdownTimeoutMs, 10_000);
  });

  it('reads and parses values', () => {
    const c = loadConfig({ STORAGE: 'redis', PORT: '8080', SHUTDOWN_TIMEOUT: '2m', LIVE_ALLOW_ANONYMOUS: 'off', TAGGER_CLASSIFIER_THRESHOLD: '0.25' });
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

  it('refuses a short JWT secret', () => {
    assert.throws(() => loadConfig({ JWT_SECRET: 'short' }), /JWT_SECRET is too short/);
  });

  it('is documented in the README: the configuration table matches SETTINGS', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    assert.ok(readme.includes(configTable()), 'README config table is stale: run `node --import tsx src/cli/main.ts config` and paste it');
    for (const s of Object.values(SETTINGS)) assert.ok(readme.includes(`\`${s.env}\``));
  });

  it('documents every error code in the README', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const code of Object.keys(ERROR_CATALOG)) assert.ok(readme.includes(`\`${code}\``), `README documents ${code}`);
  });
});
