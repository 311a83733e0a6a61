// The device side of deployments: one attempt state machine for every protocol. This module alone writes device
// deployments and their logs, and alone answers "is this attempt live, aborted, ended?". Mender, hawkBit DDI and
// Kanto call it with typed inputs (what a device provides, the step it reached, how it ended) and get typed
// answers; wire shapes, signed links and error texts stay with them. Each device event is one transaction.
import type { Transaction } from 'kysely';
import { now, type Store } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import { Assignments } from './assignment.js';
import { AttemptCache } from './attempt-cache.js';
import {
  type AssignInput,
  type Assignment,
  type AttemptRef,
  type AttemptState,
  type Outcome,
  type ReportOptions,
  type ReportResult,
  type Step,
  stateOf,
} from './attempt-types.js';
import { newDeviceDeployment } from './creation.js';
import type { ControlMapWire } from './rules/controlmap.js';
import { type HandlingNow, handlingAt, storedHandling } from './rules/handling.js';
import { linesToKeep } from './rules/log-size.js';
import {
  applyStatusReport,
  type DeviceDeploymentStatus,
  isActive,
  isBehind,
  isFinished,
  type ReportableStatus,
} from './rules/status.js';
import { DeploymentSettler } from './settle.js';
import { type AttemptRow, DeploymentStore, type LogLine } from './store.js';
import type { DeviceDeploymentTable } from './tables.js';
import type { DeploymentTargets } from './targets.js';

export type * from './attempt-types.js';

type Trx = Transaction<Tables>;

export class DeviceAttempts {
  constructor(
    private readonly store: Store,
    readonly targets: DeploymentTargets,
    readonly clock: () => Date = () => new Date(),
  ) {
    this.assignments = new Assignments(
      store,
      targets,
      clock,
      (tenantId, row, to, extra) => this.serverEnds(tenantId, row, to, extra),
      this.cache,
    );
    this.settler = new DeploymentSettler(store, clock);
  }

  private readonly assignments: Assignments;
  private readonly settler: DeploymentSettler;
  /** Attempts as this process last saw them: a report goes straight to its update (see attempt-cache.ts). */
  private readonly cache = new AttemptCache();

  /** What the device should install now, if anything (see assignment.ts). */
  assign(tenantId: string, deviceId: string, input: AssignInput): Promise<Assignment> {
    return this.assignments.assign(tenantId, deviceId, input);
  }

  /** A release got a new artifact: polls read its artifacts again. */
  releaseChanged(tenantId: string, name: string): void {
    this.assignments.releaseChanged(tenantId, name);
  }

  /** After a transaction that bumped the tenant's deployments generation committed: this process sees it at once. */
  generationChanged(tenantId: string): void {
    this.assignments.generationChanged(tenantId);
  }

  /** The full recount, for operators' moves that touch many devices at once. */
  recount(tenantId: string, deploymentId: string, trx: Trx): Promise<void> {
    return this.settler.recount(tenantId, deploymentId, trx);
  }

  private sql(tenantId: string, trx?: Trx): DeploymentStore {
    return new DeploymentStore(trx ?? this.store.db, tenantId);
  }

  // ---- reports -------------------------------------------------------------------------------------------------

  /** A running attempt reached a step (downloading, installing, rebooting, a pause). */
  progress(ref: AttemptRef, step: Step, options: ReportOptions = {}): Promise<ReportResult> {
    return this.report(ref, step, options);
  }

  /** The device says how the attempt ended; a failure with attempts left becomes the next attempt. */
  end(ref: AttemptRef, outcome: Outcome, options: ReportOptions = {}): Promise<ReportResult> {
    return this.report(ref, outcome, options);
  }

  /**
   * The device has downloaded the attempt's artifact. A download-only deployment's attempt ends there: success,
   * nothing installed (hawkBit: a DOWNLOADED download-only action is finished); any other goes on downloading.
   */
  async downloaded(ref: AttemptRef, options: ReportOptions = {}): Promise<ReportResult> {
    const row = await this.sql(ref.tenantId).attemptOf(ref.deploymentId, ref.deviceId);
    if (storedHandling(row?.deployment.handling_json ?? null).type !== 'downloadonly')
      return this.report(ref, 'downloading', options);
    return this.report(ref, 'success', { substate: 'downloaded (download only, not installed)', ...options });
  }

  /** How the device should handle the attempt now: download/update handling and the maintenance window. */
  async handling(ref: AttemptRef): Promise<HandlingNow> {
    const row = await this.sql(ref.tenantId).attemptOf(ref.deploymentId, ref.deviceId);
    return handlingAt(storedHandling(row?.deployment.handling_json ?? null), this.clock());
  }

