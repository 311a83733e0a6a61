// hawkBit DDI actions: what a poll offers (the device's live attempt as a numeric action, or the cancellation it
// still has to confirm, else a new action for whatever the deployments domain assigns), each action's lifecycle
// read off the attempt it serves (never stored), its history, and feedback onto the attempt in one transaction.
// Also the confirmation flow (DDI's own: Mender has no such step): with the tenant's auto-confirm off, a new action
// waits for the target's confirmation (or its auto-confirmation) before its deploymentBase is offered.
import type { Transaction } from 'kysely';
import type { AttemptRef, AttemptState, ReportResult } from '../../deployments/attempts.js';
import { NotFound } from '../../errors.js';
import type { Services } from '../../services.js';
import type { Tables } from '../../store/schema.js';
import { type Confirmation, cancelEffect, deploymentEffect, type Feedback, levelOf, logLine } from './feedback.js';
import type { DdiAction, DdiActionRow } from './tables.js';
import type { Target, Targets } from './target.js';

/** How long a process trusts a cached action row (only a cancellation's acknowledgement changes it). */
const ROW_TTL_MS = 1000;

const now = () => new Date().toISOString();

/** What DDI shows of an action, read off the state of the attempt it serves. */
export function actionOf(row: DdiActionRow, state: AttemptState): DdiAction {
  switch (state.kind) {
    case 'live':
      return { ...row, status: 'open', result: null };
    case 'aborted':
    case 'decommissioned':
      // The operator aborted (or decommissioned): the device must confirm the cancellation before the action ends.
      return row.cancel_acknowledged_ts
        ? { ...row, status: 'closed', result: 'canceled' }
        : { ...row, status: 'canceling', result: null };
    case 'ended':
      return { ...row, status: 'closed', result: state.status };
    case 'gone':
      return { ...row, status: 'closed', result: 'gone' };
  }
}

export class DdiActions {
  /** Actions whose state can never change again (closed), so polls need not ask the domain about them. */
  private readonly closed = new Map<string, string | null>();
  private readonly rows = new Map<string, { row: DdiActionRow; at: number }>();

  constructor(
    private readonly services: Services,
    private readonly targets: Targets,
  ) {}

  private store(tenantId: string, trx?: Transaction<Tables>) {
    return this.targets.store(tenantId, trx);
  }

  private refOf(target: Target, row: DdiActionRow): AttemptRef {
    return {
      tenantId: target.tenantId,
      deviceId: target.row.device_id,
      deploymentId: row.deployment_id,
      attempt: row.attempt,
    };
  }

  /** The action with its lifecycle, as the deployments domain sees its attempt (and whether it awaits confirmation). */
  private async view(target: Target, row: DdiActionRow): Promise<DdiAction> {
    const key = `${target.tenantId}|${row.id}`;
    const result = this.closed.get(key);
    if (result !== undefined) return { ...row, status: 'closed', result };
    const action = actionOf(row, await this.services.deployments.attempts.state(this.refOf(target, row)));
    if (action.status === 'open' && !row.confirmed_ts && !(await this.targets.settings(target.tenantId)).auto_confirm)
      return { ...action, status: 'waiting' };
    if (action.status === 'closed' && action.result !== 'success') {
      if (this.closed.size > 100_000) this.closed.clear();
      this.closed.set(key, action.result);
    }
    return action;
  }

  /**
   * What the base poll offers: the open action's cancellation (its device deployment was aborted) or its
   * deploymentBase; otherwise whatever `deployments.next` hands out becomes a new action. Also configData until
   * the target sent it, and installedBase for the last action that ended in success.
   */
  async poll(target: Target) {
    const settings = await this.targets.settings(target.tenantId);
    const offer: { deploymentBase?: DdiAction; cancelAction?: DdiAction; confirmationBase?: DdiAction } = {};
    if (target.deviceStatus === 'accepted') {
      const action = await this.currentAction(target);
      if (action?.status === 'canceling') offer.cancelAction = action;
      else if (action?.status === 'waiting') offer.confirmationBase = action;
      else if (action) offer.deploymentBase = action;
    }
    const installed = target.row.installed_action_id;
    return {
      sleep: settings.polling_sleep,
      ...offer,
      configData: !target.row.config_sent,
      installed: installed === null ? undefined : { id: installed },
    };
  }

