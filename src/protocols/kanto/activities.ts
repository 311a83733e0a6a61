// Kanto activities (an apply or a refresh sent to a device) as they move with the domain's attempt: every device
// event of an apply changes the activity and reports to the attempt in one transaction, and an attempt that ended
// elsewhere (aborted, timed out, retried) ends its activity. Running applies are cached by id for the feedback path.
import type { Transaction } from 'kysely';
import type { AttemptRef, Outcome, ReportResult, Step } from '../../deployments/attempts.js';
import type { LogLine } from '../../deployments/service.js';
import { now } from '../../store/db.js';
import type { Tables } from '../../store/schema.js';
import type { KantoContext } from './context.js';
import { KantoStore } from './store.js';
import type { KantoActivityTable } from './tables.js';

/** Another message moved the activity first: the whole event's transaction is rolled back. */
class ActivityRaced extends Error {}

const TAKEN: readonly (ReportResult | 'ok')[] = ['applied', 'retrying', 'unchanged', 'ok'];
const CACHED = 10_000;

export function attemptOf(activity: KantoActivityTable): AttemptRef {
  return {
    tenantId: activity.tenant_id,
    deviceId: activity.device_id,
    deploymentId: activity.deployment_id as string,
    attempt: activity.attempt,
  };
}

export class Activities {
  /** Running applies as this process last wrote them, by activity id. */
  private readonly running = new Map<string, KantoActivityTable>();

  constructor(private readonly ctx: KantoContext) {}

  /**
   * A running apply as this process last wrote it. Feedback of one device is handled one message at a time, and
   * every write is conditional on the row read (the replay guard), so a stale entry can only make a write fail:
   * then it is forgotten and the message refused as a race, as it would be without the cache.
   */
  async byId(id: string): Promise<KantoActivityTable | undefined> {
    return this.running.get(id) ?? (await this.ctx.store.activity(id));
  }

  forget(id: string): void {
    this.running.delete(id);
  }

  private remember(activity: KantoActivityTable): void {
    if (this.running.size >= CACHED) this.running.clear();
    this.running.set(activity.id, activity);
  }

  /**
   * One device event of an apply: the activity's own change, the attempt's step (if any) and log lines, in one
   * transaction. When the attempt ended elsewhere, the domain refuses the step and the activity is recorded as over.
   */
  async settle(
    activity: KantoActivityTable,
    changes: Partial<KantoActivityTable>,
    step?: Step | Outcome,
    log: readonly LogLine[] = [],
    extra?: (trx: Transaction<Tables>) => Promise<void>,
  ): Promise<ReportResult | 'ok' | 'raced'> {
    const alongside = async (trx: Transaction<Tables>) => {
      if (!(await new KantoStore(trx).advanceActivity(activity, changes))) throw new ActivityRaced();
      await extra?.(trx);
    };
    const attempts = this.ctx.services.deployments.attempts;
    let result: ReportResult | 'ok';
    try {
      result = step
        ? await attempts.report(attemptOf(activity), step, { log, alongside, onlyForward: true })
        : await attempts.appendLog(attemptOf(activity), log, { alongside });
    } catch (error) {
      this.running.delete(activity.id);
      if (error instanceof ActivityRaced) return 'raced';
      throw error;
    }
    this.running.delete(activity.id);
    const open = changes.status === 'running' || changes.status === 'acknowledged';
    if (TAKEN.includes(result) && open) this.remember({ ...activity, ...changes });
    if (!TAKEN.includes(result)) {
      this.ctx.log.warn(
        { activity: activity.id, deployment: activity.deployment_id, step, result },
        'kanto: the attempt ended outside Kanto; the activity is over',
      );
      await this.ctx.store.advanceActivity(activity, { ...changes, status: 'failed', updated_ts: now() });
    }
    return result;
  }

  /** Ends an activity as failed; for an apply, its attempt fails with `reason` in the log. */
  async fail(activity: KantoActivityTable, reason: string): Promise<void> {
    const changes = { status: 'failed' as const, updated_ts: now() };
    this.ctx.log.warn(
      { activity: activity.id, device: activity.device_id, deployment: activity.deployment_id },
      reason,
    );
    if (activity.kind !== 'apply') {
      this.running.delete(activity.id);
      await this.ctx.store.advanceActivity(activity, changes);
      return;
    }
    await this.settle(activity, changes, 'failure', [{ timestamp: now(), level: 'error', message: reason }]);
  }

  /**
   * Whether an apply still runs on the device for a live attempt. An open apply whose attempt ended elsewhere (an
   * operator's abort, the silent-device timeout, a retry) is closed here, so it blocks nothing.
   */
  async applyInFlight(tenantId: string, deviceId: string): Promise<boolean> {
    for (const activity of await this.ctx.store.openActivities(tenantId, deviceId)) {
      if (activity.kind !== 'apply' || !activity.deployment_id) continue;
      const state = await this.ctx.services.deployments.attempts.state(attemptOf(activity));
      if (state.kind === 'live') return true;
      this.running.delete(activity.id);
      await this.ctx.store.advanceActivity(activity, { status: 'failed', updated_ts: now() });
      this.ctx.log.info(
        { activity: activity.id, deployment: activity.deployment_id, state: state.kind },
        'kanto: the device deployment attempt ended outside Kanto; its apply no longer counts',
      );
    }
    return false;
  }
}
