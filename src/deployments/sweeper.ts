// Background deployment work, run by whichever server process holds the `deployments.sweep` lease, so that two
// processes sharing one database never do it twice. Phases, dynamic membership and pauses need no sweep: they are
// decided when a device polls. What does: a device that went silent in the middle of an update (downloading,
// installing, rebooting) would hold its deployment open for ever; past `deploymentTimeout` seconds without a
// status report, the sweeper ends that attempt as a failure, with a line in the device's log saying why. The
// failure goes through the same status report path as a device's own, so retries apply: a device that comes back
// gets the deployment again if it has attempts left.
import type { Config } from '../config.js';
import type { Store } from '../store/db.js';
import type { Leases } from '../store/leases.js';
import type { DeploymentService } from './service.js';

/** Statuses in which the device works on its own and reports when done; pauses wait for an operator instead. */
const RUNNING = ['downloading', 'installing', 'rebooting'] as const;
/** Rows handled per run, so one run stays short; the next run takes the rest. */
const BATCH = 200;
export const SWEEP_LEASE = 'deployments.sweep';

export interface SweepResult {
  /** Device deployments ended (or sent to retry) because the device was silent too long. */
  expired: number;
}

export class DeploymentSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly store: Store,
    private readonly deployments: DeploymentService,
    private readonly leases: Leases,
    private readonly config: Pick<Config, 'deploymentTimeout' | 'sweepInterval'>,
    private readonly log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void },
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** One run, if this process gets the lease; undefined when another process holds it. */
  async sweepOnce(): Promise<SweepResult | undefined> {
    // Every process keeps its own connection's planner statistics fresh (a no-op on PostgreSQL).
    await this.store.optimize();
    // The lease outlives one interval so that a slow run is not taken over half-way.
    const ttl = Math.max(this.config.sweepInterval, 1) * 2000;
    if (!(await this.leases.acquire(SWEEP_LEASE, ttl))) return undefined;
    return { expired: await this.expireSilent() };
  }

  private async expireSilent(): Promise<number> {
    const timeout = this.config.deploymentTimeout;
    if (timeout <= 0) return 0;
    const cutoff = new Date(this.clock().getTime() - timeout * 1000).toISOString();
    const ended = await this.deployments.attempts.expireSilent(
      RUNNING,
      cutoff,
      BATCH,
      (row) =>
        `flotilla: no status report from the device for more than ${timeout} s while ${row.status} ` +
        `(last at ${row.updated_ts}); the server ended this attempt as a failure`,
    );
    for (const row of ended) {
      this.log.warn(
        { deployment: row.deployment_id, device: row.device_id },
        `deployment attempt ended: the device was silent for more than ${timeout} s while ${row.status}`,
      );
    }
    return ended.length;
  }

  start(): void {
    if (this.config.sweepInterval <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.sweepOnce()
        .catch((error) => this.log.error({ err: error }, 'deployment sweep failed'))
        .finally(() => {
          this.running = undefined;
        });
    }, this.config.sweepInterval * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    await this.leases.release(SWEEP_LEASE).catch(() => undefined);
  }
}
