// Bounded concurrency over a list, for the few places that run many independent async jobs (the fleet simulator's
// devices, the Kanto push cycle's devices): at most `limit` at once, each runner taking the next item when done.

/** Runs `work` over `items` with at most `limit` at once; resolves when all are done, rejects on the first failure. */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  });
  await Promise.all(runners);
}