  /**
   * Any status a device may report (Mender lets a device report any of them, in any order). The first try is
   * optimistic (the row is updated only if its status is still the one read: one statement on the hot path); if
   * another report of the same device got in between, the report is applied again with the row locked, so that
   * concurrent reports queue up and every one is answered. A 409 would be wrong: mender-client reads any 409 on a
   * status report as "deployment aborted" and abandons its update.
   */
  async report(ref: AttemptRef, status: ReportableStatus, options: ReportOptions = {}): Promise<ReportResult> {
    const known = this.cache.get(ref.tenantId, ref.deploymentId, ref.deviceId);
    if (known) {
      // The row as this process last saw it: the update applies only if it is still so (else it is read below).
      const result = await this.apply(ref, known, status, options, undefined, true);
      if (result !== 'raced') return result;
      this.cache.forget(ref.tenantId, ref.deploymentId, ref.deviceId);
    }
    const row = await this.sql(ref.tenantId).attemptOf(ref.deploymentId, ref.deviceId);
    const result = await this.apply(ref, row, status, options);
    if (result !== 'raced') return result;
    const locked = await this.store.transaction(async (trx) => {
      const store = this.sql(ref.tenantId, trx);
      await store.lockAttempt(ref.deploymentId, ref.deviceId);
      return this.apply(ref, await store.attemptOf(ref.deploymentId, ref.deviceId), status, options, trx);
    });
    // Under the lock nothing can change the row between the read and the update.
    if (locked === 'raced') throw new Error('a device deployment changed under its row lock');
    return locked;
  }

  /** The state of an attempt (or of the device's part in the deployment, without `attempt`). */
  async state(ref: AttemptRef): Promise<AttemptState> {
    const row = await this.sql(ref.tenantId).attemptOf(ref.deploymentId, ref.deviceId);
    return stateOf(row?.dd, ref.attempt);
  }

  /**
   * Applies a report to the row read; `trx`: inside that transaction (which holds the row's lock). `remembered`: the
   * row is the cache's, not read now; the report then goes on only if it moves the row, with an update that
   * applies only to the row as remembered (`raced` otherwise, and for what a stale row could answer wrongly: a
   * refusal, an unchanged step, a failure whose retry and pause rules read the deployment as it is now).
   */
  private async apply(
    ref: AttemptRef,
    row: AttemptRow | undefined,
    status: ReportableStatus,
    options: ReportOptions,
    trx?: Trx,
    remembered = false,
  ): Promise<ReportResult | 'raced'> {
    const within = <T>(work: (t: Trx) => Promise<T>): Promise<T> => (trx ? work(trx) : this.store.transaction(work));
    const state = stateOf(row?.dd, ref.attempt);
    if (remembered && (state.kind !== 'live' || status === 'failure')) return 'raced';
    if (!row || state.kind === 'gone') return 'gone';
    if (state.kind === 'aborted' || state.kind === 'decommissioned') return state.kind;
    if (ref.attempt !== undefined && state.kind === 'ended') return 'ended';
    const { dd, deployment } = row;
    const outcome =
      options.onlyForward && isBehind(dd.status, status)
        ? ({ kind: 'unchanged' } as const)
        : applyStatusReport(dd, { status, substate: options.substate }, deployment.retries);
    if (remembered && outcome.kind !== 'changed') return 'raced';
    if (outcome.kind === 'refused') return outcome.reason;
    const log = options.log ?? [];
    if (outcome.kind === 'unchanged') {
      if (log.length === 0 && !options.alongside) return 'unchanged';
      await within(async (t) => {
        await this.sql(ref.tenantId, t).appendLog(ref.deploymentId, ref.deviceId, log);
        if (log.length && !dd.has_log)
          await this.sql(ref.tenantId, t).updateDeviceDeployment(dd.id, dd.status, { has_log: 1 });
        await options.alongside?.(t);
      });
      return 'unchanged';
    }
    const ts = now();
    const changes: Partial<DeviceDeploymentTable> =
      outcome.kind === 'retry'
        ? {
            status: 'pending',
            active: 1,
            attempts: outcome.attempts,
            request_json: null,
            finished_ts: null,
            ...(outcome.substate ? { substate: outcome.substate } : {}),
          }
        : {
            status: outcome.to,
            active: isActive(outcome.to) ? 1 : 0,
            ...(outcome.substate ? { substate: outcome.substate } : {}),
            ...(outcome.started && !dd.started_ts ? { started_ts: ts } : {}),
            finished_ts: outcome.finished ? ts : null,
          };
    if (log.length) changes.has_log = 1;
    changes.updated_ts = ts;
    const readAt = remembered ? (dd.updated_ts ?? undefined) : undefined;
    const to = changes.status as DeviceDeploymentStatus;
    const installs =
      options.installed !== undefined &&
      to === 'success' &&
      handlingAt(storedHandling(deployment.handling_json), this.clock()).update !== 'skip';
    const deferred = this.settler.defers(deployment, trx !== undefined);
    if (
      log.length === 0 &&
      !options.alongside &&
      !installs &&
      !this.settler.needed(deployment, dd.status, to, deferred)
    ) {
      // A step that changes nothing but the device's row: one statement is its own transaction. A device that
      // finishes a deployment whose finish is deferred asks right after it whether it was the last one.
      const store = this.sql(ref.tenantId, trx);
      if (!(await store.updateDeviceDeployment(dd.id, dd.status, changes, undefined, readAt))) return 'raced';
      this.cache.remember(ref.tenantId, { dd: { ...dd, ...changes }, deployment });
      if (this.settler.finishesLater(deployment, dd.status, to, deferred))
        await this.settler.finishIfDone(ref.tenantId, deployment);
      return outcome.kind === 'retry' ? 'retrying' : 'applied';
    }
    let settled: { finishLater: boolean; deployment: typeof deployment } | undefined;
    const applied = await within(async (t) => {
      const store = this.sql(ref.tenantId, t);
      const lock = this.settler.lockFor(deployment, dd.status, to, deferred);
      if (!(await store.updateDeviceDeployment(dd.id, dd.status, changes, lock, readAt))) return false;
      await store.appendLog(ref.deploymentId, ref.deviceId, log);
      await options.alongside?.(t);
      if (installs) await options.installed?.(t);
      settled = await this.settler.settle(ref.tenantId, deployment, dd.status, to, t, deferred);
      return true;
    });
    if (!applied || !settled) return 'raced';
    this.cache.remember(ref.tenantId, { dd: { ...dd, ...changes }, deployment: settled.deployment });
    if (settled.finishLater) await this.settler.finishIfDone(ref.tenantId, deployment);
    return outcome.kind === 'retry' ? 'retrying' : 'applied';
  }

