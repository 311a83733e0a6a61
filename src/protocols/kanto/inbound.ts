// Device → cloud: what a Kanto device's message means for Flotilla. Feature creation admits the device; its current
// state goes to inventory; command answers settle commands; feedback moves the apply and its attempt (replays and
// late feedback refused); owner consent requests go to ./consent.ts. Anything malformed, from an unknown device or
// replayed changes nothing and is refused with the reason.
import { createHash } from 'node:crypto';
import type { CloudTopic, DeviceRef } from '../../broker/topics.js';
import { crashAt } from '../../ops/crash.js';
import { now } from '../../store/db.js';
import type { Activities } from './activities.js';
import type { Consents } from './consent.js';
import type { KantoContext } from './context.js';
import { inventoryOf } from './current-state.js';
import {
  type DeviceMessage,
  type FeatureProperties,
  MalformedMessage,
  parseEnvelope,
  readDeviceMessage,
} from './ditto.js';
import { feedbackLog, stepOfFeedback } from './feedback.js';
import type { Pushes } from './outbound.js';
import { type Standing, Standings, standingOf } from './standing.js';
import { KantoStore } from './store.js';
import type { KantoActivityTable, KantoDeviceTable } from './tables.js';

/** How precisely `last_seen_ts` is kept. */
const SEEN_RESOLUTION_MS = 60_000;

export class DeviceMessages {
  /** Other Ditto features a device talks about, logged once each (a full Kanto device has several). */
  private readonly otherFeatures = new Set<string>();
  private readonly standings: Standings;

  constructor(
    private readonly ctx: KantoContext,
    private readonly activities: Activities,
    private readonly pushes: Pushes,
    private readonly consents: Consents,
  ) {
    this.standings = new Standings(ctx.services.tokens.revocations, ctx.store);
  }

  async handle(topic: string, parsed: Exclude<CloudTopic, { kind: 'telemetry' }>, payload: Buffer): Promise<void> {
    const { ctx } = this;
    const { ref } = parsed;
    if (!(await ctx.services.tenants.byId(ref.tenantId))) return ctx.refuse(topic, 'unknown tenant');
    let message: DeviceMessage | undefined;
    let malformed: string | undefined;
    try {
      message = readDeviceMessage(parseEnvelope(payload));
    } catch (error) {
      if (!(error instanceof MalformedMessage)) throw error;
      malformed = error.message;
    }
    // Feedback, command answers and consent need only where the device stands, which is remembered (./standing.ts);
    // a current state or a (re)started update manager writes what the device runs, from the row read afresh.
    const afresh = message === undefined || message.kind === 'feature' || message.kind === 'properties';
    const device = await this.standings.get(ref.tenantId, ref.deviceId, afresh);
    if (!device) return ctx.refuse(topic, 'unknown device: register the thing first');
    if (message === undefined) return ctx.refuse(topic, `malformed Ditto message: ${malformed}`);
    if (message.thingId !== ref.deviceId) {
      return ctx.refuse(topic, `the envelope names thing ${message.thingId}, the topic ${ref.deviceId}`);
    }
    if (message.kind === 'other-feature') {
      const key = `${ref.tenantId}\u0000${ref.deviceId}\u0000${message.feature}`;
      if (!this.otherFeatures.has(key) && this.otherFeatures.size < 10_000) {
        this.otherFeatures.add(key);
        ctx.log.debug(
          { thing: ref.deviceId, feature: message.feature },
          'kanto: ignoring a feature other than UpdateManager',
        );
      }
      return;
    }
    if (message.kind === 'response') {
      if (parsed.kind !== 'response') return ctx.refuse(topic, 'a command response must come on a response topic');
      return this.onResponse(topic, ref, device, message);
    }
    // First contact, or the update manager (re)starting, admits the device; after that its face is looked up.
    const fresh = message.kind === 'feature' || device.last_seen_ts === null;
    const standing = fresh ? await ctx.devices.admit(device) : standingOf(device);
    if (standing !== 'ok') {
      this.standings.forget(ref.tenantId, ref.deviceId);
      return ctx.refuse(topic, standing);
    }
    await this.seen(device);
    switch (message.kind) {
      case 'feature':
        await this.writeProperties(device, message.properties);
        // The update manager (re)started: it reports its current state itself, so only an external broker, where
        // this is the only sign that the device (re)connected, asks for it.
        this.pushes.arrivedLater(ref, ctx.broker.kind === 'external');
        return;
      case 'properties':
        return this.writeProperties(device, message.properties);
      case 'feedback':
        return this.onFeedback(topic, device, message);
      case 'consent':
        return this.consents.requested(topic, device, message);
    }
  }

