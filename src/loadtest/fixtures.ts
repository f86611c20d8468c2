/**
 * The run's users and videos, created up front through the public API (never behind
 * the server's back), so the load test works against any deployment. Each run uses a
 * fresh random run id in handles and titles: runs against the same Redis never collide,
 * and the final check looks only at this run's videos.
 */
import { randomBytes } from 'node:crypto';
import { HttpClient } from '../client/http-client.ts';
import { TremoloClientError } from '../client/live-client.ts';
import type { LoadtestOptions } from './options.ts';
import { Rng, streamSeed } from './random.ts';

export interface Account {
  id: string;
  token: string;
}

export interface Fixtures {
  runId: string;
  accounts: Account[];
  /** Video ids; index 0 is the most popular under the Zipf law. */
  videos: string[];
  /** How many accounts (the first ones) authored the videos. */
  authors: number;
}

export const LOADTEST_PASSWORD = 'loadtest-password';
/** Accounts each reader follows in feed scenarios. */
const FOLLOWS_PER_ACCOUNT = 5;

export async function createFixtures(o: LoadtestOptions, onStep: (step: string) => void = () => {}): Promise<Fixtures> {
  const runId = randomBytes(4).toString('hex').slice(0, 6);
  const clientFor = (i: number) => new HttpClient(o.targets[i % o.targets.length] ?? '');

  onStep(`registering ${o.accounts} accounts`);
  const accounts = await mapLimit(range(o.accounts), 8, async (i) => {
    const http = clientFor(i);
    const s = await withRetry(() => http.register(`lt${runId}${i}`, LOADTEST_PASSWORD, `loadtest ${i}`));
    return { id: s.user.id, token: s.token };
  });

  const authors = Math.min(o.accounts, 10);
  if (o.scenario === 'feed' || o.scenario === 'mixed') {
    // follow before the videos exist, so fan-out pushes them into the readers' inboxes
    onStep('following authors');
    const rng = new Rng(streamSeed(o.seed, 0x7f0110));
    await mapLimit(range(o.accounts), 16, async (i) => {
      const http = new HttpClient(o.targets[i % o.targets.length] ?? '', { token: accounts[i]?.token ?? '' });
      const wanted = new Set<number>();
      for (let k = 0; k < FOLLOWS_PER_ACCOUNT * 3 && wanted.size < Math.min(FOLLOWS_PER_ACCOUNT, authors - 1); k++) {
        const a = rng.int(authors);
        if (a !== i) wanted.add(a);
      }
      for (const a of wanted) await withRetry(() => http.follow(accounts[a]?.id ?? ''));
    });
  }

  onStep(`creating ${o.videos} videos`);
  const videos = await mapLimit(range(o.videos), 8, async (i) => {
    const author = i % authors;
    const http = new HttpClient(o.targets[author % o.targets.length] ?? '', { token: accounts[author]?.token ?? '' });
    const v = await withRetry(() => http.createVideo({ title: `loadtest ${runId} #${i}`, mediaUrl: 'https://cdn.example.com/loadtest.mp4' }));
    return v.id;
  });
  return { runId, accounts, videos, authors };
}

/** Retries calls refused for load (429/503) after the server's hint, a few times. */
export async function withRetry<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const retriable = err instanceof TremoloClientError && ['E_RATE_LIMITED', 'E_BUSY', 'E_STORAGE_UNAVAILABLE'].includes(err.code);
      if (!retriable || i >= attempts) throw err;
      const hinted = Number((err as { retryAfter?: unknown }).retryAfter);
      await sleep(Number.isFinite(hinted) && hinted > 0 ? Math.min(hinted * 1000, 5000) : 200 * i);
    }
  }
}

/** Runs `fn` over items with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export const range = (n: number) => Array.from({ length: n }, (_, i) => i);
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
