// Background deployment work, run by whichever server process holds the `deployments.sweep` lease, so that two
// processes sharing one database never do it twice. Phases, dynamic membership and pauses need no sweep: they are
// decided when a device polls. What does: a device that went silent in the middle of an update (downloading,
// installing, rebooting) would hold its deployment open for ever; past `deploymentTimeout` seconds without a
// status report, the sweeper ends that attempt as a failure, with a line in the device's log saying why. The
// failure goes through the same status report path as a device's own, so retries apply: a device that comes back
// gets the deployment again if it has attempts left. It also finishes a deployment whose devices are all done when
// a crash cut short the finish that follows its last device's event (see settle.ts `defers`).
import type { Config } from '../config.js';
import { BackgroundLoop, LeasedJob } from '../store/background.js';
import type { Store } from '../store/db.js';
import type { Leases } from '../store/leases.js';
import type { DeploymentService } from './service.js';
import { DeploymentStore } from './store.js';

/** Statuses in which the device works on its own and reports when done; pauses wait for an operator instead. */
const RUNNING = ['downloading', 'installing', 'rebooting'] as const;
/** Rows handled per run, so one run stays short; the next run takes the rest. */
const BATCH = 200;
export const SWEEP_LEASE = 'deployments.sweep';

export interface SweepResult {
  /** Device deployments ended (or sent to retry) because the device was silent too long. */
  expired: number;
  /** Deployments finished because none of their devices is active any more (the repair described in sweepOnce). */
  finished: number;
}

export class DeploymentSweeper {
  private readonly loop: BackgroundLoop;
  private readonly job: LeasedJob;

  constructor(
    private readonly store: Store,
    private readonly deployments: DeploymentService,
    leases: Leases,
    private readonly config: Pick<Config, 'deploymentTimeout' | 'sweepInterval'>,
    private readonly log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void },
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.loop = new BackgroundLoop(
      config.sweepInterval * 1000,
      () => this.sweepOnce(),
      (error) => this.log.error({ err: error }, 'deployment sweep failed'),
    );
    // The lease outlives one interval so that a slow run is not taken over half-way.
    this.job = new LeasedJob(leases, SWEEP_LEASE, Math.max(config.sweepInterval, 1) * 2000);
  }

  /** One run, if this process gets the lease; undefined when another process holds it. */
  async sweepOnce(): Promise<SweepResult | undefined> {
    // Planner statistics: every process its own SQLite connection's; on PostgreSQL the database's, one process at a
    // time (src/store/pg-statistics.ts). A failure there (an ANALYZE past the statement timeout) does not stop the
    // sweep.
    await this.store.optimize().catch((error) => this.log.warn({ err: error }, 'planner statistics not refreshed'));
    return this.job.run(async () => {
      const expired = await this.expireSilent();
      // A deployment whose last device's event committed but whose deferred finish did not run (a crash between
      // them, src/deployments/settle.ts `defers`) is finished here.
      const finished = await DeploymentStore.finishDone(this.store.db, this.clock().toISOString());
      return { expired, finished };
    });
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
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    await this.job.release();
  }
}
