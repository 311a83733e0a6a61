// Deployments: creating them (device list, all devices, group, saved filter), the device side (/next, status and
// log reports, control map), the management side (lists, statistics, abort, pause/resume) and the artifacts'
// usage questions. Rules come from ./rules; SQL from ./store.ts.

import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { ArtifactService, ArtifactUsage, ArtifactView } from '../artifacts/service.js';
import { ArtifactStore } from '../artifacts/store.js';
import { writeModuleArtifact } from '../artifacts/writer.js';
import { type AuditObject, recordAudit } from '../audit/service.js';
import type { UserPrincipal } from '../auth/principal.js';
import type { CoreDeps } from '../core.js';
import { requireDevice } from '../devices/store.js';
import { Conflict, Invalid, NotFound, Unprocessable } from '../errors.js';
import { termOf } from '../inventory/predicates.js';
import type { InventoryService } from '../inventory/service.js';
import { now } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import { DeviceAttempts } from './attempts.js';
import {
  type DeploymentTargetInput,
  listedTargets,
  type NewDeployment,
  optionalCount,
  phasesOf,
  requiredString,
} from './creation.js';
import { deploymentControlMap } from './rules/controlmap.js';
import { handlingJson, handlingOf } from './rules/handling.js';
import type { DeviceProvides } from './rules/matching.js';
import { firstPhaseStart, phaseOfPosition, planPhases } from './rules/phases.js';
import { type Statistics, statisticsOf } from './rules/statistics.js';
import {
  type DeploymentFilter,
  DeploymentStore,
  type DeviceStatusFilter,
  fleetStatusCounts,
  type Page,
  type StatusCount,
} from './store.js';
import type { DeploymentTable, DeploymentTarget, DeviceDeploymentTable } from './tables.js';
import { DeploymentTargets, groupTerm } from './targets.js';
import { type DeploymentView, deploymentView, deviceWithImage, planOf } from './views.js';

type Trx = Transaction<Tables>;

/** What a configuration deployment takes besides the configuration (Mender's NewConfigurationDeployment). */
export interface ConfigurationDeploymentOptions {
  name?: string;
  retries?: unknown;
  update_control_map?: unknown;
}

export type { LogLine } from './store.js';

export class DeploymentService implements ArtifactUsage {
  constructor(
    readonly deps: CoreDeps,
    readonly artifacts: ArtifactService,
    readonly inventory: InventoryService,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.targets = new DeploymentTargets(deps.store);
    this.attempts = new DeviceAttempts(deps.store, this.targets, clock);
  }

  private readonly targets: DeploymentTargets;
  /** The device side: every protocol's devices go through it. */
  readonly attempts: DeviceAttempts;

  store(tenantId: string, trx?: Trx): DeploymentStore {
    return new DeploymentStore(trx ?? this.deps.store.db, tenantId);
  }

  // ---- creating ----------------------------------------------------------------------------------------------

