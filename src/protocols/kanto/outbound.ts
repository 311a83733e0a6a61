// Cloud → device: what Flotilla sends a Kanto device and when. A device that can take commands (connected and
// subscribed to them, or on an external broker heard from at least once) is asked for its current state and sent
// what the deployments domain assigns it, as `apply` with the artifact's desired state; the push loop looks for
// attempts due, and for applies left open by a process that died. Answers are awaited by the command tracker.
import { randomBytes, randomUUID } from 'node:crypto';
import { desiredStateOf } from '../../artifacts/desired-state.js';
import { commandTopic, type DeviceRef } from '../../broker/topics.js';
import { isUniqueViolation } from '../../devices/store.js';
import { eachLimited } from '../../each-limited.js';
import { Conflict } from '../../errors.js';
import { now } from '../../store/db.js';
import type { Activities } from './activities.js';
import type { CommandOutcome } from './commands.js';
import type { KantoContext } from './context.js';
import { KANTO_FACE } from './devices.js';
import { commandEnvelope } from './ditto.js';
import type { KantoActivityTable, KantoDeviceTable } from './tables.js';

/** Push cycles between two polls of every device for dynamic (saved filter) deployments. */
const DYNAMIC_EVERY = 360;
/** Attempts looked at per push cycle. */
const DUE_BATCH = 1000;
/**
 * Devices pushed to at once in a cycle. A push is a dozen round trips to the database; one device at a time held a
 * 1,000-device Kanto rollout to about 15 devices a second on a loaded machine. Each device's own queue still keeps
 * its work in order, and a few at once leave most of the pool's connections to requests.
 */
const PUSH_CONCURRENCY = 4;

export class Pushes {
  private cycles = 0;

  constructor(
    private readonly ctx: KantoContext,
    private readonly activities: Activities,
  ) {}

  /** Queued behind the current message of the device, so that it sees what that message changed. */
  arrivedLater(ref: DeviceRef, refresh = false): void {
    // On an external broker every process hears the device: one of them (the push lease's holder) asks and pushes,
    // else each would send its own refresh. If the holder is gone, its successor's next push cycle finds the work.
    void this.ctx.enqueue(ref, async () => {
      if (await this.ctx.sends()) await this.arrived(ref, refresh);
    });
  }

  /** A device can take commands now (or finished an activity): refresh its current state if asked, then push. */
  async arrived(ref: DeviceRef, refresh = true): Promise<void> {
    const device = await this.ctx.store.deviceByThing(ref.tenantId, ref.deviceId);
    if (!device) return;
    if (refresh) await this.startRefresh(device);
    await this.pushTo(device);
  }

  /**
   * Whether a command sent now would reach the device's update manager. The embedded broker knows whether the
   * device's connector is connected and subscribed to commands; that says nothing of the update manager behind it,
   * so an apply also waits until the device was heard from once. An external broker says neither: a device heard
   * from is tried, and one that does not answer fails the attempt after the command timeout (retries apply).
   */
  reachable(device: KantoDeviceTable): boolean {
    return this.listening(device) && device.last_seen_ts !== null;
  }

  /** Whether the device's connector takes commands (on an external broker: whether the device was ever heard). */
  private listening(device: KantoDeviceTable): boolean {
    const listening = this.ctx.broker.isListening({ tenantId: device.tenant_id, deviceId: device.thing_id });
    return listening ?? device.last_seen_ts !== null;
  }

  /** Asks the deployments domain what the device should run and, if anything, sends it as `apply`. */
  async pushTo(device: KantoDeviceTable): Promise<void> {
    const { ctx } = this;
    if (ctx.stopped() || !this.reachable(device)) return;
    const view = await ctx.services.devices.get(device.tenant_id, device.device_id).catch(() => undefined);
    if (view?.status !== 'accepted') return;
    if (await this.activities.applyInFlight(device.tenant_id, device.device_id)) return;
    const assignment = await ctx.services.deployments.attempts.assign(device.tenant_id, device.device_id, {
      provides: { device_type: device.device_type, artifact_name: device.artifact_name ?? 'none' },
      checkDepends: true,
      controlMap: false,
    });
    if (assignment.kind !== 'install') return;
    const activity = newActivity(device, 'apply', {
      deployment_id: assignment.deploymentId,
      attempt: assignment.attempt,
      artifact_name: assignment.artifact.name,
    });
    try {
      await ctx.store.insertActivity(activity);
    } catch (error) {
      if (isUniqueViolation(error)) return; // another process sends this attempt
      throw error;
    }
    const row = await ctx.services.artifacts.row(device.tenant_id, assignment.artifact.id);
    const desiredState = desiredStateOf(row);
    if (!desiredState) {
      await this.activities.fail(
        activity,
        `kanto: artifact ${row.name} is not a Kanto desired state (update type kanto-desired-state); nothing was sent`,
      );
      return;
    }
    ctx.log.info(
      { thing: device.thing_id, deployment: assignment.deploymentId, artifact: row.name, activity: activity.id },
      'kanto: apply',
    );
    this.send(device, activity, 'apply', { activityId: activity.id, timestamp: Date.now(), desiredState });
  }

  /** Sends refresh; the device answers 204 (optional) and then reports its current state, which goes to inventory. */
  private async startRefresh(device: KantoDeviceTable): Promise<string> {
    const activity = newActivity(device, 'refresh');
    await this.ctx.store.insertActivity(activity);
    this.send(device, activity, 'refresh', { activityId: activity.id, timestamp: Date.now() });
    return activity.id;
  }

