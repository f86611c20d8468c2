// temporary probe (not committed): likes/s in-process with mode off | als | 1 | 100
import { AsyncLocalStorage } from 'node:async_hooks';
import { loadConfig } from '../../src/config.ts';
import { TsidGenerator } from '../../src/domain/ids.ts';
import { guardStore } from '../../src/storage/guard.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';
import { createOtelTracing } from '../../src/telemetry/otel.ts';
import { noopTracing } from '../../src/telemetry/tracing.ts';
import { dropPrefix, randomPrefix, REDIS_URL } from '../../test/helpers/redis.ts';
import { Redis } from 'ioredis';
import { benchEngine, inWindow } from './engine.ts';
import { createServer } from 'node:http';

const mode = process.argv[2] ?? 'off';
const server = createServer((req, res) => { req.resume(); req.on('end', () => res.end('{}')); });
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as any).port}/v1/traces`;
const config = loadConfig({ LOG_LEVEL: 'silent' });
const prefix = randomPrefix('probe-tracing');
const ids = new TsidGenerator({ nodeId: 9 });
const ratio = mode === '1' ? 0.01 : mode === '100' ? 1 : undefined;
const tracing = ratio === undefined ? noopTracing : createOtelTracing({ serviceName: 'b', serviceVersion: '0', defaultRatio: ratio, rules: [], exporterUrl: url, env: {} });
if (mode === 'als') new AsyncLocalStorage().run({}, () => {});
const store = await RedisStore.connect({ url: REDIS_URL, prefix, limits: { eventLogMax: config.eventLogMax, viewDedupS: config.viewDedupS }, timeoutMs: 5000, tracing });
const engine = benchEngine(guardStore(store, { timeoutMs: 5000 }).store, config, ids, { tracing });
const owner = await engine.createUser({ handle: `tp${process.pid}`, passwordHash: 'x' });
const users = Array.from({ length: 1000 }, () => ids.next());
const videos: string[] = [];
for (let v = 0; v < 100; v++) videos.push((await engine.createVideo(owner.id, { title: `v${v}` })).id);
const op = (i: number) => {
  const h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  const user = users[h % users.length]!;
  const video = videos[(h >>> 10) % videos.length]!;
  const like = ((h >>> 20) & 3) !== 0;
  const call = () => (like ? engine.like(video, user) : engine.unlike(video, user));
  if (!tracing.enabled) return call();
  const span = tracing.start('video:like', { kind: 'server', parent: 'root' });
  return tracing.run(span.context, call).finally(() => span.end());
};
const N = Number(process.argv[3] ?? 40000);
await inWindow(N, 4000, op);
const rates = [];
for (let r = 0; r < Number(process.argv[4] ?? 3); r++) { const c0 = process.cpuUsage(); await inWindow(N, 4000, op); const c = process.cpuUsage(c0); rates.push(Math.round(N / ((c.user + c.system) / 1e6))); }
console.log(mode, 'ops per cpu-s', rates.join(' '));
await engine.shutdown(2000); await tracing.shutdown(); await store.close();
const admin = new Redis(REDIS_URL); await dropPrefix(admin, prefix); admin.disconnect(); server.close();