  /**
   * The action of the device's live attempt (or the cancellation the device still has to confirm), else a new one
   * for whatever the deployments domain assigns now. Which attempt is live is the domain's answer, not DDI's.
   */
  private async currentAction(target: Target): Promise<DdiAction | undefined> {
    const store = this.store(target.tenantId);
    const deviceId = target.row.device_id;
    const latest = await store.latestAction(deviceId);
    if (latest) {
      this.rows.set(`${target.tenantId}|${latest.id}`, { row: latest, at: Date.now() });
      const action = await this.view(target, latest);
      if (action.status !== 'closed') return action;
    }
    const assignment = await this.services.deployments.attempts.assign(target.tenantId, deviceId, {
      provides: {
        device_type: await this.targets.deviceType(target),
        artifact_name: target.row.artifact_name ?? 'none',
      },
      checkDepends: true,
      controlMap: false,
    });
    if (assignment.kind !== 'install') return undefined;
    const ts = now();
    // Confirmed at once unless the target must confirm it (the tenant's auto-confirm off, the target's own not on).
    const autoConfirmed = (await this.targets.settings(target.tenantId)).auto_confirm || target.row.auto_confirm_json;
    const row = await store.actionFor({
      tenant_id: target.tenantId,
      device_id: deviceId,
      deployment_id: assignment.deploymentId,
      attempt: assignment.attempt,
      artifact_id: assignment.artifact.id,
      artifact_name: assignment.artifact.name,
      cancel_acknowledged_ts: null,
      confirmed_ts: autoConfirmed ? ts : null,
      created_ts: ts,
      updated_ts: ts,
    });
    return this.view(target, row);
  }

  /** The target's own action; another target's (or another tenant's) is not found. */
  async action(target: Target, actionId: string): Promise<DdiAction> {
    return this.view(target, await this.actionRow(target, actionId));
  }

  /**
   * The action's row alone (its lifecycle not looked up), cached for ROW_TTL_MS: only the cancellation's
   * acknowledgement ever changes in it, and this process forgets the row when it writes one.
   */
  async actionRow(target: Target, actionId: string): Promise<DdiActionRow> {
    if (!/^\d{1,15}$/.test(actionId)) throw new NotFound('action not found');
    const key = `${target.tenantId}|${actionId}`;
    const cached = this.rows.get(key);
    let row = cached && Date.now() - cached.at < ROW_TTL_MS ? cached.row : undefined;
    if (!row) {
      row = await this.store(target.tenantId).action(Number(actionId));
      if (row) {
        if (this.rows.size > 100_000) this.rows.clear();
        this.rows.set(key, { row, at: Date.now() });
      }
    }
    if (!row || row.device_id !== target.row.device_id) throw new NotFound('action not found');
    return row;
  }

  /**
   * hawkBit's actionHistory: the action's status in hawkBit's words and up to `count` lines of its deployment log,
   * newest first (`count` < 0: all).
   */
  async actionHistory(target: Target, action: DdiAction, count: number) {
    const open = { canceling: 'CANCELING', open: 'RUNNING', waiting: 'WAIT_FOR_CONFIRMATION' } as Record<
      string,
      string
    >;
    const status =
      open[action.status] ??
      ({ success: 'FINISHED', canceled: 'CANCELED' } as Record<string, string>)[action.result ?? ''] ??
      'ERROR';
    const text = await this.services.deployments
      .logText(target.tenantId, action.deployment_id, target.row.device_id)
      .catch(() => '');
    const lines = text.split('\n').filter(Boolean).reverse();
    return { status, messages: count < 0 ? lines : lines.slice(0, count) };
  }

  /** How the target should handle the action now: hawkBit's download/update and maintenanceWindow, by the domain. */
  handling(target: Target, action: DdiActionRow) {
    return this.services.deployments.attempts.handling(this.refOf(target, action));
  }

  /** deploymentBase feedback onto the attempt (see feedback.ts), details into its log, one transaction. */
  async deploymentFeedback(target: Target, action: DdiActionRow, feedback: Feedback): Promise<'ok' | 'gone'> {
    // Whether the attempt is still live is the domain's answer to the report (a refused one is gone).
    const { tenantId } = target;
    const ref = this.refOf(target, action);
    const line = { timestamp: now(), level: levelOf(feedback), message: logLine('deployment', feedback) };
    const attempts = this.services.deployments.attempts;
    const effect = deploymentEffect(feedback);
    let result: ReportResult | 'ok' | 'gone';
    switch (effect.kind) {
      case 'log':
        result = await attempts.appendLog(ref, [line]);
        break;
      case 'canceled':
        result = await attempts.cancelledByDevice(ref, {
          log: [line],
          alongside: (trx) => this.store(tenantId, trx).acknowledgeCancel(action.id, now()),
        });
        this.rows.delete(`${tenantId}|${action.id}`);
        break;
      case 'step':
        result = await attempts.progress(ref, effect.step, { log: [line] });
        break;
      case 'downloaded':
        result = await attempts.downloaded(ref, { log: [line] });
        break;
      case 'end':
        // The domain writes what the target runs now with a success that installed something (SWUpdate answers an
        // update `skip` with closed/success "Skipped Update.", which installed nothing).
        result = await attempts.end(ref, effect.outcome, {
          log: [line],
          installed: (trx) => this.installed(target, action, trx),
        });
        break;
    }
    return result === 'ok' || result === 'applied' || result === 'retrying' || result === 'unchanged' ? 'ok' : 'gone';
  }

  /** The target runs the action's artifact now: its row and its inventory, in the caller's transaction. */
  private async installed(target: Target, action: DdiActionRow, trx: Transaction<Tables>): Promise<void> {
    const row = {
      ...target.row,
      artifact_name: action.artifact_name,
      installed_action_id: action.id,
      updated_ts: now(),
    };
    await this.store(target.tenantId, trx).updateTarget(row.controller_id, {
      artifact_name: row.artifact_name,
      installed_action_id: row.installed_action_id,
      updated_ts: row.updated_ts,
    });
    await this.targets.writeInventory(target.tenantId, row.device_id, row, trx);
  }

