/**
 * A bounded poll, for waiting on work that runs on real timers. Kept apart from server.ts
 * so unit tests can wait without loading the whole server.
 */
export async function eventually(predicate: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
