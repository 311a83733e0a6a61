// What a polling device is told to do: its oldest live attempt (or a place in an open dynamic deployment), admitted
// to its phase, with the artifact chosen for what it provides. Steady-state polls of a device with nothing to do
// run no SQL: a per-tenant deployments generation (cached GENERATION_TTL_MS) says whether "nothing" still holds.
import type { Transaction } from 'kysely';
import { ArtifactStore } from '../artifacts/store.js';
import { termOf } from '../inventory/predicates.js';
import { now, type Store } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import type { AttemptCache } from './attempt-cache.js';
import type { AssignedArtifact, AssignInput, Assignment } from './attempt-types.js';
import { newDeviceDeployment } from './creation.js';
import type { ControlMapWire } from './rules/controlmap.js';
import { decideNext, type NextRequest, requestConflicts } from './rules/matching.js';
import { mayReceive, type PhasePlan } from './rules/phases.js';
import type { DeviceDeploymentStatus } from './rules/status.js';
import { type AttemptRow, DeploymentStore } from './store.js';
import type { DeviceDeploymentTable } from './tables.js';
import type { DeploymentTargets } from './targets.js';
import { planOf } from './views.js';

type Trx = Transaction<Tables>;

/** Ends an attempt on the server's word (noartifact, already-installed, a conflicting request), in one transaction. */
export type ServerEnd = (
  tenantId: string,
  row: AttemptRow,
  to: DeviceDeploymentStatus,
  extra?: Partial<DeviceDeploymentTable>,
) => Promise<void>;

/** How long a process trusts its cached deployments generation: the bound for a new deployment to reach a device. */
export const GENERATION_TTL_MS = 1000;
const MAX_IDLE_ENTRIES = 1_000_000;
const MAX_ARTIFACTS = 10_000;
/**
 * How long a process trusts its list of a release's artifacts: the bound for an artifact uploaded on another process
 * to reach devices polling this one (on this process it is at once).
 */
export const RELEASE_TTL_MS = 1000;

export class Assignments {
  /** tenant → its deployments generation and when it was read. */
  private readonly generations = new Map<string, { value: number; readAt: number }>();
  /**
   * tenant → the generation read under way: polls arriving while it runs share it. Without this, every poll in flight
   * when the cached value expired read it itself (10-100 reads at once each second under load, queueing on the pool).
   */
  private readonly reading = new Map<string, Promise<number>>();
  /** tenant|device → the generation at which the device had nothing to do. */
  private readonly idle = new Map<string, number>();
  /** Artifacts are immutable in what a device needs of them (name, device types, depends, size). */
  private readonly artifacts = new Map<string, AssignedArtifact>();
  /** tenant|release name → its artifacts, read at most once per RELEASE_TTL_MS (a new one is forgotten at once). */
  private readonly releases = new Map<string, { artifacts: AssignedArtifact[]; at: number }>();

  constructor(
    private readonly store: Store,
    private readonly targets: DeploymentTargets,
    private readonly clock: () => Date,
    private readonly ends: ServerEnd,
    private readonly cache: AttemptCache,
  ) {}