  // ---- cancellations a device confirms or refuses (hawkBit DDI) --------------------------------------------------

  /**
   * The device cancels its live attempt (or confirms a cancellation already made): the attempt ends `aborted`, not
   * as a failure, so no retry follows. An attempt already aborted stays so (`unchanged`, the log still written).
   */
  cancelledByDevice(ref: AttemptRef, options: Pick<ReportOptions, 'log' | 'alongside'> = {}) {
    return this.cancellation(ref, 'live', () => ({ status: 'aborted', active: 0, finished_ts: now() }), options);
  }

  /**
   * The device refuses an operator's abort it cannot carry out now (hawkBit's rejected cancellation): the aborted
   * attempt goes on where it was (installing once started, else pending), so the device can still end it with its
   * own outcome. Only an abort is refused this way; a decommissioned device's attempt stays ended.
   */
  cancellationRefused(ref: AttemptRef, options: Pick<ReportOptions, 'log' | 'alongside'> = {}) {
    return this.cancellation(
      ref,
      'aborted',
      (dd) => ({ status: dd.started_ts ? 'installing' : 'pending', active: 1, finished_ts: null }),
      options,
    );
  }

  /** A cancellation the device confirms or refuses: the attempt moves only from the state `from`, in one transaction. */
  private cancellation(
    ref: AttemptRef,
    from: 'live' | 'aborted',
    changes: (dd: DeviceDeploymentTable) => Partial<DeviceDeploymentTable>,
    options: Pick<ReportOptions, 'log' | 'alongside'>,
  ): Promise<ReportResult> {
    return this.store.transaction(async (trx): Promise<ReportResult> => {
      const store = this.sql(ref.tenantId, trx);
      // Locked (PostgreSQL) so that no other report of the device changes the row between the read and the update.
      await store.lockAttempt(ref.deploymentId, ref.deviceId);
      const dd = await store.deviceDeployment(ref.deploymentId, ref.deviceId);
      const state = stateOf(dd, ref.attempt);
      if (!dd) return 'gone';
      if (state.kind === 'gone' || state.kind === 'decommissioned' || state.kind === 'ended') return state.kind;
      const moves = state.kind === from;
      if (moves) {
        const changed = await store.updateDeviceDeployment(dd.id, dd.status, {
          ...changes(dd),
          ...(options.log?.length ? { has_log: 1 } : {}),
        });
        if (!changed) throw new Error('a device deployment changed under its row lock');
        await this.recount(ref.tenantId, ref.deploymentId, trx);
      }
      await this.logWithin(trx, store, { ...dd, has_log: moves ? 1 : dd.has_log }, options);
      return moves ? 'applied' : 'unchanged';
    });
  }

