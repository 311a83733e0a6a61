// Deployments, the per-device deployment rows that carry the device state machine, and device deployment logs.
// JSON columns keep the wire shapes (phase plan, control map, filter terms, the device's /next request).
import type { Generated } from 'kysely';
import type { DeviceDeploymentStatus } from './rules/status.js';

export type DeploymentType = 'software' | 'configuration';
/** devices: an explicit list (or all devices, resolved at creation); group: a static group resolved at creation;
 * filter: a saved filter, dynamic (devices join when they poll). */
export type DeploymentTarget = 'devices' | 'all' | 'group' | 'filter';
/** Stored deployment status; "scheduled" is derived at read time from the first phase's start. */
export type StoredDeploymentStatus = 'pending' | 'inprogress' | 'finished';

export interface DeploymentTable {
  tenant_id: string;
  id: string;
  name: string;
  artifact_name: string;
  type: DeploymentType;
  /** Configuration deployments: the configuration object as JSON text. */
  configuration: string | null;
  target: DeploymentTarget;
  target_group: string | null;
  filter_id: string | null;
  /** Snapshot of the saved filter at creation: { id, name, terms }. */
  filter_json: string | null;
  /** PhasePlan[] as JSON; null when not phased. */
  phases_json: string | null;
  /** The first phase's start as an ISO string, when given (a later one makes a pending deployment "scheduled"). */
  first_phase_ts: string | null;
  retries: number;
  /** 0: none. */
  max_devices: number;
  control_map_json: string | null;
  force_installation: number;
  /** DeploymentHandling (rules/handling.ts) as JSON; null: forced, no maintenance window. */
  handling_json: string | null;
  status: StoredDeploymentStatus;
  created_ts: string;
  finished_ts: string | null;
  /** Devices targeted (static) or joined so far (dynamic). */
  device_count: number;
  initial_device_count: number;
  /** Positions handed out to devices so far: the n-th device to be admitted gets position n - 1 (phases). */
  admitted: number;
  /** Rollout safety: a phase crossed its failure threshold; devices that did not start get nothing. */
  paused: number;
  /** Phases up to this index (0-based) were resumed by an operator and no longer pause; -1 when none. */
  resumed_through: number;
  aborted: number;
}

export interface DeviceDeploymentTable {
  tenant_id: string;
  id: string;
  deployment_id: string;
  device_id: string;
  status: DeviceDeploymentStatus;
  /** 1 while the status is active (pending … pause_before_committing): the device poll's index. */
  active: number;
  substate: string | null;
  attempts: number;
  artifact_id: string | null;
  device_type: string | null;
  /** Admission order within the deployment (decides the phase); null until the device is admitted. */
  position: number | null;
  /** The /next request that got instructions ({device_provides, update_control_map}), as JSON. */
  request_json: string | null;
  has_log: number;
  /** Copied from the deployment so that the device's oldest deployment comes first without a join. */
  deployment_created_ts: string;
  created_ts: string;
  started_ts: string | null;
  finished_ts: string | null;
  /** When the status last changed (null on rows older than this column): the silent-device timeout counts from it. */
  updated_ts: string | null;
  /** Set when an operator reset the device's deployment history: hidden from the history, still in statistics. */
  deleted_ts: string | null;
}

/** One line of a device's log in a deployment, as the device sent it or the server added it; `id` orders them. */
export interface DeploymentLogLineTable {
  id: Generated<number>;
  tenant_id: string;
  deployment_id: string;
  device_id: string;
  timestamp: string;
  level: string;
  message: string;
}

/**
 * Per tenant, a number bumped whenever a device may get a device deployment it did not have (a deployment
 * created, a history reset): polls cache "nothing for this device" against it.
 */
export interface DeploymentGenerationTable {
  tenant_id: string;
  generation: number;
}

/** A deployment creation's idempotency key and what it made (idempotency.ts). */
export interface DeploymentRequestTable {
  tenant_id: string;
  idempotency_key: string;
  /** SHA-256 of the request (target and body): a key sent again with another request is refused. */
  request_hash: string;
  deployment_id: string;
  created_ts: string;
}

declare module '../store/schema.js' {
  interface Tables {
    deployment_requests: DeploymentRequestTable;
    deployments: DeploymentTable;
    device_deployments: DeviceDeploymentTable;
    deployment_log_lines: DeploymentLogLineTable;
    deployment_generations: DeploymentGenerationTable;
  }
}
