// Deployments: creating them (device list, all devices, group, saved filter), the device side (/next, status and
// log reports, control map), the management side (lists, statistics, abort, pause/resume) and the artifacts'
// usage questions. Rules come from ./rules; SQL from ./store.ts.
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Transaction } from 'kysely';
import type { ArtifactService, ArtifactUsage, ArtifactView } from '../artifacts/service.js';
import { ArtifactStore } from '../artifacts/store.js';
import { writeModuleArtifact } from '../artifacts/writer.js';
import { Conflict, Invalid, NotFound, Unprocessable } from '../errors.js';
import { termOf } from '../inventory/predicates.js';
import type { InventoryService } from '../inventory/service.js';
import type { CoreDeps } from '../services.js';
import { now } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import {
  type DeploymentTargetInput,
  type NewDeployment,
  newDeviceDeployment,
  optionalCount,
  phasesOf,
  requiredString,
} from './creation.js';
import { type ControlMapWire, deploymentControlMap } from './rules/controlmap.js';
import {
  type CandidateArtifact,
  type DeviceProvides,
  decideNext,
  type NextRequest,
  requestConflicts,
} from './rules/matching.js';
import {
  admittedPerPhase,
  firstPhaseStart,
  mayReceive,
  type PhasePlan,
  phaseOfPosition,
  phaseToPauseFor,
  planPhases,
} from './rules/phases.js';
import { type Statistics, statisticsOf } from './rules/statistics.js';
import {
  applyStatusReport,
  type DeviceDeploymentStatus,
  isActive,
  isFinished,
  parseStatusReport,
} from './rules/status.js';
import { type DeploymentFilter, DeploymentStore, type DeviceStatusFilter, type Page } from './store.js';
import type { DeploymentTable, DeploymentTarget, DeviceDeploymentTable } from './tables.js';
import { DeploymentTargets, groupTerm } from './targets.js';
import { type DeploymentView, deploymentView, deviceWithImage, planOf, statusOf } from './views.js';

type Trx = Transaction<Tables>;

/** What the device API answers to /next when there is something to do. */
export interface DeploymentInstructions {
  id: string;
  artifact: {
    id: string;
    artifact_name: string;
    source: { uri: string; expire: string };
    device_types_compatible: string[];
  };
  update_control_map?: ControlMapWire;
}

export interface LogMessage {
  timestamp: string;
  level: string;
  message: string;
}

/** What a configuration link's signature covers: the path and the tenant. */
export function configurationSignedPath(path: string, tenantId: string): string {
  return `${path}|${tenantId}`;
}

/** Paths of the configuration download; the route serves `configurationPath(...)` behind a signed link. */
export function configurationPath(deploymentId: string, deviceType: string, deviceId: string): string {
  return `/api/devices/v1/deployments/download/configuration/${encodeURIComponent(deploymentId)}/${encodeURIComponent(deviceType)}/${encodeURIComponent(deviceId)}`;
}

export class DeploymentService implements ArtifactUsage {
  constructor(
    readonly deps: CoreDeps,
    readonly artifacts: ArtifactService,
    readonly inventory: InventoryService,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.targets = new DeploymentTargets(deps.store);
  }

  private readonly targets: DeploymentTargets;

  store(tenantId: string, trx?: Trx): DeploymentStore {
    return new DeploymentStore(trx ?? this.deps.store.db, tenantId);
  }

  // ---- creating ----------------------------------------------------------------------------------------------

