// Wire shapes of the Mender deployments API built from stored rows: DeploymentV1/V2, DeviceWithImage and the
// device deployment of a device's history.
import type { ArtifactView } from '../artifacts/service.js';
import { storedHandling } from './rules/handling.js';
import { admittedPerPhase, type PhasePlan } from './rules/phases.js';
import { type DeploymentStatus, deploymentStatus, type Statistics, statisticsOf } from './rules/statistics.js';
import type { DeploymentTable, DeviceDeploymentTable } from './tables.js';

export interface DeploymentView {
  id: string;
  name: string;
  artifact_name: string;
  created: string;
  finished?: string;
  status: DeploymentStatus;
  device_count: number;
  artifacts?: string[];
  groups?: string[];
  phases?: { id: string; batch_size: number; start_ts?: string; device_count: number; failure_threshold?: number }[];
  retries: number;
  update_control_map?: unknown;
  max_devices?: number;
  initial_device_count?: number;
  dynamic: boolean;
  filter?: unknown;
  type: string;
  configuration?: string;
  force_installation?: boolean;
  /** Flotilla: how devices handle it, when not forced (hawkBit action types; Mender devices ignore it). */
  action_type?: string;
  force_time?: string;
  maintenance_window?: { schedule: string; duration: string; timezone: string };
  /** Flotilla: the rollout is paused because a phase crossed its failure threshold. */
  paused?: boolean;
  statistics: { status: Statistics; total_size?: number };
}

export function planOf(row: DeploymentTable): PhasePlan[] {
  return row.phases_json ? (JSON.parse(row.phases_json) as PhasePlan[]) : [];
}

/** Devices after which a deployment finishes by itself: all its devices (static) or max_devices (dynamic). */
export function maxDevicesOf(row: DeploymentTable): number | undefined {
  if (row.target === 'filter') return row.max_devices > 0 ? row.max_devices : undefined;
  return row.device_count;
}

export function statusOf(row: DeploymentTable, stats: Statistics, at: Date): DeploymentStatus {
  return deploymentStatus({
    stats,
    maxDevices: maxDevicesOf(row),
    finishedAt: row.finished_ts,
    firstPhaseStart: row.first_phase_ts,
    now: at,
  });
}

export function deploymentView(
  row: DeploymentTable,
  counts: { status: string; count: number }[],
  artifactIds: string[],
  at: Date,
): DeploymentView {
  const stats = statisticsOf(counts);
  const plan = planOf(row);
  const perPhase = admittedPerPhase(plan, row.admitted);
  const view: DeploymentView = {
    id: row.id,
    name: row.name,
    artifact_name: row.artifact_name,
    created: row.created_ts,
    status: statusOf(row, stats, at),
    device_count: row.device_count,
    artifacts: artifactIds,
    retries: row.retries,
    dynamic: row.target === 'filter',
    type: row.type,
    statistics: { status: stats },
  };
  if (row.finished_ts) view.finished = row.finished_ts;
  if (row.target === 'group' && row.target_group) view.groups = [row.target_group];
  if (plan.length) {
    view.phases = plan.map((phase, index) => ({
      id: `${row.id}:${index}`,
      batch_size: phase.batch_size,
      ...(phase.start_ts ? { start_ts: phase.start_ts } : {}),
      device_count: perPhase[index],
      ...(phase.failure_threshold !== undefined ? { failure_threshold: phase.failure_threshold } : {}),
    }));
  }
  if (row.control_map_json) view.update_control_map = JSON.parse(row.control_map_json);
  if (row.max_devices > 0) view.max_devices = row.max_devices;
  if (row.target === 'filter') {
    view.initial_device_count = row.initial_device_count;
    if (row.filter_json) view.filter = JSON.parse(row.filter_json);
  }
  if (row.configuration !== null) view.configuration = row.configuration;
  if (row.force_installation) view.force_installation = true;
  if (row.handling_json) {
    const handling = storedHandling(row.handling_json);
    view.action_type = handling.type;
    if (handling.forceTime) view.force_time = handling.forceTime;
    if (handling.maintenanceWindow) view.maintenance_window = handling.maintenanceWindow;
  }
  if (row.paused) view.paused = true;
  return view;
}

export interface DeviceWithImage {
  id: string;
  status: string;
  created: string;
  started?: string;
  finished?: string;
  device_type?: string;
  log: boolean;
  state?: string;
  substate?: string;
  attempts: number;
  image?: {
    id: string;
    meta: { description: string };
    meta_artifact: Omit<ArtifactView, 'id' | 'description' | 'size' | 'modified'>;
    size: number;
    modified: string;
  };
}

export function deviceWithImage(row: DeviceDeploymentTable, artifact?: ArtifactView): DeviceWithImage {
  const view: DeviceWithImage = {
    id: row.device_id,
    status: row.status,
    created: row.created_ts,
    log: row.has_log === 1,
    state: row.status,
    attempts: row.attempts,
  };
  if (row.started_ts) view.started = row.started_ts;
  if (row.finished_ts) view.finished = row.finished_ts;
  if (row.device_type) view.device_type = row.device_type;
  if (row.substate) view.substate = row.substate;
  if (artifact) {
    const { id, description, size, modified, ...meta } = artifact;
    view.image = { id, meta: { description }, meta_artifact: meta, size, modified };
  }
  return view;
}
