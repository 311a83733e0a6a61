// Time for the update control pool: map expiry, pause waits and fetch retries all go through a Clock, so tests (and
// the simulator) can drive hours of control-map time without sleeping.

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /**
   * Calls `callback` once after `delayMs`. `unref` timers do not keep the process alive (map expiry watches); wait
   * timers do.
   */
  setTimer(delayMs: number, callback: () => void, options?: { unref?: boolean }): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(delayMs, callback, options) {
    // setTimeout's limit is 2^31-1 ms (~24.8 days); longer maps are re-armed by the caller's next event anyway.
    const handle = setTimeout(callback, Math.min(Math.max(0, delayMs), 2 ** 31 - 1));
    if (options?.unref) handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** Resolves after `delayMs` on `clock`, or rejects with the signal's reason when it aborts first. */
export function sleep(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      timer.cancel();
      reject(signal?.reason);
    };
    const timer = clock.setTimer(delayMs, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface ManualTimer {
  due: number;
  seq: number;
  callback: () => void;
}

/**
 * A clock that moves only when told to. `advance(ms)` fires due timers in order, each at its own due time, and lets
 * pending promise continuations run after each one, so code that awaits a timer and arms the next sees the time it
 * would have seen.
 */
export class ManualClock implements Clock {
  private current: number;
  private seq = 0;
  private timers = new Set<ManualTimer>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    const timer: ManualTimer = { due: this.current + Math.max(0, delayMs), seq: this.seq++, callback };
    this.timers.add(timer);
    return { cancel: () => this.timers.delete(timer) };
  }

  /** Number of armed timers (tests use it to see that nothing leaks). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await settle();
    for (;;) {
      const next = [...this.timers].filter((t) => t.due <= target).sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (!next) break;
      this.timers.delete(next);
      this.current = Math.max(this.current, next.due);
      next.callback();
      await settle();
    }
    this.current = target;
    await settle();
  }
}

/** Lets queued promise continuations and immediates run (a few turns, for chains of awaits). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
