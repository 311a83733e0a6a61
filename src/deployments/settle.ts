// A deployment's stored status follows its devices: pending → inprogress when the first device starts, finished
// when the last one is done (an indexed probe after a device finished, not a recount), paused when a phase crossed
// its failure threshold. Runs inside the transaction of the device event that moved a device.
import type { Transaction } from 'kysely';
import type { Store } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import { admittedPerPhase, phaseOfPosition, phaseToPauseFor } from './rules/phases.js';
import { statisticsOf } from './rules/statistics.js';
import { type DeviceDeploymentStatus, isFinished } from './rules/status.js';
import { DeploymentStore } from './store.js';
import type { DeploymentTable } from './tables.js';
import { maxDevicesOf, planOf, statusOf } from './views.js';

type Trx = Transaction<Tables>;

export class DeploymentSettler {
  constructor(
    private readonly store: Store,
    private readonly clock: () => Date,
  ) {}

  /**
   * Whether `settle` has anything to do inside the event's transaction for this move (else a report is its
   * device's update alone, one statement; a deferred finish is asked after it, `finishIfDone`).
   */
  needed(
    deployment: DeploymentTable,
    from: DeviceDeploymentStatus,
    to: DeviceDeploymentStatus,
    deferred = false,
  ): boolean {
    if (deployment.finished_ts) return false;
    if (deployment.status === 'pending' && leavesPending(to)) return true;
    if (isFinished(to) && !isFinished(from) && !deferred) return true;
    return to === 'failure' && !deployment.paused;
  }

  /** Whether the move finishes the device in a deployment whose finish is asked after the event commits. */
  finishesLater(
    deployment: DeploymentTable,
    from: DeviceDeploymentStatus,
    to: DeviceDeploymentStatus,
    deferred: boolean,
  ): boolean {
    return deferred && !deployment.finished_ts && isFinished(to) && !isFinished(from);
  }

  /**
   * PostgreSQL, a deployment to a fixed set of devices without failure thresholds, a device event in a transaction
   * of its own: whether the "was that the last device?" probe runs after the event commits (`finishIfDone`) rather
   * than inside it under the deployment row's lock, which queued every finishing device of the deployment behind
   * the others' round trips. Right after its own commit, the device that committed last sees every other device
   * finished, so the deployment still finishes; a crash in between leaves it to the sweeper (`finishDone`).
   */
  defers(deployment: DeploymentTable, inTransaction: boolean): boolean {
    if (this.store.dialect !== 'postgres' || inTransaction || deployment.target === 'filter') return false;
    return !planOf(deployment).some((p) => p.failure_threshold);
  }

  /** The lock the device's update must take with it when it finishes the device (PostgreSQL), else undefined. */
  lockFor(
    deployment: DeploymentTable,
    from: DeviceDeploymentStatus,
    to: DeviceDeploymentStatus,
    deferred = false,
  ): { deploymentId: string } | undefined {
    const finishing = isFinished(to) && !isFinished(from) && !deployment.finished_ts;
    return finishing && !deferred && this.store.dialect === 'postgres' ? { deploymentId: deployment.id } : undefined;
  }

  /** After a deferred settle committed: finishes the deployment if no device of it is active any more. */
  async finishIfDone(tenantId: string, deployment: DeploymentTable): Promise<void> {
    const max = maxDevicesOf(deployment);
    if (max === undefined || max <= 0) return;
    await new DeploymentStore(this.store.db, tenantId).finishIfNoneActive(deployment.id, this.clock().toISOString());
  }

  private sql(tenantId: string, trx: Trx): DeploymentStore {
    return new DeploymentStore(trx, tenantId);
  }

  /**
   * After one device moved from `from` to `to`: the deployment's stored status follows (pending → inprogress on
   * the first device that starts; finished when the last one is done), and the rollout pauses when a phase crossed
   * its failure threshold. Without recounting every device: an indexed probe, and only when a device finished.
   * Answers whether the finish is to be asked after the commit (`finishIfDone`), and the deployment as it is now.
   */
  async settle(
    tenantId: string,
    deployment: DeploymentTable,
    from: DeviceDeploymentStatus,
    to: DeviceDeploymentStatus,
    trx: Trx,
    deferred = false,
  ): Promise<{ finishLater: boolean; deployment: DeploymentTable }> {
    if (deployment.finished_ts) return { finishLater: false, deployment };
    const store = this.sql(tenantId, trx);
    const changes: Partial<DeploymentTable> = {};
    if (deployment.status === 'pending' && leavesPending(to)) changes.status = 'inprogress';
    const finishing = isFinished(to) && !isFinished(from);
    if (finishing && !deferred) {
      const max = maxDevicesOf(deployment);
      if (max !== undefined && max > 0) {
        // Devices finishing at once: on SQLite transactions run one at a time; on PostgreSQL the device's update
        // took the deployment row's lock (lockFor), so this probe sees every device that finished before.
        const done =
          deployment.target === 'filter'
            ? (await store.finishedCount(deployment.id)) >= max
            : !(await store.anyActive(deployment.id));
        if (done) {
          changes.status = 'finished';
          changes.finished_ts = this.clock().toISOString();
        }
      }
    }
    if (to === 'failure' && !deployment.paused && changes.status !== 'finished') {
      if (await this.crossedThreshold(store, deployment)) changes.paused = 1;
    }
    if (Object.keys(changes).length === 0) return { finishLater: finishing && deferred, deployment };
    await store.updateDeployment(deployment.id, changes);
    return { finishLater: finishing && deferred, deployment: { ...deployment, ...changes } };
  }

  private async crossedThreshold(store: DeploymentStore, deployment: DeploymentTable): Promise<boolean> {
    const plan = planOf(deployment);
    if (!plan.some((p) => p.failure_threshold)) return false;
    const current = (await store.deployment(deployment.id)) ?? deployment;
    const watched = plan.map((phase, index) =>
      index <= current.resumed_through ? { ...phase, failure_threshold: undefined } : phase,
    );
    const failed = plan.map(() => 0);
    for (const position of await store.failedPositions(deployment.id)) failed[phaseOfPosition(plan, position)] += 1;
    const admitted = admittedPerPhase(plan, current.admitted);
    const outcomes = plan.map((_, index) => ({ failed: failed[index], admitted: admitted[index] }));
    return phaseToPauseFor(watched, outcomes) !== undefined;
  }

  /**
   * The full recount, for the operator's rare moves that touch many devices at once (decommissioning, history
   * resets): the deployment's status follows its statistics.
   */
  async recount(tenantId: string, deploymentId: string, trx: Trx): Promise<void> {
    const store = this.sql(tenantId, trx);
    const row = await store.deployment(deploymentId);
    if (!row || row.finished_ts) return;
    const stats = statisticsOf((await store.statusCounts([deploymentId])).get(deploymentId) ?? []);
    const at = this.clock();
    const status = statusOf(row, stats, at);
    const changes: Partial<DeploymentTable> = {};
    const stored = status === 'scheduled' ? 'pending' : status;
    if (stored !== row.status) changes.status = stored;
    if (status === 'finished') changes.finished_ts = at.toISOString();
    if (Object.keys(changes).length) await store.updateDeployment(deploymentId, changes);
  }
}

/**
 * Statuses that take a deployment out of "pending" (model/deployment.go IsNotPending): every status but pending
 * and decommissioned.
 */
function leavesPending(status: DeviceDeploymentStatus): boolean {
  return status !== 'pending' && status !== 'decommissioned';
}