  /**
   * Creates a software deployment for a device list / all devices (v1), a static group, or a saved filter (v2,
   * dynamic). Returns the new deployment's id.
   */
  async create(
    tenantId: string,
    body: NewDeployment,
    target: DeploymentTargetInput,
    actor?: UserPrincipal,
    // Writes that commit with the deployment (an idempotency key: idempotency.ts).
    alongside?: (trx: Transaction<Tables>, id: string) => Promise<void>,
  ): Promise<string> {
    const name = requiredString(body.name, 'name');
    const artifactName = requiredString(body.artifact_name, 'artifact_name');
    const retries = optionalCount(body.retries, 'retries');
    const maxDevices = optionalCount(body.max_devices, 'max_devices');
    const phases = phasesOf(body.phases);
    const force = body.force_installation === true;
    if (body.force_installation !== undefined && typeof body.force_installation !== 'boolean') {
      throw new Invalid('Validating request body: force_installation: must be a boolean.');
    }
    const handling = handlingOf(body, new Date());
    const id = randomUUID();
    const controlMap =
      body.update_control_map === undefined || body.update_control_map === null
        ? null
        : deploymentControlMap(body.update_control_map, id);

    let deviceIds: string[] = [];
    let kind: DeploymentTarget = 'devices';
    let group: string | null = null;
    let filter: { id: string; name: string; terms: unknown[] } | null = null;
    const { ids, all } = listedTargets(body);
    if (target.kind === 'devices') {
      if (all && ids.length > 0) {
        throw new Invalid('Validating request body: devices: must be blank when all_devices is set.');
      }
      if (!all && ids.length === 0) throw new Invalid('Validating request body: devices: cannot be blank.');
      if (all) {
        kind = 'all';
        deviceIds = await this.targets.accepted(tenantId, []);
      } else {
        deviceIds = await this.targets.existing(tenantId, [...new Set(ids)]);
      }
    } else if (ids.length > 0 || all) {
      // Mender refuses only a device list or all_devices: true beside a group or filter; its GUI sends
      // "all_devices": false with every group and filter deployment.
      throw new Invalid(
        `The deployment for ${target.kind} constructor should have neither list of devices nor all_devices flag set`,
      );
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
      handling_json: handlingJson(handling),
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
      await this.attempts.open(tenantId, id, deviceIds, ts, trx);
      if (actor) {
        await recordAudit(trx, tenantId, {
          actor,
          action: 'create',
          object: { type: 'deployment', id, deployment: { name, artifact_name: artifactName } },
        });
      }
      await alongside?.(trx, id);
    });
    this.attempts.generationChanged(tenantId);
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
    options: ConfigurationDeploymentOptions = {},
  ): Promise<string> {
    const id = await this.deps.store.transaction((trx) =>
      this.insertConfigurationDeployment(tenantId, deviceId, configuration, options, trx),
    );
    this.attempts.generationChanged(tenantId);
    return id;
  }

  /**
   * The same inside the caller's transaction, so that the caller's own writes (the device configuration's
   * deployment id, an audit entry) commit with it. The caller calls `attempts.generationChanged` after commit.
   */
  async insertConfigurationDeployment(
    tenantId: string,
    deviceId: string,
    configuration: Record<string, unknown>,
    options: ConfigurationDeploymentOptions,
    trx: Trx,
  ): Promise<string> {
    const id = randomUUID();
    await requireDevice(trx, tenantId, deviceId);
    const retries = optionalCount(options.retries, 'retries');
    const controlMap =
      options.update_control_map === undefined || options.update_control_map === null
        ? null
        : deploymentControlMap(options.update_control_map, id);
    const ts = now();
    await this.store(tenantId, trx).insertDeployment({
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
      retries,
      max_devices: 0,
      control_map_json: controlMap ? JSON.stringify(controlMap) : null,
      force_installation: 1,
      handling_json: null,
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
    await this.attempts.open(tenantId, id, [deviceId], ts, trx);
    return id;
  }

  // ---- the device side: see attempts.ts ----------------------------------------------------------------------

  /**
   * The artifact a signed configuration link serves: generated on the fly, a `mender-configure` update module
   * artifact with no files whose meta-data is the configuration (what Mender's deployments service generates).
   * Whole in memory: the device needs its size up front, and a configuration is small (at most 100 keys and
   * values of 4096 characters, src/configuration/rules.ts), so the artifact is a few megabytes at the very most.
   * The bytes are the same on every request (fixed times, deterministic gzip), so a resumed download fits.
   */
  async configurationArtifact(
    tenantId: string,
    deploymentId: string,
    deviceType: string,
    deviceId: string,
  ): Promise<Buffer> {
    const deployment = await this.store(tenantId).deployment(deploymentId);
    if (deployment?.type !== 'configuration' || deployment.configuration === null) {
      throw new NotFound('deployment not found');
    }
    if (!(await this.store(tenantId).deviceDeployment(deploymentId, deviceId))) throw new NotFound('not found');
    const stream = await writeModuleArtifact({
      name: deployment.artifact_name,
      deviceTypes: [deviceType],
      type: 'mender-configure',
      files: [],
      metaData: JSON.parse(deployment.configuration),
      // What Mender's deployments service gives a generated configuration artifact: the configuration's version
      // lives in the data partition's namespace, and a new configuration clears every older one's provides.
      ownProvides: {
        provides: { 'data-partition.mender-configure.version': deployment.artifact_name },
        clears: ['data-partition.mender-configure.*'],
      },
      workDir: this.deps.config.dataDir,
    });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
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

  /** Deployments and device deployments by stored status across every tenant, in one look (the operator's metrics). */
  fleetStatusCounts(): Promise<{ deployments: StatusCount[]; deviceDeployments: StatusCount[] }> {
    return fleetStatusCounts(this.deps.store.db);
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
    const lines = await this.attempts.log(tenantId, deploymentId, deviceId);
    if (lines === undefined) throw new NotFound('Deployment log not found');
    return lines.map((m) => `${m.timestamp} ${m.level}: ${m.message}\n`).join('');
  }

  /** A device's deployments (newest first), each with the deployment and the device's part in it. */
  async history(
    tenantId: string,
    deviceId: string,
    status: DeviceStatusFilter | readonly DeviceStatusFilter[] | undefined,
    page: Page,
  ) {
    const store = this.store(tenantId);
    const { rows, total } = await store.history(deviceId, status, page);
    const deployments = await this.views(
      tenantId,
      await store.deploymentsByIds([...new Set(rows.map((r) => r.deployment_id))]),
    );
    const byId = new Map(deployments.map((d) => [d.id, d]));
    const images = await this.images(tenantId, rows);
    const history = rows.map((r) => ({
      id: r.id,
      deployment: byId.get(r.deployment_id),
      device: deviceWithImage(r, r.artifact_id ? images.get(r.artifact_id) : undefined),
    }));
    return { history, total };
  }

  /** Aborts a deployment: every device that has not finished becomes aborted; the deployment finishes. */
  async abort(tenantId: string, id: string, actor?: UserPrincipal): Promise<void> {
    await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      const row = await store.deployment(id);
      if (!row) throw new NotFound('Deployment not found');
      if (row.finished_ts) throw new Unprocessable('Deployment already finished');
      const ts = now();
      await this.attempts.abortAll(tenantId, id, ts, trx);
      await store.updateDeployment(id, { status: 'finished', finished_ts: ts, aborted: 1, paused: 0 });
      if (actor) await recordAudit(trx, tenantId, { actor, action: 'abort', object: deploymentObject(row) });
    });
  }

  /**
   * Resumes a deployment paused by a failure threshold (`PUT .../status {"status":"inprogress"}`): the phases that
   * crossed their thresholds so far no longer pause it; a later phase still can.
   */
  async resume(tenantId: string, id: string, actor?: UserPrincipal): Promise<void> {
    await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      const row = await store.deployment(id);
      if (!row) throw new NotFound('Deployment not found');
      if (row.finished_ts) throw new Unprocessable('Deployment already finished');
      if (!row.paused) throw new Unprocessable('Deployment is not paused');
      const plan = planOf(row);
      const last = phaseOfPosition(plan, Math.max(row.admitted - 1, 0));
      await store.updateDeployment(id, { paused: 0, resumed_through: Math.max(last, row.resumed_through) });
      if (actor) {
        await recordAudit(trx, tenantId, { actor, action: 'update', object: deploymentObject(row), change: 'resumed' });
      }
    });
  }

  /** Sets a new control map on a deployment that has one (PATCH); 409 when it has none. */
  async setControlMap(tenantId: string, id: string, body: unknown, actor?: UserPrincipal): Promise<void> {
    const input = (body as { update_control_map?: unknown } | null)?.update_control_map;
    if (input === undefined || input === null) throw new Invalid('update_control_map: cannot be blank.');
    const map = deploymentControlMap(input, id);
    await this.deps.store.transaction(async (trx) => {
      const store = this.store(tenantId, trx);
      const row = await store.deployment(id);
      if (!row) throw new NotFound('Deployment not found');
      if (!row.control_map_json) throw new Conflict('the deployment has no update control map');
      await store.updateDeployment(id, { control_map_json: JSON.stringify(map) });
      if (actor) {
        await recordAudit(trx, tenantId, {
          actor,
          action: 'update',
          object: deploymentObject(row),
          change: JSON.stringify({ update_control_map: map }),
        });
      }
    });
  }

  /** `DELETE /deployments/devices/{id}/history` (see DeviceAttempts.resetHistory). */
  resetHistory(tenantId: string, deviceId: string, actor?: UserPrincipal): Promise<void> {
    return this.attempts.resetHistory(tenantId, deviceId, async (trx) => {
      if (actor) {
        const object = { type: 'device' as const, id: deviceId };
        await recordAudit(trx, tenantId, { actor, action: 'delete', object, change: 'deployment history' });
      }
    });
  }

  /** Aborts every active device deployment of a device (`DELETE /deployments/devices/{id}`). */
  async abortForDevice(tenantId: string, deviceId: string, actor?: UserPrincipal): Promise<void> {
    await this.deps.store.transaction(async (trx) => {
      await this.attempts.endForDevice(tenantId, deviceId, 'aborted', trx);
      if (actor) await recordAudit(trx, tenantId, { actor, action: 'abort', object: { type: 'device', id: deviceId } });
    });
  }

  /** Device admission calls this when a device is decommissioned: its active device deployments end. */
  decommissionDevice(tenantId: string, deviceId: string, trx?: Trx): Promise<void> {
    return this.attempts.endForDevice(tenantId, deviceId, 'decommissioned', trx);
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

  releaseChanged(tenantId: string, name: string): void {
    this.attempts.releaseChanged(tenantId, name);
  }

  async everUsed(tenantId: string, artifactId: string): Promise<boolean> {
    const row = await new ArtifactStore(this.deps.store.db, tenantId).byId(artifactId);
    if (!row) return false;
    return this.store(tenantId).anyUsing(artifactId, row.name);
  }
}

export type { DeploymentTargetInput, DeviceProvides, NewDeployment };

/** A deployment as an audit entry names it. */
function deploymentObject(row: DeploymentTable): AuditObject {
  return { type: 'deployment', id: row.id, deployment: { name: row.name, artifact_name: row.artifact_name } };
}