  /**
   * cancelAction feedback: an acknowledgement closes the action; a refusal (rejected, or closed with failure) is a
   * warning and the attempt goes on, so the target can still close it; the rest is logged. One transaction each.
   */
  async cancelFeedback(target: Target, action: DdiAction, feedback: Feedback): Promise<'ok' | 'gone'> {
    if (action.status === 'closed') return 'gone';
    if (action.status !== 'canceling') throw new NotFound('no cancellation for this action');
    const ref = this.refOf(target, action);
    const line = { timestamp: now(), level: levelOf(feedback), message: logLine('cancel', feedback) };
    const attempts = this.services.deployments.attempts;
    let result: ReportResult | 'ok' | 'gone';
    switch (cancelEffect(feedback)) {
      case 'acknowledged':
        result = await attempts.appendLog(ref, [line], {
          alongside: (trx) => this.store(target.tenantId, trx).acknowledgeCancel(action.id, now()),
        });
        break;
      case 'refused':
        result = await attempts.cancellationRefused(ref, { log: [line] });
        break;
      case 'log':
        result = await attempts.appendLog(ref, [line]);
        break;
    }
    this.rows.delete(`${target.tenantId}|${action.id}`);
    return result === 'ok' || result === 'applied' || result === 'unchanged' ? 'ok' : 'gone';
  }

  // ---- confirmation ------------------------------------------------------------------------------------------------

  /**
   * The target's answer to an action waiting for confirmation: confirmed, the action proceeds (its deploymentBase is
   * offered); denied, the target refuses the update and the attempt ends aborted (not a failure), with its details
   * in the log. One transaction each. The DDI spec does not say what a deny does; hawkBit keeps the action waiting
   * (WAIT_FOR_CONFIRMATION) for a later confirm. Flotilla ends it, as issue 19 asks: the refusal shows in the
   * deployment's statistics and the deployment can finish.
   */
  async confirmationFeedback(target: Target, action: DdiAction, answer: Confirmation): Promise<'ok' | 'gone'> {
    if (action.status === 'closed') return 'gone';
    if (action.status !== 'waiting') throw new NotFound(`action ${action.id} is not waiting for confirmation`);
    const ref = this.refOf(target, action);
    const code = answer.code !== undefined ? ` (code ${answer.code})` : '';
    const details = answer.details.length ? `: ${answer.details.join(' | ')}` : '';
    const line = {
      timestamp: now(),
      level: answer.confirmation === 'denied' ? 'warning' : 'info',
      message: `ddi confirmation feedback ${answer.confirmation}${code}${details}`.slice(0, 4000),
    };
    const attempts = this.services.deployments.attempts;
    const result =
      answer.confirmation === 'confirmed'
        ? await attempts.appendLog(ref, [line], {
            live: true,
            alongside: (trx) => this.store(target.tenantId, trx).confirm(target.row.device_id, now(), action.id),
          })
        : await attempts.cancelledByDevice(ref, {
            log: [line],
            alongside: (trx) => this.store(target.tenantId, trx).acknowledgeCancel(action.id, now()),
          });
    this.rows.delete(`${target.tenantId}|${action.id}`);
    return result === 'ok' || result === 'applied' || result === 'unchanged' ? 'ok' : 'gone';
  }

  /** The target's auto-confirmation: what GET confirmationBase shows (the tenant's own auto-confirm wins). */
  async autoConfirmation(target: Target): Promise<AutoConfirmation> {
    if ((await this.targets.settings(target.tenantId)).auto_confirm)
      return { active: true, initiator: 'flotilla', remark: 'the tenant confirms every action', tenantWide: true };
    const own = target.row.auto_confirm_json;
    return own
      ? { active: true, ...(JSON.parse(own) as object), tenantWide: false }
      : { active: false, tenantWide: false };
  }

  /**
   * activateAutoConfirm: the target's current and future actions are confirmed (hawkBit: "all current active as well
   * as future actions"), in one transaction; deactivateAutoConfirm: future ones wait again, current ones stay as
   * they are.
   */
  async setAutoConfirmation(target: Target, on: { initiator?: string; remark?: string } | false): Promise<void> {
    const ts = now();
    const json = on ? JSON.stringify({ ...on, activatedAt: Date.parse(ts) }) : null;
    await this.services.store.transaction(async (trx) => {
      const store = this.store(target.tenantId, trx);
      await store.updateTarget(target.row.controller_id, { auto_confirm_json: json, updated_ts: ts });
      if (on) await store.confirm(target.row.device_id, ts);
    });
    this.rows.clear();
  }
}

export interface AutoConfirmation {
  active: boolean;
  initiator?: string;
  remark?: string;
  activatedAt?: number;
  /** The tenant's auto-confirm (targets cannot switch it off), not the target's own. */
  tenantWide: boolean;
}
