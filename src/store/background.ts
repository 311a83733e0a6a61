// Background work of a server process: a loop that runs one tick every interval (never two at once, never keeping
// the process alive, stopped with the app), and the lease that makes one process of several do a job.
import type { Leases } from './leases.js';

export class BackgroundLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly tick: () => Promise<unknown>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Starts ticking (not when the interval is 0 or less: the job is off). */
  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.tick()
        .catch(this.onError)
        .finally(() => {
          this.running = undefined;
        });
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops ticking and waits for a tick under way. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}

/** A job that one process at a time may do: whoever holds the named lease in the database. */
export class LeasedJob {
  constructor(
    private readonly leases: Leases,
    readonly name: string,
    private readonly ttlMs: number,
  ) {}

  /** Runs `work` if this process holds (or gets) the lease; undefined when another process holds it. */
  async run<T>(work: () => Promise<T>): Promise<T | undefined> {
    if (!(await this.leases.acquire(this.name, this.ttlMs))) return undefined;
    return work();
  }

  /** Lets another process take the job at once (when stopping). */
  async release(): Promise<void> {
    await this.leases.release(this.name).catch(() => undefined);
  }
}
