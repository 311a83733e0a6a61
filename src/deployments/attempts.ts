// The device side of deployments: one attempt state machine for every protocol. This module alone writes device
// deployments and their logs, and alone answers "is this attempt live, aborted, ended?". Mender, hawkBit DDI and
// Kanto call it with typed inputs (what a device provides, the step it reached, how it ended) and get typed
// answers; wire shapes, signed links and error texts stay with them. Each device event is one transaction.
import type { Transaction } from 'kysely';
import { ArtifactStore } from '../artifacts/store.js';
import { Conflict } from '../errors.js';
import { termOf } from '../inventory/predicates.js';
import { now, type Store } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import { newDeviceDeployment } from './creation.js';
import type { ControlMapWire } from './rules/controlmap.js';
import {
  type CandidateArtifact,
  type DeviceProvides,
  decideNext,
  type NextRequest,
  requestConflicts,
} from './rules/matching.js';
import { admittedPerPhase, mayReceive, type PhasePlan, phaseOfPosition, phaseToPauseFor } from './rules/phases.js';
import { statisticsOf } from './rules/statistics.js';
import {
  applyStatusReport,
  type DeviceDeploymentStatus,
  isActive,
  isBehind,
  isFinished,
  type PauseStatus,
  type ReportableStatus,
} from './rules/status.js';
import { type AttemptRow, DeploymentStore, type LogLine } from './store.js';
import type { DeploymentTable, DeviceDeploymentTable } from './tables.js';
import type { DeploymentTargets } from './targets.js';
import { maxDevicesOf, planOf, statusOf } from './views.js';

type Trx = Transaction<Tables>;

/** A step of an attempt that is still running. */
export type Step = 'downloading' | 'installing' | 'rebooting' | PauseStatus;
/** How an attempt ended, as a device says it. */
export type Outcome = 'success' | 'failure' | 'already-installed';

/** Names a device's part in a deployment; with `attempt`, one attempt of it (a retry is the next attempt). */
export interface AttemptRef {
  tenantId: string;
  deviceId: string;
  deploymentId: string;
  attempt?: number;
}

export interface AssignInput {
  provides: DeviceProvides;
  /** Check depends on the server (Mender's v1 GET carries no provides, so it cannot). */
  checkDepends: boolean;
  /** The device handles update control maps (Mender v2 asks for them). */
  controlMap?: boolean;
}

/** What a device should do now. */
export type Assignment =
  | { kind: 'none' }
  /** The device asked again mid-update with other provides than before: that attempt has failed (Mender: 409). */
  | { kind: 'conflict' }
  | {
      kind: 'install';
      deploymentId: string;
      attempt: number;
      status: DeviceDeploymentStatus;
      artifact: CandidateArtifact;
      controlMap?: ControlMapWire;
    }
  | {
      kind: 'configure';
      deploymentId: string;
      attempt: number;
      status: DeviceDeploymentStatus;
      artifactName: string;
      deviceType: string;
      controlMap?: ControlMapWire;
    };

/**
 * What became of a report. refused answers: `gone` (no such device deployment), `aborted` / `decommissioned`
 * (nothing moves it any more), `ended` (the attempt named is over: superseded by a retry, or finished).
 */
export type ReportResult = 'applied' | 'retrying' | 'unchanged' | 'gone' | 'aborted' | 'decommissioned' | 'ended';

export type AttemptState =
  | { kind: 'live'; status: DeviceDeploymentStatus }
  | { kind: 'ended'; status: DeviceDeploymentStatus }
  | { kind: 'aborted' }
  | { kind: 'decommissioned' }
  | { kind: 'gone' };

export interface ReportOptions {
  /** Mender's substate; empty keeps the stored one. */
  substate?: string;
  /** Lines for the device's deployment log, written with the change. */
  log?: readonly LogLine[];
  /** The protocol's own facts, written in the same transaction (whenever the report is not refused). */
  /** Ignore a step that is not past the attempt's current one (messages that may arrive out of order). */
  onlyForward?: boolean;
  alongside?: (trx: Trx) => Promise<void>;
}