  private sql(tenantId: string, trx?: Trx): DeploymentStore {
    return new DeploymentStore(trx ?? this.store.db, tenantId);
  }

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
        await this.ends(tenantId, row, 'failure');
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
      if (!(await this.writeAssignment(tenantId, row, admitTo, changes))) return { kind: 'none' };
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
      await this.ends(tenantId, { dd, deployment }, decision.kind, {
        device_type: input.provides.device_type,
        ...(decision.kind === 'already-installed' ? { artifact_id: decision.artifact.id } : {}),
      });
      return { kind: 'none' };
    }
    // decideNext hands back one of the candidates (or the assigned artifact) it was given.
    const artifact = decision.artifact as AssignedArtifact;
    if (dd.artifact_id !== artifact.id) changes.artifact_id = artifact.id;
    if (dd.device_type !== input.provides.device_type) changes.device_type = input.provides.device_type;
    if (dd.request_json !== requestJson) changes.request_json = requestJson;
    if (!(await this.writeAssignment(tenantId, row, admitTo, changes))) return { kind: 'none' };
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
    row: AttemptRow,
    admitTo: number | null | undefined,
    changes: Partial<DeviceDeploymentTable>,
  ): Promise<boolean> {
    const { dd, deployment } = row;
    if (admitTo === undefined && Object.keys(changes).length === 0) {
      this.cache.remember(tenantId, row);
      return true;
    }
    changes.updated_ts = now();
    if (admitTo !== undefined && this.store.dialect === 'postgres') {
      // One statement, no transaction held open across round trips on the deployment's hot row; when it wrote
      // nothing (the phase is full, or the row moved), the transaction below finds out which.
      const position = await this.sql(tenantId).admitAndAssign(dd, admitTo, changes);
      if (position !== undefined) {
        this.cache.remember(tenantId, { dd: { ...dd, ...changes, position }, deployment });
        return true;
      }
    }
    return this.store.transaction(async (trx) => {
      const store = this.sql(tenantId, trx);
      if (admitTo !== undefined) {
        const position = await store.admit(dd.deployment_id, admitTo);
        if (position === undefined) return false;
        changes.position = position;
      }
      if (await store.updateDeviceDeployment(dd.id, dd.status, changes))
        this.cache.remember(tenantId, { dd: { ...dd, ...changes }, deployment });
      else this.cache.forget(tenantId, dd.deployment_id, dd.device_id);
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

  private async candidates(tenantId: string, artifactName: string): Promise<AssignedArtifact[]> {
    const key = `${tenantId}|${artifactName}`;
    const cached = this.releases.get(key);
    if (cached && Date.now() - cached.at < RELEASE_TTL_MS) return cached.artifacts;
    const artifactStore = new ArtifactStore(this.store.db, tenantId);
    const rows = await artifactStore.byName(artifactName);
    const types = await artifactStore.deviceTypesOf(rows.map((r) => r.id));
    const out = rows.map((r) => ({
      id: r.id,
      name: r.name,
      device_types: types.get(r.id) ?? [],
      depends: JSON.parse(r.depends_json),
      size: Number(r.size),
      blobKey: r.blob_key,
    }));
    if (this.artifacts.size + out.length > MAX_ARTIFACTS) this.artifacts.clear();
    for (const candidate of out) this.artifacts.set(`${tenantId}|${candidate.id}`, candidate);
    if (this.releases.size >= MAX_ARTIFACTS) this.releases.clear();
    this.releases.set(key, { artifacts: out, at: Date.now() });
    return out;
  }

  /** A release got a new artifact (or lost one): the next poll reads it again. */
  releaseChanged(tenantId: string, name: string): void {
    this.releases.delete(`${tenantId}|${name}`);
  }

  private async artifact(tenantId: string, id: string): Promise<AssignedArtifact | undefined> {
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

  /** The tenant's deployments generation, read at most once per GENERATION_TTL_MS. */
  private async generation(tenantId: string): Promise<number> {
    const at = Date.now();
    const cached = this.generations.get(tenantId);
    if (cached && at - cached.readAt < GENERATION_TTL_MS) return cached.value;
    let reading = this.reading.get(tenantId);
    if (!reading) {
      const read: Promise<number> = this.sql(tenantId)
        .generation()
        .then((value) => {
          // A bump committed meanwhile (generationChanged) dropped this read: its value may be older.
          if (this.reading.get(tenantId) === read) this.generations.set(tenantId, { value, readAt: at });
          return value;
        })
        .finally(() => {
          if (this.reading.get(tenantId) === read) this.reading.delete(tenantId);
        });
      reading = read;
      this.reading.set(tenantId, reading);
    }
    return reading;
  }

  /** After a transaction that bumped the generation committed: this process sees it at once. */
  generationChanged(tenantId: string): void {
    this.generations.delete(tenantId);
    this.reading.delete(tenantId);
  }
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
