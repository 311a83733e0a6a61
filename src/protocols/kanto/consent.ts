// Owner consent: a Kanto update manager may ask, before a phase of an apply (DOWNLOAD, UPDATE, ACTIVATE), for its
// owner's consent, as an outbox `consent` message with a correlation id; it goes on once an inbox `consent` message
// with that correlation id says APPROVED, and rolls back on DENIED (owner-consent-specification.md and the update
// manager's things/update_manager_feature.go). Flotilla records each request with the attempt's log, and answers it
// as the operator decided for the deployment: a decision made before the devices ask answers them at once (a
// deployment that says consent is given); one made later answers every request still waiting.
import { randomBytes } from 'node:crypto';
import { commandTopic } from '../../broker/topics.js';
import { now } from '../../store/db.js';
import { type Activities, attemptOf } from './activities.js';
import type { KantoContext } from './context.js';
import { consentAnswerEnvelope, type DeviceMessage } from './ditto.js';
import { KantoStore } from './store.js';
import type { ConsentDecision, KantoConsentTable, KantoDeviceTable } from './tables.js';

export interface ConsentView {
  deployment_id: string;
  /** The operator's decision for every device of the deployment; null while none was made. */
  decision: ConsentDecision | null;
  decided_ts: string | null;
  /** Requests from devices: waiting ones have no answer yet. */
  requests: { device_id: string; command: string; requested_ts: string; answer: ConsentDecision | null }[];
}

export class Consents {
  constructor(
    private readonly ctx: KantoContext,
    private readonly activities: Activities,
  ) {}

  /** A device asks for consent: recorded (with a line in the attempt's log), answered now if already decided. */
  async requested(
    topic: string,
    device: KantoDeviceTable,
    message: Extract<DeviceMessage, { kind: 'consent' }>,
  ): Promise<void> {
    const { ctx } = this;
    const activity = await this.activities.byId(message.activityId);
    const open = activity?.status === 'sent' || activity?.status === 'acknowledged' || activity?.status === 'running';
    if (!activity?.deployment_id || activity.kind !== 'apply' || activity.device_id !== device.device_id || !open) {
      return ctx.refuse(topic, 'consent request for an unknown or finished activity', {
        activity_id: message.activityId,
      });
    }
    const request: KantoConsentTable = {
      tenant_id: device.tenant_id,
      activity_id: activity.id,
      device_id: device.device_id,
      deployment_id: activity.deployment_id,
      command: message.command,
      correlation_id: message.correlationId,
      requested_ts: now(),
      answer: null,
      answered_ts: null,
    };
    const line = {
      timestamp: request.requested_ts,
      level: 'info',
      message: `kanto: the device asks its owner's consent before ${message.command}`,
    };
    await ctx.services.deployments.attempts.appendLog(attemptOf(activity), [line], {
      alongside: (trx) => new KantoStore(trx).saveConsentRequest(request),
    });
    ctx.log.info({ thing: device.thing_id, command: message.command }, 'kanto: owner consent requested');
    const decided = await ctx.store.consentDecision(device.tenant_id, activity.deployment_id);
    if (decided) await this.answer(device, request, decided.decision);
  }

  /** The operator's decision for a deployment; answers every device still waiting. */
  async decide(tenantId: string, deploymentId: string, decision: ConsentDecision): Promise<ConsentView> {
    const { ctx } = this;
    await ctx.services.deployments.get(tenantId, deploymentId);
    await ctx.store.saveConsentDecision({
      tenant_id: tenantId,
      deployment_id: deploymentId,
      decision,
      decided_ts: now(),
    });
    await this.answerWaiting(tenantId, { deploymentId });
    return this.view(tenantId, deploymentId);
  }

  /** A device that can take commands again gets the answers it still waits for. */
  async answerWaiting(tenantId: string, where: { deploymentId?: string; deviceId?: string }): Promise<void> {
    const { ctx } = this;
    for (const request of await ctx.store.waitingConsents(tenantId, where)) {
      const decided = await ctx.store.consentDecision(tenantId, request.deployment_id);
      const device = decided && (await ctx.store.deviceById(tenantId, request.device_id));
      if (!decided || !device) continue;
      await ctx.enqueue({ tenantId, deviceId: device.thing_id }, () => this.answer(device, request, decided.decision));
    }
  }

  async view(tenantId: string, deploymentId: string): Promise<ConsentView> {
    const { ctx } = this;
    await ctx.services.deployments.get(tenantId, deploymentId);
    const decided = await ctx.store.consentDecision(tenantId, deploymentId);
    const requests = await ctx.store.consentRequests(tenantId, deploymentId);
    return {
      deployment_id: deploymentId,
      decision: decided?.decision ?? null,
      decided_ts: decided?.decided_ts ?? null,
      requests: requests.map((r) => ({
        device_id: r.device_id,
        command: r.command,
        requested_ts: r.requested_ts,
        answer: r.answer,
      })),
    };
  }

  /**
   * Sends the answer on the device's command topic, with the request's correlation id (the update manager checks
   * it), and records it. A device whose connector is away keeps waiting: it is answered
   * when it can take commands again.
   */
  private async answer(device: KantoDeviceTable, request: KantoConsentTable, decision: ConsentDecision): Promise<void> {
    const { ctx } = this;
    const ref = { tenantId: device.tenant_id, deviceId: device.thing_id };
    if (ctx.broker.isListening(ref) === false) return;
    if (!(await ctx.store.answerConsent(request, decision, now()))) return; // answered already
    const envelope = consentAnswerEnvelope(device.thing_id, request.correlation_id, {
      activityId: request.activity_id,
      timestamp: Date.now(),
      ownerConsentFeedback: { status: decision === 'approved' ? 'APPROVED' : 'DENIED' },
    });
    const requestId = randomBytes(8).toString('hex');
    await ctx.broker.publish(commandTopic(ref, requestId, 'consent'), JSON.stringify(envelope));
    ctx.log.info({ thing: device.thing_id, command: request.command, decision }, 'kanto: owner consent answered');
  }
}