  /** The lines and the protocol's own facts of a cancellation, in its transaction (`dd` as it is now). */
  private async logWithin(
    trx: Trx,
    store: DeploymentStore,
    dd: DeviceDeploymentTable,
    options: Pick<ReportOptions, 'log' | 'alongside'>,
  ): Promise<void> {
    const log = options.log ?? [];
    if (log.length) {
      await store.appendLog(dd.deployment_id, dd.device_id, log);
      if (!dd.has_log) await store.updateDeviceDeployment(dd.id, dd.status, { has_log: 1 });
    }
    await options.alongside?.(trx);
  }

  /** Server-side ends (noartifact, already-installed, a conflicting request's failure): one transaction. */
  private async serverEnds(
    tenantId: string,
    row: AttemptRow,
    to: DeviceDeploymentStatus,
    extra: Partial<DeviceDeploymentTable> = {},
  ): Promise<void> {
    const ts = now();
    const deferred = this.settler.defers(row.deployment, false);
    const finishLater = await this.store.transaction(async (trx) => {
      const changed = await this.sql(tenantId, trx).updateDeviceDeployment(
        row.dd.id,
        row.dd.status,
        { ...extra, status: to, active: isActive(to) ? 1 : 0, finished_ts: isFinished(to) ? ts : null },
        this.settler.lockFor(row.deployment, row.dd.status, to, deferred),
      );
      return (
        changed && (await this.settler.settle(tenantId, row.deployment, row.dd.status, to, trx, deferred)).finishLater
      );
    });
    this.cache.forget(tenantId, row.dd.deployment_id, row.dd.device_id);
    if (finishLater) await this.settler.finishIfDone(tenantId, row.deployment);
  }

  // ---- logs ----------------------------------------------------------------------------------------------------

  /**
   * Adds lines to the device's log in the deployment (server lines, or a protocol's feedback details); with
   * `ref.attempt`, only while that attempt is the device's current one. `alongside` as for reports.
   */
  async appendLog(
    ref: AttemptRef,
    lines: readonly LogLine[],
    options: Pick<ReportOptions, 'alongside'> & { live?: boolean } = {},
  ): Promise<'ok' | 'gone'> {
    return this.writeLog(ref, lines, false, options.alongside, options.live);
  }

  /** The device's whole log, replacing what it sent before (Mender's PUT .../log). */
  async replaceLog(ref: AttemptRef, lines: readonly LogLine[]): Promise<'ok' | 'gone'> {
    return this.writeLog(ref, lines, true);
  }

  private async writeLog(
    ref: AttemptRef,
    lines: readonly LogLine[],
    replace: boolean,
    alongside?: (trx: Trx) => Promise<void>,
    live = false,
  ): Promise<'ok' | 'gone'> {
    return this.store.transaction(async (trx) => {
      const store = this.sql(ref.tenantId, trx);
      const dd = await store.deviceDeploymentAndLogSize(ref.deploymentId, ref.deviceId);
      if (!dd || (ref.attempt !== undefined && dd.attempts !== ref.attempt)) return 'gone';
      if (live && stateOf(dd, ref.attempt).kind !== 'live') return 'gone';
      if (replace) await store.clearLog(ref.deploymentId, ref.deviceId);
      await store.appendLog(ref.deploymentId, ref.deviceId, linesToKeep(replace ? 0 : dd.log_lines, lines));
      if (!dd.has_log && lines.length) await store.updateDeviceDeployment(dd.id, dd.status, { has_log: 1 });
      await alongside?.(trx);
      return 'ok';
    });
  }

  /** The device's log in a deployment; undefined when it has no part in it. */
  async log(tenantId: string, deploymentId: string, deviceId: string): Promise<LogLine[] | undefined> {
    const store = this.sql(tenantId);
    const dd = await store.deviceDeployment(deploymentId, deviceId);
    if (!dd?.has_log) return undefined;
    return store.logLines(deploymentId, deviceId);
  }

  /** The control map of the deployment the device is updating in; undefined when none or not active. */
  async controlMap(ref: AttemptRef): Promise<ControlMapWire | undefined> {
    const row = await this.sql(ref.tenantId).attemptOf(ref.deploymentId, ref.deviceId);
    if (!row || !isActive(row.dd.status) || !row.deployment.control_map_json) return undefined;
    return JSON.parse(row.deployment.control_map_json) as ControlMapWire;
  }

