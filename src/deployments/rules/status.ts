// The device deployment state machine: the statuses, which are active or finished, what a device's status report
// does to its device deployment (accept, ignore, retry, or refuse with 400/409), the per-status statistics and the
// deployment status derived from them. Every protocol adapter maps its own feedback onto these functions.

// Source: mender-server backend/services/deployments/model/device_deployment.go (status enum and names).
export const deviceDeploymentStatuses = [
  'pending',
  'downloading',
  'installing',
  'rebooting',
  'pause_before_installing',
  'pause_before_rebooting',
  'pause_before_committing',
  'success',
  'failure',
  'already-installed',
  'noartifact',
  'aborted',
  'decommissioned',
] as const;
export type DeviceDeploymentStatus = (typeof deviceDeploymentStatuses)[number];

/** Statuses of a device that has not finished the deployment (model/device_deployment.go ActiveDeploymentStatuses). */
export const activeStatuses = [
  'pending',
  'downloading',
  'installing',
  'rebooting',
  'pause_before_installing',
  'pause_before_rebooting',
  'pause_before_committing',
] as const satisfies readonly DeviceDeploymentStatus[];

/** Terminal statuses (model/device_deployment.go IsDeviceDeploymentStatusFinished). */
export const finishedStatuses = [
  'success',
  'failure',
  'already-installed',
  'noartifact',
  'aborted',
  'decommissioned',
] as const satisfies readonly DeviceDeploymentStatus[];

export const pauseStatuses = [
  'pause_before_installing',
  'pause_before_rebooting',
  'pause_before_committing',
] as const satisfies readonly DeviceDeploymentStatus[];
export type PauseStatus = (typeof pauseStatuses)[number];

/**
 * What a device may report with `PUT .../status`: pending, noartifact, aborted and decommissioned are set only by the
 * server. Source: model/status.go StatusReport.Validate; deployments-devices-v1.yml DeploymentStatus enum.
 */
export const reportableStatuses = [
  'downloading',
  'installing',
  'rebooting',
  'success',
  'failure',
  'already-installed',
  'pause_before_installing',
  'pause_before_committing',
  'pause_before_rebooting',
] as const satisfies readonly DeviceDeploymentStatus[];
export type ReportableStatus = (typeof reportableStatuses)[number];

export function isDeviceDeploymentStatus(value: unknown): value is DeviceDeploymentStatus {
  return typeof value === 'string' && (deviceDeploymentStatuses as readonly string[]).includes(value);
}

export function isActive(status: DeviceDeploymentStatus): boolean {
  return (activeStatuses as readonly string[]).includes(status);
}

export function isFinished(status: DeviceDeploymentStatus): boolean {
  return (finishedStatuses as readonly string[]).includes(status);
}

export function isPaused(status: DeviceDeploymentStatus): status is PauseStatus {
  return (pauseStatuses as readonly string[]).includes(status);
}

export interface StatusReport {
  status: ReportableStatus;
  /** Empty or absent means "keep the substate already stored". */
  substate?: string;
}

/** The device deployment as the state machine needs it. `attempts` counts attempts made, starting at 1. */
export interface DeviceDeploymentState {
  status: DeviceDeploymentStatus;
  attempts: number;
}

export type ReportOutcome =
  /** The device deployment was aborted by an operator or its device decommissioned: nothing may move it. */
  | { kind: 'refused'; reason: 'aborted' | 'decommissioned' }
  /** Same status as stored: Mender answers 204 and changes nothing, not even the substate. */
  | { kind: 'unchanged' }
  | {
      kind: 'changed';
      from: DeviceDeploymentStatus;
      to: DeviceDeploymentStatus;
      /** New substate to store; undefined keeps the stored one. */
      substate?: string;
      /** Set the device deployment's finished time (the new status is terminal). */
      finished: boolean;
      /** Set its started time: the first report after pending. */
      started: boolean;
    }
  | {
      kind: 'retry';
      from: DeviceDeploymentStatus;
      /** The device deployment goes back to pending so the device gets the same deployment at its next poll. */
      to: 'pending';
      attempts: number;
      substate?: string;
    };

/**
 * What a status report does to a device deployment (PUT /api/devices/v1/deployments/device/deployments/{id}/status).
 * Source: mender-server app/app.go updateDeviceDeploymentStatus and api_deployments.go PutDeploymentStatusForDevice:
 * - aborted or decommissioned → refused (Mender answers 409 "Deployment aborted" / "Device decommissioned");
 * - the same status again → nothing happens (204);
 * - any other valid report is accepted: Mender's server has no transition table (its integration test walks
 *   installing → downloading and calls "any valid status until finished" legal), and a device that comes back
 *   after the server ended its attempt and reports how it ended counts;
 * - except that a step (an active status) reported for a finished attempt changes nothing (204): a deliberate
 *   difference from Mender, whose server takes it, so that a late or replayed report reopened a finished device
 *   deployment and the next poll handed it out again (issue 18). Ignored rather than refused: mender-client reads
 *   a 409 as "aborted".
 * Retries (enterprise; the rule is not in the public source, see the report): with `retries: N` a failure report
 * while `attempts <= N` sends the device deployment back to pending with attempts + 1, so a device gets at most
 * N + 1 attempts and a retried failure never shows in the statistics (integration tests/test_deployment_retry.py:
 * retries 3, the third attempt succeeds, statistics show one success and the deployment finishes).
 */
export function applyStatusReport(
  current: DeviceDeploymentState,
  report: StatusReport,
  retries: number,
): ReportOutcome {
  if (current.status === 'aborted' || current.status === 'decommissioned') {
    return { kind: 'refused', reason: current.status };
  }
  if (report.status === current.status) return { kind: 'unchanged' };
  if (isFinished(current.status) && !isFinished(report.status)) return { kind: 'unchanged' };
  const substate = report.substate ? { substate: report.substate } : {};
  if (report.status === 'failure' && mayRetry(current.attempts, retries)) {
    return { kind: 'retry', from: current.status, to: 'pending', attempts: current.attempts + 1, ...substate };
  }
  return {
    kind: 'changed',
    from: current.status,
    to: report.status,
    ...substate,
    finished: isFinished(report.status),
    started: current.status === 'pending',
  };
}

/** Order of an attempt's steps; finished statuses come last. */
const stepOrder: Record<DeviceDeploymentStatus, number> = {
  pending: 0,
  downloading: 1,
  pause_before_installing: 2,
  installing: 3,
  pause_before_rebooting: 4,
  rebooting: 5,
  pause_before_committing: 6,
  success: 7,
  failure: 7,
  'already-installed': 7,
  noartifact: 7,
  aborted: 7,
  decommissioned: 7,
};

/**
 * For protocols whose progress messages may arrive out of order (Kanto's feedback): a step that is not past the
 * current one changes nothing. Mender's devices may move back (its server takes any order), so they do not ask this.
 */
export function isBehind(current: DeviceDeploymentStatus, reported: DeviceDeploymentStatus): boolean {
  return stepOrder[reported] <= stepOrder[current];
}

/** A failed attempt is retried while attempts made ≤ retries allowed (so N retries = N + 1 attempts in all). */
export function mayRetry(attempts: number, retries: number): boolean {
  return retries > 0 && attempts <= retries;
}