  /** Operators: refresh one device's current state now. */
  async refresh(tenantId: string, deviceId: string): Promise<{ activity_id: string }> {
    const device = await this.ctx.devices.get(tenantId, deviceId);
    // A refresh only asks: it may go to a connector whose update manager has not spoken yet.
    if (!this.listening(device)) throw new Conflict('the Kanto device is not connected');
    const ref = { tenantId, deviceId: device.thing_id };
    let activityId = '';
    await this.ctx.enqueue(ref, async () => {
      activityId = await this.startRefresh(device);
    });
    if (!activityId) throw new Conflict('the refresh could not be sent');
    return { activity_id: activityId };
  }

  private send(
    device: KantoDeviceTable,
    activity: KantoActivityTable,
    operation: 'apply' | 'refresh',
    value: Parameters<typeof commandEnvelope>[3],
  ): void {
    const { ctx } = this;
    const ref = { tenantId: device.tenant_id, deviceId: device.thing_id };
    const outcome = ctx.tracker.run(ref, activity.id, async (correlationId, attempt) => {
      if (attempt > 1)
        ctx.log.warn({ thing: device.thing_id, operation, attempt }, 'kanto: no answer yet, sending again');
      // Hono's request id names the request on the topic; the Ditto correlation id is what the answer carries.
      const requestId = randomBytes(8).toString('hex');
      const envelope = commandEnvelope(device.thing_id, operation, correlationId, value);
      await ctx.broker.publish(commandTopic(ref, requestId, operation), JSON.stringify(envelope));
    });
    void outcome.then((result) => this.afterCommand(ref, activity, operation, result));
  }

  private async afterCommand(
    ref: DeviceRef,
    activity: KantoActivityTable,
    operation: string,
    outcome: CommandOutcome,
  ): Promise<void> {
    if (outcome.kind !== 'timeout') return;
    await this.ctx.enqueue(ref, async () => {
      const current = await this.ctx.store.activity(activity.id);
      if (current?.status !== 'sent') return;
      await this.activities.fail(
        current,
        `kanto: the device did not answer ${operation} after ${outcome.attempts} attempt(s) of ` +
          `${this.ctx.config.kantoCommandTimeout} s each; the attempt failed`,
      );
    });
  }

  /** One look for work: devices with an attempt due (new, or retried after a failure), and orphaned applies. */
  async pushDue(): Promise<number> {
    const { ctx } = this;
    await this.expireOrphans();
    // Dynamic (saved filter) deployments have no row for a device until it asks: now and then, ask for every
    // device, as a Mender client polls (every 360 looks: 30 minutes at the default 5 s).
    if (++this.cycles % DYNAMIC_EVERY === 0) await this.pollAll();
    const due = await ctx.services.deployments.attempts.dueForPush(KANTO_FACE, DUE_BATCH);
    let pushed = 0;
    await eachLimited(due, PUSH_CONCURRENCY, async (attempt) => {
      if (ctx.stopped() || (await ctx.store.hasActivityFor(attempt))) return;
      const device = await ctx.store.deviceById(attempt.tenantId, attempt.deviceId);
      if (!device || !this.reachable(device)) return;
      pushed++;
      await ctx.enqueue({ tenantId: attempt.tenantId, deviceId: device.thing_id }, () => this.pushTo(device));
    });
    return pushed;
  }

  /** Asks the deployments domain for every reachable Kanto device (what joins them to dynamic deployments). */
  async pollAll(): Promise<void> {
    const { ctx } = this;
    for (const device of await ctx.store.seenDevices()) {
      if (ctx.stopped()) return;
      if (!this.reachable(device)) continue;
      await ctx.enqueue({ tenantId: device.tenant_id, deviceId: device.thing_id }, () => this.pushTo(device));
    }
  }

  /** Activities still `sent` long after every attempt would have timed out, and not awaited by this process. */
  private async expireOrphans(): Promise<void> {
    const { ctx } = this;
    const window = ctx.config.kantoCommandTimeout * (ctx.config.kantoCommandAttempts + 1) * 1000;
    const before = new Date(Date.now() - window).toISOString();
    await ctx.store.deleteFinishedRefreshes(new Date(Date.now() - 3600_000).toISOString());
    for (const activity of await ctx.store.staleActivities(before)) {
      if (ctx.tracker.isWaiting(activity.id)) continue;
      const device = await ctx.store.deviceById(activity.tenant_id, activity.device_id);
      const ref = { tenantId: activity.tenant_id, deviceId: device?.thing_id ?? activity.device_id };
      await ctx.enqueue(ref, () =>
        this.activities.fail(
          activity,
          `kanto: ${activity.kind} was never answered (the server restarted?); the attempt failed`,
        ),
      );
    }
  }
}

function newActivity(
  device: KantoDeviceTable,
  kind: KantoActivityTable['kind'],
  apply: Pick<KantoActivityTable, 'deployment_id' | 'attempt' | 'artifact_name'> = {
    deployment_id: null,
    attempt: 0,
    artifact_name: null,
  },
): KantoActivityTable {
  const ts = now();
  return {
    tenant_id: device.tenant_id,
    id: randomUUID(),
    device_id: device.device_id,
    kind,
    ...apply,
    status: 'sent',
    feedback_ts: 0,
    feedback_digest: '',
    created_ts: ts,
    updated_ts: ts,
  };
}