  // ---- background and operators --------------------------------------------------------------------------------

  /**
   * Ends attempts whose device stayed silent in `statuses` since before `cutoff`, as failures (retries apply), with
   * `reason` in each device's log; one transaction each. Returns those ended.
   */
  async expireSilent(
    statuses: readonly DeviceDeploymentStatus[],
    cutoff: string,
    limit: number,
    reason: (row: DeviceDeploymentTable) => string,
  ): Promise<DeviceDeploymentTable[]> {
    const expired: DeviceDeploymentTable[] = [];
    for (const silent of await DeploymentStore.silent(this.store.db, statuses, cutoff, limit)) {
      const ref = { tenantId: silent.tenant_id, deviceId: silent.device_id, deploymentId: silent.deployment_id };
      const row = await this.sql(ref.tenantId).attemptOf(ref.deploymentId, ref.deviceId);
      // The device reported meanwhile: nothing to end.
      if (!row || row.dd.status !== silent.status || (row.dd.updated_ts ?? '') >= cutoff) continue;
      const line = { timestamp: now(), level: 'error', message: reason(row.dd) };
      const result = await this.apply({ ...ref, attempt: row.dd.attempts }, row, 'failure', { log: [line] });
      if (result === 'applied' || result === 'retrying') expired.push(row.dd);
    }
    return expired;
  }

  /** Attempts waiting for devices of a protocol that pushes work to them (the face names the protocol). */
  async dueForPush(face: string, limit: number): Promise<(AttemptRef & { attempt: number })[]> {
    const rows = await DeploymentStore.pendingOfFace(this.store.db, face, limit);
    return rows.map((r) => ({
      tenantId: r.tenant_id,
      deviceId: r.device_id,
      deploymentId: r.deployment_id,
      attempt: Number(r.attempts),
    }));
  }

  /** New device deployments for a deployment being created, inside the creation's transaction. */
  async open(tenantId: string, deploymentId: string, deviceIds: readonly string[], ts: string, trx: Trx) {
    const store = this.sql(tenantId, trx);
    await store.insertDeviceDeployments(deviceIds.map((deviceId) => newDeviceDeployment(deploymentId, deviceId, ts)));
    await store.bumpGeneration();
  }

  /** Ends every active attempt of a deployment (an operator's abort), inside the abort's transaction. */
  async abortAll(tenantId: string, deploymentId: string, ts: string, trx: Trx): Promise<void> {
    await this.sql(tenantId, trx).finishActive({ deploymentId }, 'aborted', ts);
  }

  /** Ends every active attempt of a device: aborted by an operator, or the device decommissioned. */
  async endForDevice(
    tenantId: string,
    deviceId: string,
    status: 'aborted' | 'decommissioned',
    trx?: Trx,
  ): Promise<void> {
    const work = async (t: Trx) => {
      const touched = await this.sql(tenantId, t).finishActive({ deviceId }, status, now());
      for (const deploymentId of touched) await this.recount(tenantId, deploymentId, t);
    };
    if (trx) await work(trx);
    else await this.store.transaction(work);
  }

  /**
   * `DELETE /deployments/devices/{id}/history`: the device's finished device deployments leave its history, and
   * it becomes eligible again for the deployments still running (as a first attempt). Statistics keep the rest.
   */
  async resetHistory(tenantId: string, deviceId: string, alongside?: (trx: Trx) => Promise<void>): Promise<void> {
    await this.store.transaction(async (trx) => {
      const store = this.sql(tenantId, trx);
      const ts = now();
      const rows = await store.finishedOfDevice(deviceId);
      const deployments = new Map(
        (await store.deploymentsByIds([...new Set(rows.map((r) => r.deployment_id))])).map((d) => [d.id, d]),
      );
      for (const row of rows) {
        const deployment = deployments.get(row.deployment_id);
        const running = deployment && !deployment.finished_ts && !deployment.aborted;
        if (running && row.status !== 'decommissioned') {
          await store.updateDeviceDeployment(row.id, row.status, {
            status: 'pending',
            active: 1,
            attempts: 1,
            substate: null,
            request_json: null,
            artifact_id: null,
            started_ts: null,
            finished_ts: null,
          });
          await this.recount(tenantId, row.deployment_id, trx);
        } else {
          await store.updateDeviceDeployment(row.id, row.status, { deleted_ts: ts });
        }
      }
      await store.bumpGeneration();
      await alongside?.(trx);
    });
    this.assignments.generationChanged(tenantId);
  }
}