  /** Records that the device was heard from, to the minute (a write per message would be bookkeeping only). */
  private async seen(device: KantoDeviceTable): Promise<void> {
    const ts = now();
    if (device.last_seen_ts && Date.parse(ts) - Date.parse(device.last_seen_ts) < SEEN_RESOLUTION_MS) return;
    await this.ctx.store.updateDevice(device.tenant_id, device.device_id, { last_seen_ts: ts });
    device.last_seen_ts = ts;
  }

  /**
   * Current state → inventory (the whole scope when the inventory came; otherwise only what came). A current state
   * that names a refresh of this device ends that refresh, in the same transaction: it is the refresh's real answer,
   * whether or not a 204 came first.
   */
  private async writeProperties(device: KantoDeviceTable, properties: FeatureProperties): Promise<void> {
    const { ctx } = this;
    const attributes = inventoryOf(properties.inventory, {
      thingId: device.thing_id,
      deviceType: device.device_type,
      artifactName: device.artifact_name,
      domain: properties.domain,
    });
    const refresh = properties.activityId ? await this.openRefresh(device, properties.activityId) : undefined;
    const write = (trx?: Parameters<typeof ctx.services.inventory.reportInventory>[4]) =>
      ctx.services.inventory.reportInventory(
        device.tenant_id,
        device.device_id,
        attributes,
        properties.inventory ? 'replace' : 'merge',
        trx,
      );
    if (!refresh) return write();
    ctx.tracker.started(refresh.id);
    await ctx.services.store.transaction(async (trx) => {
      await write(trx);
      await new KantoStore(trx).advanceActivity(refresh, { status: 'completed', updated_ts: now() });
    });
  }

  private async openRefresh(device: KantoDeviceTable, activityId: string): Promise<KantoActivityTable | undefined> {
    const activity = await this.ctx.store.activity(activityId);
    const open = activity?.status === 'sent';
    return activity?.kind === 'refresh' && open && activity.device_id === device.device_id ? activity : undefined;
  }

  private async onResponse(
    topic: string,
    ref: DeviceRef,
    device: Standing,
    message: Extract<DeviceMessage, { kind: 'response' }>,
  ): Promise<void> {
    const { ctx } = this;
    if (message.operation === 'consent') {
      // The update manager's 204 to an owner's answer (sent with the request's own correlation id): nothing waits.
      ctx.log.debug({ thing: device.thing_id, status: message.status }, 'kanto: consent answer acknowledged');
      return;
    }
    const answer = ctx.tracker.answer(message.correlationId, ref, message.status, message.error);
    if (answer.verdict !== 'accepted') {
      const reasons = {
        unknown: 'response to an unknown correlation id',
        replayed: 'response to a correlation id already answered (replayed)',
        'wrong-device': 'response from another device than the one asked',
      };
      const echo = answer.verdict !== 'wrong-device';
      return ctx.refuse(topic, reasons[answer.verdict], { correlation_id: message.correlationId }, echo);
    }
    await this.seen(device);
    const activity = await ctx.store.activity(answer.key);
    if (activity?.status !== 'sent') return;
    const ok = message.status >= 200 && message.status < 300;
    if (activity.kind === 'refresh') {
      // A refresh is bookkeeping only: the current state that follows goes to inventory whatever its status.
      if (!ok) {
        ctx.log.warn(
          { thing: device.thing_id, status: message.status, error: message.error },
          'kanto: refresh refused',
        );
      }
      await ctx.store.advanceActivity(activity, { status: ok ? 'completed' : 'failed', updated_ts: now() });
      return;
    }
    if (ok) {
      // Acknowledged: the device works on it now, which the silent-device timeout of deployments then watches.
      await this.activities.settle(activity, { status: 'acknowledged', updated_ts: now() }, 'downloading');
      return;
    }
    await this.activities.fail(
      activity,
      `kanto: the device refused apply with status ${message.status}${message.error ? ` (${message.error})` : ''}`,
    );
  }

