// The Kanto adapter: Ditto messages of the UpdateManager feature over the broker, onto the domain. It pushes
// (deployments are pull-based, so it asks `deployments.next` for a Kanto device when the device connects, on
// refresh, and when its look at pending device deployments finds one due), sends `apply` with the artifact's
// desired state and waits for the answer by correlation id (retries, then a timeout that fails the attempt), maps
// feedback onto the deployment state machine with the details as the deployment log, and writes the current state
// to inventory. Messages of one device are handled one at a time, in order; anything malformed, from an unknown
// device or replayed is refused with a log line and changes nothing.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { desiredStateOf } from '../../artifacts/desired-state.js';
import type { Broker, BrokerLog } from '../../broker/broker.js';
import { CLOUD_FILTERS, commandTopic, type DeviceRef, parseCloudTopic } from '../../broker/topics.js';
import type { Config } from '../../config.js';
import type { AttemptRef, Outcome, ReportResult, Step } from '../../deployments/attempts.js';
import type { LogLine } from '../../deployments/service.js';
import { isUniqueViolation } from '../../devices/store.js';
import { Conflict } from '../../errors.js';
import type { Services } from '../../services.js';
import { now } from '../../store/db.js';
import type { Leases } from '../../store/leases.js';
import type { Tables } from '../../store/schema.js';
import { type CommandOutcome, CommandTracker } from './commands.js';
import { inventoryOf } from './current-state.js';
import { KANTO_FACE, type KantoDevices } from './devices.js';
import {
  commandEnvelope,
  type DeviceMessage,
  type FeatureProperties,
  MalformedMessage,
  parseEnvelope,
  readDeviceMessage,
} from './ditto.js';
import { feedbackLog, stepOfFeedback } from './feedback.js';
import { KantoStore } from './store.js';
import type { KantoActivityTable, KantoDeviceTable } from './tables.js';

export const PUSH_LEASE = 'kanto.push';

/** Another message moved the activity first: the whole event's transaction is rolled back. */
class ActivityRaced extends Error {}

const TAKEN: readonly (ReportResult | 'ok')[] = ['applied', 'retrying', 'unchanged', 'ok'];
const DYNAMIC_EVERY = 360;
/** How precisely `last_seen_ts` is kept. */
const SEEN_RESOLUTION_MS = 60_000;
/** Attempts looked at per push cycle. */
const DUE_BATCH = 1000;

type AdapterConfig = Pick<Config, 'kantoCommandTimeout' | 'kantoCommandAttempts' | 'kantoPushInterval'>;

/** Why a message was refused; kept for tests and operators (the last ones, in memory). */
export interface Refusal {
  at: string;
  topic: string;
  reason: string;
}

