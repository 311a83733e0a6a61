// Keeps audit entries for `auditRetentionDays`: an hourly prune, run by whichever server process holds the
// `audit.prune` lease so that two processes on one database never do it twice.
import { BackgroundLoop, LeasedJob } from '../store/background.js';
import type { Leases } from '../store/leases.js';
import type { AuditService } from './service.js';

const INTERVAL_MS = 3600_000;

export class AuditPruner {
  private readonly loop: BackgroundLoop;
  private readonly job: LeasedJob;

  constructor(
    private readonly audit: AuditService,
    leases: Leases,
    log: { error(obj: object, msg: string): void },
    intervalMs = INTERVAL_MS,
  ) {
    this.loop = new BackgroundLoop(
      intervalMs,
      () => this.pruneOnce(),
      (error) => log.error({ err: error }, 'audit log prune failed'),
    );
    this.job = new LeasedJob(leases, 'audit.prune', intervalMs * 2);
  }

  /** One run if this process gets the lease: entries deleted, or undefined when another process holds it. */
  pruneOnce(): Promise<number | undefined> {
    return this.job.run(() => this.audit.prune());
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    await this.job.release();
  }
}
