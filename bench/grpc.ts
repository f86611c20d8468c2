/**
 * Bulk reads for backend services (issue 20): `GetVideos` of 100 ids per call over gRPC,
 * against the same 100 videos read through REST in the same run (REST has no bulk read: one
 * `GET /v1/videos/:id` per id, over a pool of keep-alive connections, as a backend calling
 * the REST API would). The server runs in its own process, the load in another; both sides
 * check every answer. The unit is videos read per second.
 *
 *   npm run bench -- grpc [--seconds 5] [--runs 3] [--concurrency 8] [--ids 100]
 */
import { parseArgs } from 'node:util';
import { HttpClient } from '../src/client/http-client.ts';
import { startChild, startTremoloChild } from './helpers/child.ts';
import { describe, summarize } from './helpers/stats.ts';
import { report } from './report.ts';

const { values: argv } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
    ids: { type: 'string', default: '100' },
  },
});
const IDS = Number(argv.ids);

const server = startTremoloChild({ GRPC_PORT: '0', RATE_IP_PER_MIN: '100000000', RATE_USER_PER_MIN: '100000000' });
const loader = startChild(new URL('./helpers/request-load.ts', import.meta.url));
try {
  const { url, grpcPort } = (await server.ready) as { url: string; grpcPort: number };
  await loader.ready;
  const http = new HttpClient(url);
  const session = await http.register(`grpcbench${process.pid}`, 'correct horse battery');
  const ids: string[] = [];
  for (let i = 0; i < IDS; i++) ids.push((await http.createVideo({ title: `bulk ${i}` })).id);
  await Promise.all(ids.slice(0, 10).map((id) => http.like(id)));

  const load = { seconds: Number(argv.seconds), concurrency: Number(argv.concurrency), ids, token: session.token };
  const grpcArgs = { mode: 'grpc', url: `http://127.0.0.1:${grpcPort}`, ...load };
  const restArgs = { mode: 'rest-videos', url, connections: 10, ...load };
  await loader.call('run', { ...grpcArgs, seconds: 1 }); // warm-up
  await loader.call('run', { ...restArgs, seconds: 1 });
  const grpcRuns: number[] = [];
  const restRuns: number[] = [];
  for (let r = 0; r < Number(argv.runs); r++) {
    for (const [args, into] of [[grpcArgs, grpcRuns], [restArgs, restRuns]] as const) {
      const res = await loader.call<{ perSec: number; failed: number }>('run', args);
      if (res.failed) throw new Error(`${res.failed} ${args.mode} calls failed`);
      into.push(res.perSec * IDS);
    }
  }
  const grpc = summarize(grpcRuns);
  const rest = summarize(restRuns);
  console.log(`${IDS} videos per call, ${load.concurrency} calls in flight, ${load.seconds} s x ${argv.runs} runs (videos read per second)`);
  console.log(`gRPC GetVideos:          ${describe(grpc)}`);
  console.log(`REST GET /v1/videos/:id: ${describe(rest)}`);
  report('grpc', 'videos/s', grpc.best, rest.best);
} finally {
  await loader.stop();
  await server.call('close').catch(() => {});
  await server.stop();
}