/** How long a process trusts its cached deployments generation: the bound for a new deployment to reach a device. */
export const GENERATION_TTL_MS = 1000;
const MAX_IDLE_ENTRIES = 1_000_000;
const MAX_ARTIFACTS = 10_000;

export class DeviceAttempts {
  /** tenant → its deployments generation and when it was read. */
  private readonly generations = new Map<string, { value: number; readAt: number }>();
  /** tenant|device → the generation at which the device had nothing to do. */
  private readonly idle = new Map<string, number>();
  /** Artifacts are immutable in what a device needs of them (name, device types, depends, size). */
  private readonly artifacts = new Map<string, CandidateArtifact>();

  constructor(
    private readonly store: Store,
    private readonly targets: DeploymentTargets,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  private sql(tenantId: string, trx?: Trx): DeploymentStore {
    return new DeploymentStore(trx ?? this.store.db, tenantId);
  }

  // ---- assignment ----------------------------------------------------------------------------------------------

  /** What the device should install now, if anything; admits it to its phase and assigns the artifact. */
  async assign(tenantId: string, deviceId: string, input: AssignInput): Promise<Assignment> {
    const key = `${tenantId}|${deviceId}`;
    const generation = await this.generation(tenantId);
    if (this.idle.get(key) === generation) return { kind: 'none' };
    let row = await this.sql(tenantId).activeAttemptOf(deviceId);
    if (!row) {
      const joined = await this.joinDynamic(tenantId, deviceId);
      if (joined === 'none') {
        if (this.idle.size >= MAX_IDLE_ENTRIES) this.idle.clear();
        this.idle.set(key, generation);
        return { kind: 'none' };
      }
      if (joined === 'busy') return { kind: 'none' };
      row = joined;
    }
    this.idle.delete(key);
    return this.assignWithin(tenantId, row, input);
  }

  private async assignWithin(tenantId: string, row: AttemptRow, input: AssignInput): Promise<Assignment> {
    const { dd } = row;
    const { deployment } = row;
    const request: NextRequest = { device_provides: input.provides };
    if (input.controlMap !== undefined) request.update_control_map = input.controlMap;
    const requestJson = JSON.stringify(request);
    const notStarted = dd.status === 'pending' && dd.request_json === null;
    if (notStarted && (deployment.paused || deployment.finished_ts)) return { kind: 'none' };
    if (!notStarted && dd.status !== 'pending' && dd.request_json && dd.request_json !== requestJson) {
      if (requestConflicts(JSON.parse(dd.request_json) as NextRequest, request)) {
        await this.serverEnds(tenantId, row, 'failure');
        return { kind: 'conflict' };
      }
    }
    const changes: Partial<DeviceDeploymentTable> = {};
    let admitTo: number | null | undefined;
    if (dd.position === null) admitTo = admissionLimit(planOf(deployment), this.clock());
    const controlMap =
      deployment.control_map_json && input.controlMap
        ? (JSON.parse(deployment.control_map_json) as ControlMapWire)
        : undefined;

    if (deployment.type === 'configuration') {
      const deviceType = input.provides.device_type;
      if (dd.device_type !== deviceType) changes.device_type = deviceType;
      if (dd.request_json !== requestJson) changes.request_json = requestJson;
      if (!(await this.writeAssignment(tenantId, dd, admitTo, changes))) return { kind: 'none' };
      return {
        kind: 'configure',
        deploymentId: deployment.id,
        attempt: dd.attempts,
        status: dd.status,
        artifactName: deployment.artifact_name,
        deviceType,
        ...(controlMap ? { controlMap } : {}),
      };
    }

    const assigned = dd.artifact_id ? await this.artifact(tenantId, dd.artifact_id) : undefined;
    const candidates = assigned ? [] : await this.candidates(tenantId, deployment.artifact_name);
    const decision = decideNext({
      provides: input.provides,
      candidates,
      assigned,
      pending: dd.status === 'pending',
      forceInstallation: deployment.force_installation === 1,
      options: { checkDepends: input.checkDepends },
    });
    if (decision.kind !== 'install') {
      if (admitTo !== undefined && (await this.admitOnly(tenantId, dd, admitTo)) === undefined) return { kind: 'none' };
      await this.serverEnds(tenantId, { dd, deployment }, decision.kind, {
        device_type: input.provides.device_type,
        ...(decision.kind === 'already-installed' ? { artifact_id: decision.artifact.id } : {}),
      });
      return { kind: 'none' };
    }
    const artifact = decision.artifact;
    if (dd.artifact_id !== artifact.id) changes.artifact_id = artifact.id;
    if (dd.device_type !== input.provides.device_type) changes.device_type = input.provides.device_type;
    if (dd.request_json !== requestJson) changes.request_json = requestJson;
    if (!(await this.writeAssignment(tenantId, dd, admitTo, changes))) return { kind: 'none' };
    return {
      kind: 'install',
      deploymentId: deployment.id,
      attempt: dd.attempts,
      status: dd.status,
      artifact,
      ...(controlMap ? { controlMap } : {}),
    };
  }

  /**
   * Writes what the poll decided, in one transaction with the admission to a phase; nothing when nothing changed.
   * False when the phase has no room now.
   */
  private async writeAssignment(
    tenantId: string,
    dd: DeviceDeploymentTable,
    admitTo: number | null | undefined,
    changes: Partial<DeviceDeploymentTable>,
  ): Promise<boolean> {
    if (admitTo === undefined && Object.keys(changes).length === 0) return true;
    return this.store.transaction(async (trx) => {
      const store = this.sql(tenantId, trx);
      if (admitTo !== undefined) {
        const position = await store.admit(dd.deployment_id, admitTo);
        if (position === undefined) return false;
        changes.position = position;
      }
      await store.updateDeviceDeployment(dd.id, dd.status, changes);
      return true;
    });
  }

  private async admitOnly(tenantId: string, dd: DeviceDeploymentTable, admitTo: number | null) {
    return this.store.transaction(async (trx) => {
      const store = this.sql(tenantId, trx);
      const position = await store.admit(dd.deployment_id, admitTo);
      if (position !== undefined) await store.updateDeviceDeployment(dd.id, dd.status, { position });
      return position;
    });
  }

  private async candidates(tenantId: string, artifactName: string): Promise<CandidateArtifact[]> {
    const artifactStore = new ArtifactStore(this.store.db, tenantId);
    const rows = await artifactStore.byName(artifactName);
    const types = await artifactStore.deviceTypesOf(rows.map((r) => r.id));
    const out = rows.map((r) => ({
      id: r.id,
      name: r.name,
      device_types: types.get(r.id) ?? [],
      depends: JSON.parse(r.depends_json),
      size: Number(r.size),
    }));
    if (this.artifacts.size + out.length > MAX_ARTIFACTS) this.artifacts.clear();
    for (const candidate of out) this.artifacts.set(`${tenantId}|${candidate.id}`, candidate);
    return out;
  }

  private async artifact(tenantId: string, id: string): Promise<CandidateArtifact | undefined> {
    const cached = this.artifacts.get(`${tenantId}|${id}`);
    if (cached) return cached;
    const row = await new ArtifactStore(this.store.db, tenantId).byId(id);
    if (!row) return undefined;
    return (await this.candidates(tenantId, row.name)).find((c) => c.id === id);
  }

  /** A device not yet in any active deployment joins the oldest open dynamic deployment whose filter it matches. */
  private async joinDynamic(tenantId: string, deviceId: string): Promise<AttemptRow | 'none' | 'busy'> {
    const store = this.sql(tenantId);
    const open = await store.openDynamicDeployments(deviceId);
    if (open.length === 0) return 'none';
    for (const deployment of open) {
      if (deployment.paused) continue;
      const filter = JSON.parse(deployment.filter_json ?? '{"terms":[]}') as { terms: unknown[] };
      const terms = filter.terms.map((t) => termOf(t));
      if ((await this.targets.countMatching(tenantId, terms, [deviceId])) === 0) continue;
      // Mender's dynamic deployments skip devices that already ran something newer; here a device joins when it
      // matches and has no device deployment in it yet.
      const row = newDeviceDeployment(deployment.id, deviceId, now(), deployment.created_ts);
      try {
        await this.store.transaction(async (trx) => {
          const s = this.sql(tenantId, trx);
          await s.insertDeviceDeployments([row]);
          await s.incrementDeviceCount(deployment.id);
        });
      } catch (error) {
        // Another poll of the same device inserted it first (unique deployment, device).
        const existing = await store.attemptOf(deployment.id, deviceId);
        if (!existing) throw error;
        return existing;
      }
      return { dd: { ...row, tenant_id: tenantId }, deployment };
    }
    // Open dynamic deployments the device does not match now may match after an inventory change: ask again.
    return 'busy';
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

  /** Any status a device may report (Mender lets a device report any of them, in any order). */
  async report(ref: AttemptRef, status: ReportableStatus, options: ReportOptions = {}): Promise<ReportResult> {
    for (let tries = 0; tries < 3; tries++) {
      const row = await this.sql(ref.tenantId).attemptOf(ref.deploymentId, ref.deviceId);
      const result = await this.apply(ref, row, status, options);
      if (result !== 'raced') return result;
    }
    throw new Conflict('the device deployment changed concurrently; report again');
  }

  /** The state of an attempt (or of the device's part in the deployment, without `attempt`). */
  async state(ref: AttemptRef): Promise<AttemptState> {
    const row = await this.sql(ref.tenantId).attemptOf(ref.deploymentId, ref.deviceId);
    return stateOf(row?.dd, ref.attempt);
  }

  private async apply(
    ref: AttemptRef,
    row: AttemptRow | undefined,
    status: ReportableStatus,
    options: ReportOptions,
  ): Promise<ReportResult | 'raced'> {
    const state = stateOf(row?.dd, ref.attempt);
    if (!row || state.kind === 'gone') return 'gone';
    if (state.kind === 'aborted' || state.kind === 'decommissioned') return state.kind;
    if (ref.attempt !== undefined && state.kind === 'ended') return 'ended';
    const { dd, deployment } = row;
    const outcome =
      options.onlyForward && isBehind(dd.status, status)
        ? ({ kind: 'unchanged' } as const)
        : applyStatusReport(dd, { status, substate: options.substate }, deployment.retries);
    if (outcome.kind === 'refused') return outcome.reason;
    const log = options.log ?? [];
    if (outcome.kind === 'unchanged') {
      if (log.length === 0 && !options.alongside) return 'unchanged';
      await this.store.transaction(async (trx) => {
        await this.sql(ref.tenantId, trx).appendLog(ref.deploymentId, ref.deviceId, log);
        if (log.length && !dd.has_log)
          await this.sql(ref.tenantId, trx).updateDeviceDeployment(dd.id, dd.status, { has_log: 1 });
        await options.alongside?.(trx);
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
    const applied = await this.store.transaction(async (trx) => {
      const store = this.sql(ref.tenantId, trx);
      if (!(await store.updateDeviceDeployment(dd.id, dd.status, changes))) return false;
      await store.appendLog(ref.deploymentId, ref.deviceId, log);
      await options.alongside?.(trx);
      await this.settle(ref.tenantId, deployment, dd.status, changes.status as DeviceDeploymentStatus, trx);
      return true;
    });
    if (!applied) return 'raced';
    return outcome.kind === 'retry' ? 'retrying' : 'applied';
  }

  /** Server-side ends (noartifact, already-installed, a conflicting request's failure): one transaction. */
  private async serverEnds(
    tenantId: string,
    row: AttemptRow,
    to: DeviceDeploymentStatus,
    extra: Partial<DeviceDeploymentTable> = {},
  ): Promise<void> {
    const ts = now();
    await this.store.transaction(async (trx) => {
      const changed = await this.sql(tenantId, trx).updateDeviceDeployment(row.dd.id, row.dd.status, {
        ...extra,
        status: to,
        active: isActive(to) ? 1 : 0,
        finished_ts: isFinished(to) ? ts : null,
      });
      if (changed) await this.settle(tenantId, row.deployment, row.dd.status, to, trx);
    });
  }

  /**
   * After one device moved from `from` to `to`: the deployment's stored status follows (pending → inprogress on
   * the first device that starts; finished when the last one is done), and the rollout pauses when a phase crossed
   * its failure threshold. Without recounting every device: an indexed probe, and only when a device finished.
   */
  private async settle(
    tenantId: string,
    deployment: DeploymentTable,
    from: DeviceDeploymentStatus,
    to: DeviceDeploymentStatus,
    trx: Trx,
  ): Promise<void> {
    if (deployment.finished_ts) return;
    const store = this.sql(tenantId, trx);
    const changes: Partial<DeploymentTable> = {};
    if (deployment.status === 'pending' && leavesPending(to)) changes.status = 'inprogress';
    if (isFinished(to) && !isFinished(from)) {
      const max = maxDevicesOf(deployment);
      if (max !== undefined && max > 0) {
        // Devices finishing at once on PostgreSQL: the deployment row's lock makes the last one see the others.
        if (this.store.dialect === 'postgres') await store.lockDeployment(deployment.id);
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
    if (Object.keys(changes).length) await store.updateDeployment(deployment.id, changes);
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
      const dd = await store.deviceDeployment(ref.deploymentId, ref.deviceId);
      if (!dd || (ref.attempt !== undefined && dd.attempts !== ref.attempt)) return 'gone';
      if (live && stateOf(dd, ref.attempt).kind !== 'live') return 'gone';
      if (replace) await store.clearLog(ref.deploymentId, ref.deviceId);
      await store.appendLog(ref.deploymentId, ref.deviceId, lines);
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

  /** The device's last attempt that ended in success (what it runs, as far as deployments know). */
  async lastSucceeded(
    tenantId: string,
    deviceId: string,
  ): Promise<{ deploymentId: string; attempt: number } | undefined> {
    const dd = await this.sql(tenantId).lastSucceeded(deviceId);
    return dd && { deploymentId: dd.deployment_id, attempt: dd.attempts };
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
  async resetHistory(tenantId: string, deviceId: string): Promise<void> {
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
    });
    this.generations.delete(tenantId);
  }

  // ---- the poll's generation -----------------------------------------------------------------------------------

  /** The tenant's deployments generation, read at most once per GENERATION_TTL_MS. */
  private async generation(tenantId: string): Promise<number> {
    const at = Date.now();
    const cached = this.generations.get(tenantId);
    if (cached && at - cached.readAt < GENERATION_TTL_MS) return cached.value;
    const value = await this.sql(tenantId).generation();
    this.generations.set(tenantId, { value, readAt: at });
    return value;
  }

  /** After a transaction that bumped the generation committed: this process sees it at once. */
  generationChanged(tenantId: string): void {
    this.generations.delete(tenantId);
  }
}

/** What an attempt's row says about it. */
function stateOf(dd: DeviceDeploymentTable | undefined, attempt: number | undefined): AttemptState {
  if (!dd) return { kind: 'gone' };
  if (attempt !== undefined && dd.attempts !== attempt) {
    // A later attempt exists: this one failed (a retry), or the history was reset after it.
    return dd.attempts > attempt ? { kind: 'ended', status: 'failure' } : { kind: 'gone' };
  }
  if (dd.status === 'aborted') return { kind: 'aborted' };
  if (dd.status === 'decommissioned') return { kind: 'decommissioned' };
  return isActive(dd.status) ? { kind: 'live', status: dd.status } : { kind: 'ended', status: dd.status };
}

/**
 * Statuses that take a deployment out of "pending" (model/deployment.go IsNotPending): every status but pending
 * and decommissioned.
 */
function leavesPending(status: DeviceDeploymentStatus): boolean {
  return status !== 'pending' && status !== 'decommissioned';
}

/**
 * How many positions may be handed out now: phases fill in order and start in order, so the positions whose phase
 * has started form a prefix. null means no limit (no phases, or the open-ended last phase has started).
 */
export function admissionLimit(plan: readonly PhasePlan[], at: Date): number | null {
  let start = 0;
  for (let index = 0; index < plan.length; index++) {
    if (!mayReceive(plan, start, at)) return start;
    start += plan[index].device_count;
  }
  return null;
}
