// A fixed-window request counter per key (route + client address), in process memory. Good enough to slow
// down password guessing and auth floods on one node; several nodes each count their own share.
import { TooManyRequests } from '../errors.js';

export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Counts one request for `key`; throws TooManyRequests past the limit. */
  hit(key: string): void {
    if (this.max === 0) return;
    const t = this.clock();
    let w = this.windows.get(key);
    if (!w || t - w.start >= this.windowMs) {
      if (this.windows.size > 100_000) this.sweep(t);
      w = { start: t, count: 0 };
      this.windows.set(key, w);
    }
    w.count++;
    if (w.count > this.max) throw new TooManyRequests(Math.ceil((w.start + this.windowMs - t) / 1000));
  }

  private sweep(t: number): void {
    for (const [key, w] of this.windows) if (t - w.start >= this.windowMs) this.windows.delete(key);
  }
}
