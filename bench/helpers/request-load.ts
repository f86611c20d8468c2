/**
 * Child process: a closed-loop load generator for what autocannon cannot drive, in its own
 * process so its CPU is not the server's. Answers `run` with calls per second:
 * - `h2`: `connections` HTTP/2 sessions, each with `streams` requests in flight (multiplexed);
 * - `h1`: `connections` keep-alive HTTP/1.1 connections, one request in flight on each;
 * - `grpc`: `concurrency` GetVideos calls of `ids` in flight on one channel;
 * - `rest-videos`: the same reads through REST, one `GET /v1/videos/:id` per id, `concurrency`
 *   batches in flight over a keep-alive pool of `connections`.
 * Every answer is checked (status 200 / OK), so a failing run cannot look fast.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { connect, type ClientHttp2Session } from 'node:http2';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { grpcClient } from '../../test/helpers/grpc.ts';
import { serveParent } from './child.ts';

interface RunArgs {
  mode: 'h1' | 'h2' | 'grpc' | 'rest-videos';
  url: string;
  seconds: number;
  connections?: number;
  streams?: number;
  concurrency?: number;
  headers?: Record<string, string>;
  ca?: string;
  ids?: string[];
  token?: string;
}

/** Runs `workers` loops of `once` until `seconds` pass; returns completed calls per second and failures. */
async function closedLoop(workers: number, seconds: number, once: () => Promise<boolean>): Promise<{ perSec: number; failed: number }> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  let failed = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < end) {
        if (await once()) done++;
        else failed++;
      }
    }),
  );
  return { perSec: done / ((performance.now() - start) / 1000), failed };
}

function h2Get(session: ClientHttp2Session, path: string, headers: Record<string, string>): Promise<boolean> {
  return new Promise((resolve) => {
    const req = session.request({ ':path': path, ...headers });
    let status = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', () => {});
    req.on('end', () => resolve(status === 200));
    req.on('error', () => resolve(false));
    req.end();
  });
}

function h1Get(url: URL, agent: HttpAgent, headers: Record<string, string>, ca?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { agent, headers, ...(ca ? { ca } : {}) }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

serveParent({
  run: async (raw) => {
    const a = raw as unknown as RunArgs;
    const url = new URL(a.url);
    const headers = a.headers ?? {};
    const connections = a.connections ?? 10;
    switch (a.mode) {
      case 'h2': {
        const sessions = Array.from({ length: connections }, () => connect(url.origin, a.ca ? { ca: a.ca } : {}));
        const path = url.pathname + url.search;
        let next = 0;
        const r = await closedLoop(connections * (a.streams ?? 10), a.seconds, () => h2Get(sessions[next++ % sessions.length]!, path, headers));
        for (const s of sessions) s.close();
        return r;
      }
      case 'h1': {
        const agent = url.protocol === 'https:' ? new HttpsAgent({ keepAlive: true, maxSockets: connections, ...(a.ca ? { ca: a.ca } : {}) }) : new HttpAgent({ keepAlive: true, maxSockets: connections });
        const r = await closedLoop(connections, a.seconds, () => h1Get(url, agent, headers, a.ca));
        agent.destroy();
        return r;
      }
      case 'grpc': {
        const client = grpcClient(url.host, a.token ? { token: a.token } : {});
        const ids = a.ids ?? [];
        const r = await closedLoop(a.concurrency ?? 10, a.seconds, () =>
          client.call<{ videos: unknown[] }>('GetVideos', { ids }).then(
            (res) => res.videos.length === ids.length,
            () => false,
          ),
        );
        client.close();
        return r;
      }
      case 'rest-videos': {
        const agent = new HttpAgent({ keepAlive: true, maxSockets: connections });
        const ids = a.ids ?? [];
        const r = await closedLoop(a.concurrency ?? 10, a.seconds, async () => {
          const answers = await Promise.all(ids.map((id) => h1Get(new URL(`/v1/videos/${id}`, url), agent, headers)));
          return answers.every(Boolean);
        });
        agent.destroy();
        return r;
      }
    }
  },
});
process.send?.({ ready: true, pid: process.pid });
