/**
 * A process that takes one upload's lock through StorageUploadLocker and holds it, for the
 * locker tests. argv: <redis url> <prefix> <upload id> <ttl ms> <yield|stall>. `yield`
 * unlocks when asked to (what tus does for a request it ends); `stall` ignores the request,
 * like a holder stuck on a half-open connection. Prints `locked`, then `released` when it let go.
 */
import { StorageUploadLocker } from '../../src/media/upload-locker.ts';
import { RedisStore } from '../../src/storage/redis/redis-store.ts';

const [url, prefix, uploadId, ttl, mode] = process.argv.slice(2) as [string, string, string, string, string];
const store = await RedisStore.connect({ url, prefix, limits: { eventLogMax: 20, viewDedupS: 60 }, timeoutMs: 5000 });
const locker = new StorageUploadLocker({ locks: store.uploads, ttlMs: Number(ttl), onError: (err) => console.error(err) });
const lock = locker.newLock(uploadId);
await lock.lock(new AbortController().signal, async () => {
  if (mode !== 'yield') return;
  await lock.unlock();
  process.stdout.write('released\n');
});
process.stdout.write('locked\n');
// held until killed (or released above)
setInterval(() => {}, 1 << 30);