  /**
   * Creates a software deployment for a device list / all devices (v1), a static group, or a saved filter (v2,
   * dynamic). Returns the new deployment's id.
   */
  async create(tenantId: string, body: NewDeployment, target: DeploymentTargetInput): Promise<string> {
    const name = requiredString(body.name, 'name');
    const artifactName = requiredString(body.artifact_name, 'artifact_name');
    const retries = optionalCount(body.retries, 'retries');
    const maxDevices = optionalCount(body.max_devices, 'max_devices');
    const phases = phasesOf(body.phases);
    const force = body.force_installation === true;
    if (body.force_installation !== undefined && typeof body.force_installation !== 'boolean') {
      throw new Invalid('Validating request body: force_installation: must be a boolean.');
    }
    const id = randomUUID();
    const controlMap =
      body.update_control_map === undefined || body.update_control_map === null
        ? null
        : deploymentControlMap(body.update_control_map, id);

    let deviceIds: string[] = [];
    let kind: DeploymentTarget = 'devices';
    let group: string | null = null;
    let filter: { id: string; name: string; terms: unknown[] } | null = null;
    if (target.kind === 'devices') {
      const listed = body.devices;
      const all = body.all_devices;
      if (all !== undefined && typeof all !== 'boolean') {
        throw new Invalid('Validating request body: all_devices: must be a boolean.');
      }
      if (listed !== undefined && listed !== null) {
        if (!Array.isArray(listed) || !listed.every((d) => typeof d === 'string' && d !== '')) {
          throw new Invalid('Validating request body: devices: must be a list of device ids.');
        }
      }
      const ids = (listed as string[] | undefined) ?? [];
      if (all === true && ids.length > 0) {
        throw new Invalid('Validating request body: devices: must be blank when all_devices is set.');
      }
      if (all !== true && ids.length === 0) throw new Invalid('Validating request body: devices: cannot be blank.');
      if (all === true) {
        kind = 'all';
        deviceIds = await this.targets.accepted(tenantId, []);
      } else {
        deviceIds = await this.targets.existing(tenantId, [...new Set(ids)]);
      }
    } else if (target.kind === 'group') {
      kind = 'group';
      group = target.group;
      deviceIds = await this.targets.accepted(tenantId, [groupTerm(target.group)]);
    } else {
      kind = 'filter';
      const filterId = requiredString(target.filterId, 'filter_id');
      const saved = await this.inventory.filter(tenantId, filterId).catch((error: unknown) => {
        if ((error as { status?: number }).status === 404) throw new Invalid('filter not found');
        throw error;
      });
      filter = saved;
    }
    if (kind !== 'filter' && deviceIds.length === 0) throw new Invalid('no devices for deployment');
    if (kind !== 'filter' && maxDevices > 0) {
      throw new Invalid('Validating request body: max_devices: only dynamic (filter) deployments take it.');
    }

    const artifactStore = new ArtifactStore(this.deps.store.db, tenantId);
    const artifacts = await artifactStore.byName(artifactName);
    if (artifacts.length === 0) throw new Unprocessable('no artifact for the deployment');

    const initialCount =
      kind === 'filter' && filter
        ? await this.targets.countMatching(
            tenantId,
            filter.terms.map((t) => termOf(t)),
          )
        : 0;
    const plan = planPhases(phases, kind === 'filter' ? initialCount : deviceIds.length);
    const first = firstPhaseStart(plan);
    const ts = now();
    const row: Omit<DeploymentTable, 'tenant_id'> = {
      id,
      name,
      artifact_name: artifactName,
      type: 'software',
      configuration: null,
      target: kind,
      target_group: group,
      filter_id: filter?.id ?? null,
      filter_json: filter ? JSON.stringify(filter) : null,
      phases_json: plan.length ? JSON.stringify(plan) : null,
      first_phase_ts: first ? new Date(first).toISOString() : null,
      retries,
      max_devices: maxDevices,
      control_map_json: controlMap ? JSON.stringify(controlMap) : null,
      force_installation: force ? 1 : 0,
      status: 'pending',
      created_ts: ts,
      finished_ts: null,
      device_count: deviceIds.length,
      initial_device_count: initialCount,
      admitted: 0,
      paused: 0,
      resumed_through: -1,
      aborted: 0,
    };
    await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      await store.insertDeployment(row);
      await store.insertDeviceDeployments(deviceIds.map((deviceId) => newDeviceDeployment(id, deviceId, ts)));
    });
    return id;
  }

  /**
   * A configuration deployment for one device (what Mender's deviceconfig asks the deployments service for): the
   * device gets a generated mender-configure artifact carrying `configuration`.
   */
  async createConfigurationDeployment(
    tenantId: string,
    deviceId: string,
    configuration: Record<string, unknown>,
    options: { name?: string; retries?: number; update_control_map?: unknown } = {},
  ): Promise<string> {
    const id = randomUUID();
    const [existing] = await this.targets.existing(tenantId, [deviceId]);
    if (!existing) throw new NotFound('device not found');
    const controlMap =
      options.update_control_map === undefined ? null : deploymentControlMap(options.update_control_map, id);
    const ts = now();
    await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      await store.insertDeployment({
        id,
        name: options.name ?? `configuration-${id}`,
        artifact_name: `configuration-${id}`,
        type: 'configuration',
        configuration: JSON.stringify(configuration),
        target: 'devices',
        target_group: null,
        filter_id: null,
        filter_json: null,
        phases_json: null,
        first_phase_ts: null,
        retries: options.retries ?? 0,
        max_devices: 0,
        control_map_json: controlMap ? JSON.stringify(controlMap) : null,
        force_installation: 1,
        status: 'pending',
        created_ts: ts,
        finished_ts: null,
        device_count: 1,
        initial_device_count: 0,
        admitted: 0,
        paused: 0,
        resumed_through: -1,
        aborted: 0,
      });
      await store.insertDeviceDeployments([newDeviceDeployment(id, deviceId, ts)]);
    });
    return id;
  }

  // ---- the device side ---------------------------------------------------------------------------------------

  /**
   * A device asks what to install (v1 GET/POST, v2 POST). Undefined means nothing to do (204). `full` says the
   * request carried the device's provides (POST), so depends can be checked.
   */
  async next(
    tenantId: string,
    deviceId: string,
    request: NextRequest,
    baseUrl: string,
    full: boolean,
  ): Promise<DeploymentInstructions | undefined> {
    const provides = request.device_provides;
    if (!provides || typeof provides.device_type !== 'string' || !provides.device_type) {
      throw new Invalid('device_type: cannot be blank.');
    }
    if (typeof provides.artifact_name !== 'string' || !provides.artifact_name) {
      throw new Invalid('artifact_name: cannot be blank.');
    }
    const store = this.store(tenantId);
    let dd = await store.activeDeviceDeployment(deviceId);
    let deployment = dd && (await store.deployment(dd.deployment_id));
    if (!dd || !deployment) {
      const joined = await this.joinDynamic(tenantId, deviceId);
      if (!joined) return undefined;
      [dd, deployment] = joined;
    }
    const notStarted = dd.status === 'pending' && dd.request_json === null;
    if (notStarted && (deployment.paused || deployment.finished_ts)) return undefined;

    if (!notStarted && dd.status !== 'pending' && dd.request_json) {
      if (requestConflicts(JSON.parse(dd.request_json) as NextRequest, request)) {
        await this.changeStatus(tenantId, dd, deployment, 'failure');
        throw new Conflict('Device provided conflicting request data');
      }
    }

    if (dd.position === null) {
      const position = await store.admit(deployment.id, admissionLimit(planOf(deployment), this.clock()));
      if (position === undefined) return undefined;
      await store.updateDeviceDeployment(dd.id, dd.status, { position });
      dd = { ...dd, position };
    }

    if (deployment.type === 'configuration') {
      return this.configurationInstructions(tenantId, deployment, dd, request, baseUrl);
    }

    const artifactStore = new ArtifactStore(this.deps.store.db, tenantId);
    const rows = await artifactStore.byName(deployment.artifact_name);
    const types = await artifactStore.deviceTypesOf(rows.map((r) => r.id));
    const candidates: CandidateArtifact[] = rows.map((r) => ({
      id: r.id,
      name: r.name,
      device_types: types.get(r.id) ?? [],
      depends: JSON.parse(r.depends_json),
      size: Number(r.size),
    }));
    const assigned = dd.artifact_id ? candidates.find((c) => c.id === dd.artifact_id) : undefined;
    const decision = decideNext({
      provides,
      candidates,
      assigned,
      pending: dd.status === 'pending',
      forceInstallation: deployment.force_installation === 1,
      options: { checkDepends: full },
    });
    if (decision.kind === 'noartifact') {
      await this.changeStatus(tenantId, dd, deployment, 'noartifact', { device_type: provides.device_type });
      return undefined;
    }
    if (decision.kind === 'already-installed') {
      await this.changeStatus(tenantId, dd, deployment, 'already-installed', {
        artifact_id: decision.artifact.id,
        device_type: provides.device_type,
      });
      return undefined;
    }
    const artifact = decision.artifact;
    await store.updateDeviceDeployment(dd.id, dd.status, {
      artifact_id: artifact.id,
      device_type: provides.device_type,
      request_json: JSON.stringify(request),
    });
    const source = await this.artifacts.downloadLink(tenantId, artifact.id, baseUrl);
    const instructions: DeploymentInstructions = {
      id: deployment.id,
      artifact: {
        id: artifact.id,
        artifact_name: artifact.name,
        source,
        device_types_compatible: [...artifact.device_types],
      },
    };
    if (deployment.control_map_json && request.update_control_map) {
      instructions.update_control_map = JSON.parse(deployment.control_map_json);
    }
    return instructions;
  }

  private async configurationInstructions(
    tenantId: string,
    deployment: DeploymentTable,
    dd: DeviceDeploymentTable,
    request: NextRequest,
    baseUrl: string,
  ): Promise<DeploymentInstructions> {
    const deviceType = request.device_provides.device_type;
    await this.store(tenantId).updateDeviceDeployment(dd.id, dd.status, {
      device_type: deviceType,
      request_json: JSON.stringify(request),
    });
    const expiresAt = new Date(this.clock().getTime() + this.deps.config.downloadLinkTtl * 1000);
    const path = configurationPath(deployment.id, deviceType, dd.device_id);
    // The tenant is part of what is signed, so a link cannot be pointed at another tenant.
    const signed = this.deps.links.sign(configurationSignedPath(path, tenantId), expiresAt);
    const uri = `${baseUrl}${path}?tenant_id=${encodeURIComponent(tenantId)}&expires=${signed.expires}&signature=${signed.signature}`;
    const instructions: DeploymentInstructions = {
      id: deployment.id,
      artifact: {
        id: deployment.id,
        artifact_name: deployment.artifact_name,
        source: { uri, expire: expiresAt.toISOString() },
        device_types_compatible: [deviceType],
      },
    };
    if (deployment.control_map_json && request.update_control_map) {
      instructions.update_control_map = JSON.parse(deployment.control_map_json);
    }
    return instructions;
  }

  /**
   * The artifact a signed configuration link serves: generated on the fly, a `mender-configure` update module
   * artifact with no files whose meta-data is the configuration (what Mender's deployments service generates).
   */
  async configurationArtifact(
    tenantId: string,
    deploymentId: string,
    deviceType: string,
    deviceId: string,
  ): Promise<Readable> {
    const deployment = await this.store(tenantId).deployment(deploymentId);
    if (deployment?.type !== 'configuration' || deployment.configuration === null) {
      throw new NotFound('deployment not found');
    }
    if (!(await this.store(tenantId).deviceDeployment(deploymentId, deviceId))) throw new NotFound('not found');
    return writeModuleArtifact({
      name: deployment.artifact_name,
      deviceTypes: [deviceType],
      type: 'mender-configure',
      files: [],
      metaData: JSON.parse(deployment.configuration),
      workDir: this.deps.config.dataDir,
    });
  }

  /** A device not yet in any active deployment joins the oldest open dynamic deployment whose filter it matches. */
  private async joinDynamic(
    tenantId: string,
    deviceId: string,
  ): Promise<[DeviceDeploymentTable, DeploymentTable] | undefined> {
    const store = this.store(tenantId);
    for (const deployment of await store.openDynamicDeployments(deviceId)) {
      if (deployment.paused) continue;
      const filter = JSON.parse(deployment.filter_json ?? '{"terms":[]}') as { terms: unknown[] };
      if (
        (await this.targets.countMatching(
          tenantId,
          filter.terms.map((t) => termOf(t)),
          [deviceId],
        )) === 0
      )
        continue;
      // Mender's dynamic deployments skip devices that already ran something newer; here a device joins when it
      // matches and has no device deployment in it yet.
      const row = newDeviceDeployment(deployment.id, deviceId, now(), deployment.created_ts);
      try {
        await this.deps.store.transaction(async (trx) => {
          const s = this.store(tenantId, trx);
          await s.insertDeviceDeployments([row]);
          await s.incrementDeviceCount(deployment.id);
        });
      } catch (error) {
        // Another poll of the same device inserted it first (unique deployment, device).
        const existing = await store.deviceDeployment(deployment.id, deviceId);
        if (!existing) throw error;
        return [existing, deployment];
      }
      return [{ ...row, tenant_id: tenantId }, deployment];
    }
    return undefined;
  }

  /** `PUT .../{id}/status` from a device: 400 for a bad report, 404 when not in the deployment, 409 when aborted. */
  async reportStatus(tenantId: string, deviceId: string, deploymentId: string, body: unknown): Promise<void> {
    const report = parseStatusReport((body ?? {}) as { status?: unknown; substate?: unknown });
    for (let attempt = 0; attempt < 3; attempt++) {
      const store = this.store(tenantId);
      const dd = await store.deviceDeployment(deploymentId, deviceId);
      const deployment = dd && (await store.deployment(deploymentId));
      if (!dd || !deployment) throw new NotFound('deployment not found');
      const outcome = applyStatusReport(dd, report, deployment.retries);
      if (outcome.kind === 'unchanged') return;
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
      const applied = await this.deps.store.transaction(async (trx) => {
        const s = this.store(tenantId, trx);
        if (!(await s.updateDeviceDeployment(dd.id, dd.status, changes))) return false;
        await this.refresh(tenantId, deploymentId, trx);
        return true;
      });
      if (applied) return;
    }
    throw new Conflict('the device deployment changed concurrently; report again');
  }

  /** Server-side status changes (noartifact, already-installed, a conflicting request's failure). */
  private async changeStatus(
    tenantId: string,
    dd: DeviceDeploymentTable,
    deployment: DeploymentTable,
    to: DeviceDeploymentStatus,
    extra: Partial<DeviceDeploymentTable> = {},
  ): Promise<void> {
    const ts = now();
    await this.deps.store.transaction(async (trx) => {
      const changed = await this.store(tenantId, trx).updateDeviceDeployment(dd.id, dd.status, {
        ...extra,
        status: to,
        active: isActive(to) ? 1 : 0,
        finished_ts: isFinished(to) ? ts : null,
      });
      if (changed) await this.refresh(tenantId, deployment.id, trx);
    });
  }

  /**
   * After device statuses changed: the deployment's stored status (and finished time) follow the statistics, and
   * the rollout pauses when a phase crossed its failure threshold. Runs inside the caller's transaction.
   */
  private async refresh(tenantId: string, deploymentId: string, trx: Trx): Promise<void> {
    const store = this.store(tenantId, trx);
    const row = await store.deployment(deploymentId);
    if (!row) return;
    const counts = (await store.statusCounts([deploymentId])).get(deploymentId) ?? [];
    const stats = statisticsOf(counts);
    const at = this.clock();
    const status = statusOf(row, stats, at);
    const changes: Partial<DeploymentTable> = {};
    const stored = status === 'scheduled' ? 'pending' : status;
    if (stored !== row.status) changes.status = stored;
    if (status === 'finished' && !row.finished_ts) changes.finished_ts = at.toISOString();
    const plan = planOf(row);
    if (!row.paused && status !== 'finished' && stats.failure > 0 && plan.some((p) => p.failure_threshold)) {
      const watched = plan.map((phase, index) =>
        index <= row.resumed_through ? { ...phase, failure_threshold: undefined } : phase,
      );
      const failed = plan.map(() => 0);
      for (const position of await store.failedPositions(deploymentId)) failed[phaseOfPosition(plan, position)] += 1;
      const admitted = admittedPerPhase(plan, row.admitted);
      const outcomes = plan.map((_, index) => ({ failed: failed[index], admitted: admitted[index] }));
      if (phaseToPauseFor(watched, outcomes) !== undefined) changes.paused = 1;
    }
    if (Object.keys(changes).length) await store.updateDeployment(deploymentId, changes);
  }

  /** `PUT .../{id}/log` from a device. */
  async saveLog(tenantId: string, deviceId: string, deploymentId: string, body: unknown): Promise<void> {
    const messages = (body as { messages?: unknown } | null)?.messages;
    if (!Array.isArray(messages) || messages.length === 0) throw new Invalid('messages: cannot be blank.');
    const clean: LogMessage[] = messages.map((m, index) => {
      const entry = (m ?? {}) as Record<string, unknown>;
      for (const key of ['timestamp', 'level', 'message'] as const) {
        if (typeof entry[key] !== 'string') throw new Invalid(`messages[${index}].${key}: cannot be blank.`);
      }
      if (Number.isNaN(Date.parse(entry.timestamp as string))) {
        throw new Invalid(`messages[${index}].timestamp: must be a valid date.`);
      }
      return { timestamp: entry.timestamp as string, level: entry.level as string, message: entry.message as string };
    });
    const store = this.store(tenantId);
    if (!(await store.deviceDeployment(deploymentId, deviceId))) throw new NotFound('deployment not found');
    await this.deps.store.transaction((trx) =>
      this.store(tenantId, trx).saveLog(deploymentId, deviceId, JSON.stringify(clean), now()),
    );
  }

  /** A line the server itself adds to a device's deployment log (after what the device sent, if anything). */
  async saveServerLog(
    tenantId: string,
    deploymentId: string,
    deviceId: string,
    message: string,
    level: 'info' | 'error' = 'error',
  ): Promise<void> {
    await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      if (!(await store.deviceDeployment(deploymentId, deviceId))) throw new NotFound('deployment not found');
      const previous = await store.log(deploymentId, deviceId);
      const messages: LogMessage[] = previous ? JSON.parse(previous) : [];
      const ts = now();
      messages.push({ timestamp: ts, level, message });
      await store.saveLog(deploymentId, deviceId, JSON.stringify(messages), ts);
    });
  }

  /** `GET .../{id}/update_control_map` from a device: only while its device deployment is active. */
  async controlMapForDevice(tenantId: string, deviceId: string, deploymentId: string): Promise<ControlMapWire> {
    const store = this.store(tenantId);
    const dd = await store.deviceDeployment(deploymentId, deviceId);
    const deployment = dd && isActive(dd.status) ? await store.deployment(deploymentId) : undefined;
    if (!deployment?.control_map_json) throw new NotFound('deployment not found');
    return JSON.parse(deployment.control_map_json);
  }

  // ---- the management side -----------------------------------------------------------------------------------

  async get(tenantId: string, id: string): Promise<DeploymentView> {
    const row = await this.store(tenantId).deployment(id);
    if (!row) throw new NotFound('Deployment not found');
    const [view] = await this.views(tenantId, [row]);
    view.statistics.total_size = await this.store(tenantId).totalSize(id);
    return view;
  }

  async list(
    tenantId: string,
    filter: DeploymentFilter & { derived?: 'scheduled' },
    ascending: boolean,
    page: Page,
  ): Promise<{ deployments: DeploymentView[]; total: number }> {
    const at = this.clock().toISOString();
    const { rows, total } = await this.store(tenantId).listDeployments({ ...filter, now: at }, ascending, page);
    return { deployments: await this.views(tenantId, rows), total };
  }

  private async views(tenantId: string, rows: DeploymentTable[]): Promise<DeploymentView[]> {
    const counts = await this.store(tenantId).statusCounts(rows.map((r) => r.id));
    const artifactStore = new ArtifactStore(this.deps.store.db, tenantId);
    const at = this.clock();
    const out: DeploymentView[] = [];
    for (const row of rows) {
      const ids = row.type === 'software' ? (await artifactStore.byName(row.artifact_name)).map((a) => a.id) : [];
      out.push(deploymentView(row, counts.get(row.id) ?? [], ids, at));
    }
    return out;
  }

  async statistics(tenantId: string, id: string): Promise<Statistics> {
    const store = this.store(tenantId);
    if (!(await store.deployment(id))) throw new NotFound('Deployment not found');
    return statisticsOf((await store.statusCounts([id])).get(id) ?? []);
  }

  async statisticsList(tenantId: string, ids: unknown): Promise<{ id: string; stats: Statistics }[]> {
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === 'string')) {
      throw new Invalid('deployment_ids: cannot be blank.');
    }
    const store = this.store(tenantId);
    const found = await store.deploymentsByIds(ids as string[]);
    const counts = await store.statusCounts(found.map((d) => d.id));
    return (ids as string[])
      .filter((id) => counts.has(id))
      .map((id) => ({ id, stats: statisticsOf(counts.get(id) ?? []) }));
  }

  async devices(tenantId: string, id: string, status?: DeviceStatusFilter, page?: Page) {
    const store = this.store(tenantId);
    if (!(await store.deployment(id))) throw new NotFound('Deployment not found');
    const { rows, total } = await store.devicesOf(id, status, page);
    const images = await this.images(tenantId, rows);
    return {
      devices: rows.map((r) => deviceWithImage(r, r.artifact_id ? images.get(r.artifact_id) : undefined)),
      total,
    };
  }

  async deviceIds(tenantId: string, id: string): Promise<string[]> {
    const store = this.store(tenantId);
    if (!(await store.deployment(id))) throw new NotFound('Deployment not found');
    return (await store.devicesOf(id)).rows.map((r) => r.device_id);
  }

  private async images(tenantId: string, rows: DeviceDeploymentTable[]): Promise<Map<string, ArtifactView>> {
    const out = new Map<string, ArtifactView>();
    for (const artifactId of new Set(rows.map((r) => r.artifact_id).filter((a): a is string => a !== null))) {
      const view = await this.artifacts.get(tenantId, artifactId).catch(() => undefined);
      if (view) out.set(artifactId, view);
    }
    return out;
  }

  /** The device's log in a deployment as text, one line per message. */
  async logText(tenantId: string, deploymentId: string, deviceId: string): Promise<string> {
    const json = await this.store(tenantId).log(deploymentId, deviceId);
    if (json === undefined) throw new NotFound('Deployment log not found');
    return (JSON.parse(json) as LogMessage[]).map((m) => `${m.timestamp} ${m.level}: ${m.message}\n`).join('');
  }

  /** A device's deployments (newest first), each with the deployment and the device's part in it. */
  async history(tenantId: string, deviceId: string, status: DeviceStatusFilter | undefined, page: Page) {
    const store = this.store(tenantId);
    const rows = await store.history(deviceId, status, page);
    const deployments = await this.views(
      tenantId,
      await store.deploymentsByIds([...new Set(rows.map((r) => r.deployment_id))]),
    );
    const byId = new Map(deployments.map((d) => [d.id, d]));
    const images = await this.images(tenantId, rows);
    return rows.map((r) => ({
      id: r.id,
      deployment: byId.get(r.deployment_id),
      device: deviceWithImage(r, r.artifact_id ? images.get(r.artifact_id) : undefined),
    }));
  }

  /** Aborts a deployment: every device that has not finished becomes aborted; the deployment finishes. */
  async abort(tenantId: string, id: string): Promise<void> {
    await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      const row = await store.deployment(id);
      if (!row) throw new NotFound('Deployment not found');
      if (row.finished_ts) throw new Unprocessable('Deployment already finished');
      const ts = now();
      await store.finishActive({ deploymentId: id }, 'aborted', ts);
      await store.updateDeployment(id, { status: 'finished', finished_ts: ts, aborted: 1, paused: 0 });
    });
  }

  /**
   * Resumes a deployment paused by a failure threshold (`PUT .../status {"status":"inprogress"}`): the phases that
   * crossed their thresholds so far no longer pause it; a later phase still can.
   */
  async resume(tenantId: string, id: string): Promise<void> {
    await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      const row = await store.deployment(id);
      if (!row) throw new NotFound('Deployment not found');
      if (row.finished_ts) throw new Unprocessable('Deployment already finished');
      if (!row.paused) throw new Unprocessable('Deployment is not paused');
      const plan = planOf(row);
      const last = phaseOfPosition(plan, Math.max(row.admitted - 1, 0));
      await store.updateDeployment(id, { paused: 0, resumed_through: Math.max(last, row.resumed_through) });
    });
  }

  /** Sets a new control map on a deployment that has one (PATCH); 409 when it has none. */
  async setControlMap(tenantId: string, id: string, body: unknown): Promise<void> {
    const input = (body as { update_control_map?: unknown } | null)?.update_control_map;
    if (input === undefined || input === null) throw new Invalid('update_control_map: cannot be blank.');
    const map = deploymentControlMap(input, id);
    await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      const row = await store.deployment(id);
      if (!row) throw new NotFound('Deployment not found');
      if (!row.control_map_json) throw new Conflict('the deployment has no update control map');
      await store.updateDeployment(id, { control_map_json: JSON.stringify(map) });
    });
  }

  /**
   * `DELETE /deployments/devices/{id}/history`: the device's finished device deployments leave its history, and
   * the device becomes eligible again for the deployments that are still running (it gets them anew, as a
   * first attempt). Statistics of the deployments keep what happened.
   */
  async resetHistory(tenantId: string, deviceId: string): Promise<void> {
    await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
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
          await this.refresh(tenantId, row.deployment_id, trx);
        } else {
          await store.updateDeviceDeployment(row.id, row.status, { deleted_ts: ts });
        }
      }
    });
  }

  /** Aborts every active device deployment of a device (`DELETE /deployments/devices/{id}`). */
  async abortForDevice(tenantId: string, deviceId: string): Promise<void> {
    await this.endForDevice(tenantId, deviceId, 'aborted');
  }

  /** Device admission calls this when a device is decommissioned: its active device deployments end. */
  async decommissionDevice(tenantId: string, deviceId: string, trx?: Trx): Promise<void> {
    await this.endForDevice(tenantId, deviceId, 'decommissioned', trx);
  }

  private async endForDevice(tenantId: string, deviceId: string, status: DeviceDeploymentStatus, trx?: Trx) {
    const work = async (t: Trx) => {
      const touched = await this.store(tenantId, t).finishActive({ deviceId }, status, now());
      for (const deploymentId of touched) await this.refresh(tenantId, deploymentId, t);
    };
    if (trx) await work(trx);
    else await this.deps.store.transaction(work);
  }

  // ---- ArtifactUsage -----------------------------------------------------------------------------------------

  async activeDeploymentsUsing(tenantId: string, artifactIds: string[]): Promise<string[]> {
    const artifactStore = new ArtifactStore(this.deps.store.db, tenantId);
    const names = new Set<string>();
    for (const id of artifactIds) {
      const row = await artifactStore.byId(id);
      if (row) names.add(row.name);
    }
    return this.store(tenantId).unfinishedUsing([...names]);
  }

  async everUsed(tenantId: string, artifactId: string): Promise<boolean> {
    const row = await new ArtifactStore(this.deps.store.db, tenantId).byId(artifactId);
    if (!row) return false;
    return this.store(tenantId).anyUsing(artifactId, row.name);
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

export type { DeploymentTargetInput, DeviceProvides, NewDeployment };
