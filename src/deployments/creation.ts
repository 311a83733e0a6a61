// What a new deployment is made of: the request body's fields as Mender's API takes them, their validation (with
// Mender's error texts), and the new device-deployment row every target kind starts its devices with.
import { randomUUID } from 'node:crypto';
import { Invalid } from '../errors.js';
import type { PhaseInput } from './rules/phases.js';
import type { DeviceDeploymentTable } from './tables.js';

export interface NewDeployment {
  name?: unknown;
  artifact_name?: unknown;
  devices?: unknown;
  all_devices?: unknown;
  phases?: unknown;
  retries?: unknown;
  max_devices?: unknown;
  update_control_map?: unknown;
  force_installation?: unknown;
  /** Flotilla: how devices handle it (hawkBit action types, rules/handling.ts). */
  action_type?: unknown;
  force_time?: unknown;
  maintenance_window?: unknown;
}

export type DeploymentTargetInput =
  | { kind: 'devices' }
  | { kind: 'group'; group: string }
  | { kind: 'filter'; filterId: unknown };

/** A device's part in a deployment as it starts: pending, not yet admitted to a phase, first attempt. */
export function newDeviceDeployment(
  deploymentId: string,
  deviceId: string,
  ts: string,
  deploymentCreated = ts,
): Omit<DeviceDeploymentTable, 'tenant_id'> {
  return {
    id: randomUUID(),
    deployment_id: deploymentId,
    device_id: deviceId,
    status: 'pending',
    active: 1,
    substate: null,
    attempts: 1,
    artifact_id: null,
    device_type: null,
    position: null,
    request_json: null,
    has_log: 0,
    deployment_created_ts: deploymentCreated,
    created_ts: ts,
    started_ts: null,
    finished_ts: null,
    updated_ts: ts,
    deleted_ts: null,
  };
}

export function requiredString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new Invalid(`Validating request body: ${field}: cannot be blank.`);
  }
  return value;
}

export function optionalCount(value: unknown, field: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new Invalid(`Validating request body: ${field}: must be a non-negative integer.`);
  }
  return value;
}

/** The phases as given; their rules (batch sizes, start times, rounding) are checked by planPhases. */
export function phasesOf(value: unknown): PhaseInput[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Invalid('Validating request body: phases: must be a list.');
  return value.map((p, index) => {
    if (typeof p !== 'object' || p === null || Array.isArray(p)) {
      throw new Invalid(`Invalid phase (${index + 1}): must be an object`);
    }
    return p as PhaseInput;
  });
}

/** The body's own device targets: `devices` (a list of ids; null reads as none) and `all_devices` (null: false). */
export function listedTargets(body: NewDeployment): { ids: string[]; all: boolean } {
  const { devices, all_devices: all } = body;
  if (all !== undefined && all !== null && typeof all !== 'boolean') {
    throw new Invalid('Validating request body: all_devices: must be a boolean.');
  }
  if (devices === undefined || devices === null) return { ids: [], all: all === true };
  if (!Array.isArray(devices) || !devices.every((d) => typeof d === 'string' && d !== '')) {
    throw new Invalid('Validating request body: devices: must be a list of device ids.');
  }
  return { ids: devices as string[], all: all === true };
}