  private async onFeedback(
    topic: string,
    device: KantoDeviceTable,
    message: Extract<DeviceMessage, { kind: 'feedback' }>,
  ): Promise<void> {
    const { ctx } = this;
    let activity: KantoActivityTable | undefined;
    if (message.activityId === '') {
      // The update manager answers a desired state it cannot read at all with an empty activityId.
      const open = (await ctx.store.openActivities(device.tenant_id, device.device_id)).filter(
        (a) => a.kind === 'apply',
      );
      activity = open.length === 1 ? open[0] : undefined;
    } else {
      activity = await this.activities.byId(message.activityId);
    }
    if (!activity || activity.tenant_id !== device.tenant_id || activity.device_id !== device.device_id) {
      return ctx.refuse(topic, 'feedback for an unknown activity', { activity_id: message.activityId });
    }
    if (activity.kind !== 'apply') return ctx.refuse(topic, 'feedback for a refresh');
    if (activity.status === 'completed' || activity.status === 'failed') {
      return ctx.refuse(
        topic,
        'feedback for a finished activity (replayed or late)',
        { activity_id: activity.id },
        true,
      );
    }
    const digest = createHash('sha256').update(JSON.stringify(message.feedback)).digest('hex');
    const last = Number(activity.feedback_ts);
    if (message.timestamp < last || (message.timestamp === last && digest === activity.feedback_digest)) {
      return ctx.refuse(
        topic,
        'feedback older than the last one taken, or the same again (replayed)',
        { activity_id: activity.id },
        true,
      );
    }
    let outcome: ReturnType<typeof stepOfFeedback>;
    try {
      outcome = stepOfFeedback(message.feedback);
    } catch (error) {
      if (error instanceof MalformedMessage) return ctx.refuse(topic, `malformed feedback: ${error.message}`);
      throw error;
    }
    // Feedback is the device working on the apply: its answer is no longer awaited, and it is never sent again.
    ctx.tracker.started(activity.id);
    const status = outcome.final ? (outcome.step === 'success' ? 'completed' : 'failed') : 'running';
    const success = outcome.step === 'success';
    const applied = activity;
    // One transaction: the activity's replay guard, the log lines, the attempt's step and, on success, what the
    // device runs now (Kanto's record and inventory).
    const taken = await this.activities.settle(
      activity,
      { status, feedback_ts: message.timestamp, feedback_digest: digest, updated_ts: now() },
      outcome.step,
      feedbackLog(message.feedback, new Date()),
      success
        ? async (trx) => {
            await new KantoStore(trx).updateDevice(device.tenant_id, device.device_id, {
              artifact_name: applied.artifact_name,
            });
            await ctx.services.inventory.reportInventory(
              device.tenant_id,
              device.device_id,
              [{ name: 'artifact_name', value: applied.artifact_name as string }],
              'merge',
              trx,
            );
            crashAt(ctx.services.config, 'kanto.feedback');
          }
        : undefined,
    );
    if (taken === 'raced') {
      const reason = 'feedback raced another one for the same activity';
      return ctx.refuse(topic, reason, { activity_id: activity.id }, true);
    }
    ctx.log.info(
      {
        thing: device.thing_id,
        deployment: activity.deployment_id,
        feedback: message.feedback.status,
        step: outcome.step,
      },
      'kanto: feedback',
    );
    if (outcome.final) this.pushes.arrivedLater({ tenantId: device.tenant_id, deviceId: device.thing_id });
  }
}
