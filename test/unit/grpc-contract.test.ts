/**
 * The gRPC contract and its rules that need no server: the proto files are found from src/
 * and from a build, every catalog code has a gRPC status (documented), and service tokens
 * work only where a service may call.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { ManualClock } from '../../src/domain/clock.ts';
import { ERROR_CATALOG, type ErrorCode } from '../../src/protocol/errors.ts';
import { TokenService } from '../../src/transport/auth/tokens.ts';
import { loadContract, protoRoot, SERVICE_NAME } from '../../src/transport/grpc/contract.ts';
import { grpcStatusOf, grpcStatusTable, toServiceError } from '../../src/transport/grpc/status.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** README and every guide under docs/, wherever the documentation lives now. */
function documentation(): string {
  const docs = join(ROOT, 'docs');
  const guides = existsSync(docs) ? readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => readFileSync(join(docs, f), 'utf8')) : [];
  return [readFileSync(join(ROOT, 'README.md'), 'utf8'), ...guides].join('\n');
}

describe('gRPC contract', () => {
  it('finds proto/ from the sources and from a build in dist/, and it declares every RPC', () => {
    assert.equal(protoRoot(), join(ROOT, 'proto'));
    assert.equal(protoRoot(join(ROOT, 'dist', 'transport', 'grpc')), join(ROOT, 'proto'));
    assert.throws(() => protoRoot('/'), /not found/);
    const service = loadContract()[SERVICE_NAME] as Record<string, { requestStream: boolean; responseStream: boolean }>;
    const rpcs = Object.fromEntries(Object.entries(service).map(([name, m]) => [name, m.responseStream ? 'stream' : 'unary']));
    assert.deepEqual(rpcs, {
      GetVideos: 'unary', Like: 'unary', Unlike: 'unary', AddComment: 'unary', DeleteComment: 'unary', Follow: 'unary', GetUser: 'unary',
      WatchVideo: 'stream', SubscribeInteractions: 'stream',
    });
  });

  it('ships proto/ in the package (no "files" list leaves it out)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files?: string[] };
    if (pkg.files) assert.ok(pkg.files.some((f) => f.replace(/\/$/, '') === 'proto'), 'package.json "files" lists proto');
    const ignored = existsSync(join(ROOT, '.npmignore')) ? readFileSync(join(ROOT, '.npmignore'), 'utf8') : '';
    assert.ok(!/^\/?proto\/?$/m.test(ignored));
  });

  it('maps every catalog code to a gRPC status, by meaning', () => {
    for (const code of Object.keys(ERROR_CATALOG) as ErrorCode[]) {
      assert.notEqual(grpcStatusOf(code), status.UNKNOWN, code);
      assert.notEqual(grpcStatusOf(code), status.OK, code);
    }
    const expected: [ErrorCode, status][] = [
      ['E_VALIDATION', status.INVALID_ARGUMENT],
      ['E_TOKEN_MISSING', status.UNAUTHENTICATED],
      ['E_FORBIDDEN', status.PERMISSION_DENIED],
      ['E_VIDEO_NOT_FOUND', status.NOT_FOUND],
      ['E_HANDLE_TAKEN', status.ALREADY_EXISTS],
      ['E_RATE_LIMITED', status.RESOURCE_EXHAUSTED],
      ['E_BUSY', status.UNAVAILABLE],
      ['E_SHUTTING_DOWN', status.UNAVAILABLE],
      ['E_ROUTE_NOT_FOUND', status.UNIMPLEMENTED],
      ['E_JOB_FINISHED', status.FAILED_PRECONDITION],
      ['E_INTERNAL', status.INTERNAL],
    ];
    for (const [code, want] of expected) assert.equal(grpcStatusOf(code), want, code);
    const e = toServiceError(new Error('secret detail'));
    assert.equal(e.code, status.INTERNAL);
    assert.equal(e.details, ERROR_CATALOG.E_INTERNAL.message, 'internals never reach the caller');
    assert.deepEqual(e.metadata?.get('tremolo-error-code'), ['E_INTERNAL']);
  });

  it('documents the status table', () => {
    assert.ok(documentation().includes(grpcStatusTable()), 'the gRPC status table in the docs is stale: paste grpcStatusTable() (src/transport/grpc/status.ts)');
  });
});

describe('service tokens', () => {
  const clock = new ManualClock(Date.parse('2026-11-29T12:00:00Z'));
  const tokens = new TokenService({ secret: 'x'.repeat(32), issuer: 'tremolo', audience: 'tremolo', ttlS: 3600 }, { clock, userExists: async () => true });

  it('name a service, pass verifyCaller and are refused where a user is required', async () => {
    const { token } = await tokens.issueService('ranking', 60);
    assert.deepEqual(await tokens.verifyCaller(token), { kind: 'service', principal: { service: 'ranking', expiresAt: Math.floor(clock.now() / 1000) + 60 } });
    await assert.rejects(tokens.verify(token), { code: 'E_TOKEN_INVALID' });
    clock.advance(61_000);
    await assert.rejects(tokens.verifyCaller(token), { code: 'E_TOKEN_EXPIRED' });
  });

  it('refuses malformed service names', async () => {
    for (const name of ['', 'A', 'Ranking', '0abc', 'x'.repeat(65), 'svc:x']) await assert.rejects(tokens.issueService(name, 60), RangeError, name);
  });

  it('user tokens still verify as users through verifyCaller', async () => {
    const { token } = await tokens.issue({ id: '0ABCDEFGHJKMN', handle: 'u' });
    const caller = await tokens.verifyCaller(token);
    assert.equal(caller.kind, 'user');
    assert.equal(caller.kind === 'user' && caller.principal.userId, '0ABCDEFGHJKMN');
  });
});