export class KantoAdapter {
  private readonly tracker: CommandTracker;
  private readonly store: KantoStore;
  /** Running applies, by activity id (see activityOf). */
  private readonly activities = new Map<string, KantoActivityTable>();
  /** correlation id → the activity it belongs to. */
  private readonly correlations = new Map<string, string>();
  /** Per-device queues: one device's messages and pushes run one at a time, in order. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private cycle: Promise<unknown> | undefined;
  private stopped = false;
  private cycles = 0;
  readonly refusals: Refusal[] = [];

  constructor(
    private readonly services: Services,
    private readonly devices: KantoDevices,
    private readonly broker: Broker,
    private readonly leases: Leases,
    private readonly config: AdapterConfig,
    private readonly log: BrokerLog,
  ) {
    this.store = devices.store;
    this.tracker = new CommandTracker({
      timeoutMs: config.kantoCommandTimeout * 1000,
      attempts: Math.max(1, config.kantoCommandAttempts),
    });
  }

  async start(): Promise<void> {
    for (const filter of CLOUD_FILTERS) {
      await this.broker.subscribe(filter, (topic, payload) => this.onMessage(topic, payload));
    }
    this.broker.onDeviceConnected((ref) => {
      this.enqueue(ref, () => this.deviceArrived(ref));
    });
    if (this.config.kantoPushInterval > 0) {
      this.timer = setInterval(() => {
        if (this.cycle) return;
        this.cycle = this.pushDue()
          .catch((error) => this.log.error({ err: error }, 'kanto: push cycle failed'))
          .finally(() => {
            this.cycle = undefined;
          });
      }, this.config.kantoPushInterval * 1000);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.tracker.close();
    await this.cycle;
    await Promise.allSettled([...this.queues.values()]);
    if (this.broker.kind === 'external') await this.leases.release(PUSH_LEASE).catch(() => undefined);
  }

  /** Runs `work` after everything queued for this device; errors are logged, never thrown at the caller. */
  private enqueue(ref: DeviceRef, work: () => Promise<void>): Promise<void> {
    const key = `${ref.tenantId}\u0000${ref.deviceId}`;
    const previous = this.queues.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => (this.stopped ? undefined : work()))
      .catch((error) => this.log.error({ err: error, thing: ref.deviceId }, 'kanto: device work failed'));
    this.queues.set(key, next);
    void next.finally(() => {
      if (this.queues.get(key) === next) this.queues.delete(key);
    });
    return next;
  }

  /** Waits until everything queued so far has run (tests). */
  async settled(): Promise<void> {
    while (this.queues.size > 0) await Promise.allSettled([...this.queues.values()]);
  }

  private refuse(topic: string, reason: string, extra: object = {}): void {
    this.log.warn({ topic, reason, ...extra }, 'kanto: message refused');
    this.refusals.push({ at: now(), topic, reason });
    if (this.refusals.length > 1000) this.refusals.shift();
  }

  // ---- device → cloud ----------------------------------------------------------------------------------------

  private onMessage(topic: string, payload: Buffer): void {
    const parsed = parseCloudTopic(topic);
    if (!parsed) {
      this.refuse(topic, 'not a per-device Hono topic');
      return;
    }
    if (parsed.kind === 'telemetry') return;
    void this.enqueue(parsed.ref, () => this.handle(topic, parsed, payload));
  }

  private async handle(
    topic: string,
    parsed: Exclude<ReturnType<typeof parseCloudTopic>, undefined>,
    payload: Buffer,
  ): Promise<void> {
    const { ref } = parsed;
    if (!(await this.services.tenants.byId(ref.tenantId))) return this.refuse(topic, 'unknown tenant');
    const device = await this.store.deviceWithStanding(ref.tenantId, ref.deviceId);
    if (!device) return this.refuse(topic, 'unknown device: register the thing first');
    let message: DeviceMessage;
    try {
      message = readDeviceMessage(parseEnvelope(payload));
    } catch (error) {
      if (error instanceof MalformedMessage) return this.refuse(topic, `malformed Ditto message: ${error.message}`);
      throw error;
    }
    if (message.thingId !== ref.deviceId) {
      return this.refuse(topic, `the envelope names thing ${message.thingId}, the topic ${ref.deviceId}`);
    }
    if (message.kind === 'response') {
      if (parsed.kind !== 'response') return this.refuse(topic, 'a command response must come on a response topic');
      return this.onResponse(topic, ref, device, message);
    }
    // First contact, or the update manager (re)starting, admits the device; after that its face is looked up.
    const fresh = message.kind === 'feature' || device.last_seen_ts === null;
    const standing = fresh ? await this.devices.admit(device) : faceStanding(device);
    if (standing !== 'ok') return this.refuse(topic, standing);
    await this.seen(device);
    switch (message.kind) {
      case 'feature':
        await this.writeProperties(device, message.properties);
        // On an external broker the feature's creation is the only sign that the device (re)connected.
        this.deviceArrivedLater(ref, this.broker.kind === 'external');
        return;
      case 'properties':
        return this.writeProperties(device, message.properties);
      case 'feedback':
        return this.onFeedback(topic, device, message);
      case 'consent':
        return this.onConsent(device, message);
    }
  }

  /** Records that the device was heard from, to the minute (a write per message would be bookkeeping only). */
  private async seen(device: KantoDeviceTable): Promise<void> {
    const ts = now();
    if (device.last_seen_ts && Date.parse(ts) - Date.parse(device.last_seen_ts) < SEEN_RESOLUTION_MS) return;
    await this.store.updateDevice(device.tenant_id, device.device_id, { last_seen_ts: ts });
    device.last_seen_ts = ts;
  }

  /** Current state → inventory (the whole scope when the inventory came; otherwise only what came). */
  private async writeProperties(device: KantoDeviceTable, properties: FeatureProperties): Promise<void> {
    const attributes = inventoryOf(properties.inventory, {
      thingId: device.thing_id,
      deviceType: device.device_type,
      artifactName: device.artifact_name,
      domain: properties.domain,
    });
    await this.services.inventory.reportInventory(
      device.tenant_id,
      device.device_id,
      attributes,
      properties.inventory ? 'replace' : 'merge',
    );
  }

  private async onResponse(
    topic: string,
    ref: DeviceRef,
    device: KantoDeviceTable,
    message: Extract<DeviceMessage, { kind: 'response' }>,
  ): Promise<void> {
    const verdict = this.tracker.answer(message.correlationId, ref, message.status, message.error);
    if (verdict !== 'accepted') {
      const reasons = {
        unknown: 'response to an unknown correlation id',
        replayed: 'response to a correlation id already answered (replayed)',
        'wrong-device': 'response from another device than the one asked',
      };
      return this.refuse(topic, reasons[verdict], { correlation_id: message.correlationId });
    }
    const activityId = this.correlations.get(message.correlationId);
    if (!activityId) return;
    await this.seen(device);
    const activity = await this.store.activity(activityId);
    if (activity?.status !== 'sent') return;
    const ok = message.status >= 200 && message.status < 300;
    if (activity.kind === 'refresh') {
      this.activities.delete(activity.id);
      await this.store.advanceActivity(activity, { status: ok ? 'completed' : 'failed', updated_ts: now() });
      if (!ok)
        this.log.warn(
          { thing: device.thing_id, status: message.status, error: message.error },
          'kanto: refresh refused',
        );
      return;
    }
    if (ok) {
      // Acknowledged: the device works on it now, which the silent-device timeout of deployments then watches.
      await this.settle(
        activity,
        { status: 'acknowledged', reported: 'downloading', updated_ts: now() },
        'downloading',
      );
      return;
    }
    await this.failActivity(
      activity,
      `kanto: the device refused apply with status ${message.status}${message.error ? ` (${message.error})` : ''}`,
    );
  }

  private async onFeedback(
    topic: string,
    device: KantoDeviceTable,
    message: Extract<DeviceMessage, { kind: 'feedback' }>,
  ): Promise<void> {
    let activity: KantoActivityTable | undefined;
    if (message.activityId === '') {
      // The update manager answers a desired state it cannot read at all with an empty activityId.
      const open = (await this.store.openActivities(device.tenant_id, device.device_id)).filter(
        (a) => a.kind === 'apply',
      );
      activity = open.length === 1 ? open[0] : undefined;
    } else {
      activity = await this.activityOf(message.activityId);
    }
    if (!activity || activity.tenant_id !== device.tenant_id || activity.device_id !== device.device_id) {
      return this.refuse(topic, 'feedback for an unknown activity', { activity_id: message.activityId });
    }
    if (activity.kind !== 'apply') return this.refuse(topic, 'feedback for a refresh');
    if (activity.status === 'completed' || activity.status === 'failed') {
      return this.refuse(topic, 'feedback for a finished activity (replayed or late)', { activity_id: activity.id });
    }
    const digest = createHash('sha256').update(JSON.stringify(message.feedback)).digest('hex');
    const last = Number(activity.feedback_ts);
    if (message.timestamp < last || (message.timestamp === last && digest === activity.feedback_digest)) {
      return this.refuse(topic, 'feedback older than the last one taken, or the same again (replayed)', {
        activity_id: activity.id,
      });
    }
    let outcome: ReturnType<typeof stepOfFeedback>;
    try {
      outcome = stepOfFeedback(message.feedback);
    } catch (error) {
      if (error instanceof MalformedMessage) return this.refuse(topic, `malformed feedback: ${error.message}`);
      throw error;
    }
    const status = outcome.final ? (outcome.step === 'success' ? 'completed' : 'failed') : 'running';
    const deploymentId = activity.deployment_id as string;
    const success = outcome.step === 'success';
    // One transaction: the activity's replay guard, the log lines, the attempt's step and, on success, what the
    // device runs now (Kanto's record and inventory).
    const taken = await this.settle(
      activity,
      {
        status,
        reported: outcome.step,
        feedback_ts: message.timestamp,
        feedback_digest: digest,
        updated_ts: now(),
      },
      outcome.step,
      feedbackLog(message.feedback, new Date()),
      success
        ? async (trx) => {
            await new KantoStore(trx).updateDevice(device.tenant_id, device.device_id, {
              artifact_name: activity.artifact_name,
            });
            await this.services.inventory.reportInventory(
              device.tenant_id,
              device.device_id,
              [{ name: 'artifact_name', value: activity.artifact_name as string }],
              'merge',
              trx,
            );
          }
        : undefined,
    );
    if (taken === 'raced')
      return this.refuse(topic, 'feedback raced another one for the same activity', { activity_id: activity.id });
    this.log.info(
      { thing: device.thing_id, deployment: deploymentId, feedback: message.feedback.status, step: outcome.step },
      'kanto: feedback',
    );
    if (outcome.final) this.deviceArrivedLater({ tenantId: device.tenant_id, deviceId: device.thing_id });
  }

  private async onConsent(device: KantoDeviceTable, message: Extract<DeviceMessage, { kind: 'consent' }>) {
    // Owner consent is the device owner's to give (on the device's HMI); Flotilla only records that it was asked.
    const activity = await this.store.activity(message.activityId);
    this.log.info({ thing: device.thing_id, command: message.command }, 'kanto: owner consent requested');
    if (activity?.deployment_id && activity.device_id === device.device_id) {
      const line = {
        timestamp: now(),
        level: 'info',
        message: `kanto: the device asks its owner's consent before ${message.command}`,
      };
      await this.services.deployments.attempts.appendLog(this.refOf(activity), [line]);
    }
  }

  /**
   * A running apply as this process last wrote it. Feedback of one device is handled one message at a time, and
   * every write is conditional on the row read (the replay guard), so a stale entry can only make a write fail:
   * then it is forgotten and the message refused as a race, as it would be without the cache.
   */
  private async activityOf(id: string): Promise<KantoActivityTable | undefined> {
    return this.activities.get(id) ?? (await this.store.activity(id));
  }

  private remember(activity: KantoActivityTable): void {
    if (this.activities.size >= 10_000) this.activities.clear();
    this.activities.set(activity.id, activity);
  }

  private refOf(activity: KantoActivityTable): AttemptRef {
    return {
      tenantId: activity.tenant_id,
      deviceId: activity.device_id,
      deploymentId: activity.deployment_id as string,
      attempt: activity.attempt,
    };
  }

  /**
   * One device event of an apply: the activity's own change, the attempt's step (if any) and log lines, in one
   * transaction. When the attempt ended elsewhere (aborted, timed out, retried), the domain refuses the step and
   * the activity is recorded as over.
   */
  private async settle(
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
    const attempts = this.services.deployments.attempts;
    let result: ReportResult | 'ok';
    try {
      result = step
        ? await attempts.report(this.refOf(activity), step, { log, alongside, onlyForward: true })
        : await attempts.appendLog(this.refOf(activity), log, { alongside });
    } catch (error) {
      this.activities.delete(activity.id);
      if (error instanceof ActivityRaced) return 'raced';
      throw error;
    }
    this.activities.delete(activity.id);
    if (TAKEN.includes(result) && changes.status === 'running') this.remember({ ...activity, ...changes });
    if (!TAKEN.includes(result)) {
      this.log.warn(
        { activity: activity.id, deployment: activity.deployment_id, step, result },
        'kanto: the attempt ended outside Kanto; the activity is over',
      );
      await this.store.advanceActivity(activity, { ...changes, status: 'failed', updated_ts: now() });
    }
    return result;
  }

  private async failActivity(activity: KantoActivityTable, reason: string): Promise<void> {
    const changes = { status: 'failed' as const, reported: 'failure', updated_ts: now() };
    this.log.warn({ activity: activity.id, device: activity.device_id, deployment: activity.deployment_id }, reason);
    if (activity.kind !== 'apply') {
      this.activities.delete(activity.id);
      await this.store.advanceActivity(activity, changes);
      return;
    }
    await this.settle(activity, changes, 'failure', [{ timestamp: now(), level: 'error', message: reason }]);
  }

  // ---- cloud → device ----------------------------------------------------------------------------------------

  private deviceArrivedLater(ref: DeviceRef, refresh = false): void {
    // Queued behind the current message, so that it sees what this message changed.
    void this.enqueue(ref, () => this.deviceArrived(ref, refresh));
  }

  /** A device connected (or finished an activity): refresh its current state on connect, then push what is due. */
  private async deviceArrived(ref: DeviceRef, refresh = true): Promise<void> {
    const device = await this.store.deviceByThing(ref.tenantId, ref.deviceId);
    if (!device) return;
    if (refresh) await this.startRefresh(device);
    await this.pushTo(device);
  }

  private reachable(device: KantoDeviceTable): boolean {
    const connected = this.broker.isConnected({ tenantId: device.tenant_id, deviceId: device.thing_id });
    // An external broker does not say who is connected: a device heard from at least once is tried, and a device
    // that does not answer fails the attempt after the command timeout (deployment retries apply).
    return connected ?? device.last_seen_ts !== null;
  }

  /** Asks the deployments domain what the device should run and, if anything, sends it as `apply`. */
  private async pushTo(device: KantoDeviceTable): Promise<void> {
    if (this.stopped || !this.reachable(device)) return;
    const view = await this.services.devices.get(device.tenant_id, device.device_id).catch(() => undefined);
    if (view?.status !== 'accepted') return;
    if (await this.applyInFlight(device)) return;
    const assignment = await this.services.deployments.attempts.assign(device.tenant_id, device.device_id, {
      provides: { device_type: device.device_type, artifact_name: device.artifact_name ?? 'none' },
      checkDepends: true,
      controlMap: false,
    });
    if (assignment.kind !== 'install') return;
    const ts = now();
    const activity: KantoActivityTable = {
      tenant_id: device.tenant_id,
      id: randomUUID(),
      device_id: device.device_id,
      kind: 'apply',
      deployment_id: assignment.deploymentId,
      attempt: assignment.attempt,
      artifact_name: assignment.artifact.name,
      status: 'sent',
      reported: assignment.status,
      feedback_ts: 0,
      feedback_digest: '',
      log_json: '[]',
      created_ts: ts,
      updated_ts: ts,
    };
    try {
      await this.store.insertActivity(activity);
    } catch (error) {
      if (isUniqueViolation(error)) return; // another process sends this attempt
      throw error;
    }
    const row = await this.services.artifacts.row(device.tenant_id, assignment.artifact.id);
    const desiredState = desiredStateOf(row);
    if (!desiredState) {
      await this.failActivity(
        activity,
        `kanto: artifact ${row.name} is not a Kanto desired state (update type kanto-desired-state); nothing was sent`,
      );
      return;
    }
    this.log.info(
      { thing: device.thing_id, deployment: assignment.deploymentId, artifact: row.name, activity: activity.id },
      'kanto: apply',
    );
    this.sendCommand(device, activity, 'apply', { activityId: activity.id, timestamp: Date.now(), desiredState });
  }

  /**
   * Whether an apply still runs on the device for a live device deployment attempt. An open apply whose attempt
   * ended elsewhere (an operator's abort, the silent-device timeout, a retry) is closed here, so it blocks nothing.
   */
  private async applyInFlight(device: KantoDeviceTable): Promise<boolean> {
    for (const activity of await this.store.openActivities(device.tenant_id, device.device_id)) {
      if (activity.kind !== 'apply' || !activity.deployment_id) continue;
      const state = await this.services.deployments.attempts.state(this.refOf(activity));
      if (state.kind === 'live') return true;
      this.activities.delete(activity.id);
      await this.store.advanceActivity(activity, { status: 'failed', updated_ts: now() });
      this.log.info(
        { activity: activity.id, deployment: activity.deployment_id, state: state.kind },
        'kanto: the device deployment attempt ended outside Kanto; its apply no longer counts',
      );
    }
    return false;
  }

  /** Sends refresh; the device answers 204 and then reports its current state, which goes to inventory. */
  private async startRefresh(device: KantoDeviceTable): Promise<string> {
    const ts = now();
    const activity: KantoActivityTable = {
      tenant_id: device.tenant_id,
      id: randomUUID(),
      device_id: device.device_id,
      kind: 'refresh',
      deployment_id: null,
      attempt: 0,
      artifact_name: null,
      status: 'sent',
      reported: 'pending',
      feedback_ts: 0,
      feedback_digest: '',
      log_json: '[]',
      created_ts: ts,
      updated_ts: ts,
    };
    await this.store.insertActivity(activity);
    this.sendCommand(device, activity, 'refresh', { activityId: activity.id, timestamp: Date.now() });
    return activity.id;
  }

  /** Operators: refresh one device's current state now. */
  async refresh(tenantId: string, deviceId: string): Promise<{ activity_id: string }> {
    const device = await this.devices.get(tenantId, deviceId);
    if (!this.reachable(device)) throw new Conflict('the Kanto device is not connected');
    const ref = { tenantId, deviceId: device.thing_id };
    let activityId = '';
    await this.enqueue(ref, async () => {
      activityId = await this.startRefresh(device);
    });
    if (!activityId) throw new Conflict('the refresh could not be sent');
    return { activity_id: activityId };
  }

  private sendCommand(
    device: KantoDeviceTable,
    activity: KantoActivityTable,
    operation: 'apply' | 'refresh',
    value: Parameters<typeof commandEnvelope>[3],
  ): void {
    const ref = { tenantId: device.tenant_id, deviceId: device.thing_id };
    const outcome = this.tracker.run(ref, async (correlationId, attempt) => {
      this.correlations.set(correlationId, activity.id);
      if (attempt > 1)
        this.log.warn({ thing: device.thing_id, operation, attempt }, 'kanto: no answer yet, sending again');
      // Hono's request id names the request on the topic; the Ditto correlation id is what the answer carries.
      const requestId = randomBytes(8).toString('hex');
      const envelope = commandEnvelope(device.thing_id, operation, correlationId, value);
      await this.broker.publish(commandTopic(ref, requestId, operation), JSON.stringify(envelope));
    });
    void outcome.then((result) => this.afterCommand(ref, activity, operation, result));
  }

  private async afterCommand(
    ref: DeviceRef,
    activity: KantoActivityTable,
    operation: string,
    outcome: CommandOutcome,
  ): Promise<void> {
    for (const [id, activityId] of this.correlations) if (activityId === activity.id) this.correlations.delete(id);
    if (outcome.kind !== 'timeout') return;
    await this.enqueue(ref, async () => {
      const current = await this.store.activity(activity.id);
      if (current?.status !== 'sent') return;
      await this.failActivity(
        current,
        `kanto: the device did not answer ${operation} after ${outcome.attempts} attempt(s) of ` +
          `${this.config.kantoCommandTimeout} s each; the attempt failed`,
      );
    });
  }

  /**
   * One look for work: Kanto devices with a device deployment due (new, or retried after a failure), and applies
   * left open by a process that died. On an external broker only the holder of the lease pushes.
   */
  async pushDue(): Promise<number> {
    if (this.stopped) return 0;
    if (this.broker.kind === 'external') {
      const ttl = Math.max(this.config.kantoPushInterval, 1) * 3000;
      if (!(await this.leases.acquire(PUSH_LEASE, ttl))) return 0;
    }
    await this.expireOrphans();
    // Dynamic (saved filter) deployments have no row for a device until it asks: now and then, ask for every
    // device, as a Mender client polls (every 360 looks: 30 minutes at the default 5 s).
    if (++this.cycles % DYNAMIC_EVERY === 0) await this.pollAll();
    let pushed = 0;
    for (const due of await this.services.deployments.attempts.dueForPush(KANTO_FACE, DUE_BATCH)) {
      if (await this.store.hasActivityFor(due)) continue;
      const device = await this.store.deviceById(due.tenantId, due.deviceId);
      if (!device || !this.reachable(device)) continue;
      pushed++;
      await this.enqueue({ tenantId: due.tenantId, deviceId: device.thing_id }, () => this.pushTo(device));
    }
    return pushed;
  }

  /** Asks `deployments.next` for every reachable Kanto device (what joins them to dynamic deployments). */
  async pollAll(): Promise<void> {
    for (const device of await this.store.seenDevices()) {
      if (this.stopped) return;
      if (!this.reachable(device)) continue;
      await this.enqueue({ tenantId: device.tenant_id, deviceId: device.thing_id }, () => this.pushTo(device));
    }
  }

  /** Activities still `sent` long after every attempt would have timed out, and unknown to this process. */
  private async expireOrphans(): Promise<void> {
    const window = this.config.kantoCommandTimeout * (this.config.kantoCommandAttempts + 1) * 1000;
    const before = new Date(Date.now() - window).toISOString();
    await this.store.deleteFinishedRefreshes(new Date(Date.now() - 3600_000).toISOString());
    const mine = new Set(this.correlations.values());
    for (const activity of await this.store.staleActivities(before)) {
      if (mine.has(activity.id)) continue;
      const device = await this.store.deviceById(activity.tenant_id, activity.device_id);
      const ref = { tenantId: activity.tenant_id, deviceId: device?.thing_id ?? activity.device_id };
      await this.enqueue(ref, () =>
        this.failActivity(
          activity,
          `kanto: ${activity.kind} was never answered (the server restarted?); the attempt failed`,
        ),
      );
    }
  }
}

/** Where a thing's device stands in admission, read with the thing (see KantoStore.deviceWithStanding). */
function faceStanding(device: {
  standing_device: string | null;
  standing_decommissioning: number | null;
  face_status: string | null;
}): 'ok' | string {
  if (!device.standing_device) return 'the device was decommissioned; register the thing again';
  if (!device.face_status) return 'the device has no Kanto admission; register the thing again';
  if (device.face_status === 'rejected') return 'the device was rejected by an operator';
  if (device.standing_decommissioning) return 'the device is being decommissioned';
  return 'ok';
}
