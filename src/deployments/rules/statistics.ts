// Deployment statistics (device counts per status) and the deployment status Mender derives from them:
// scheduled | pending | inprogress | finished.
import {
  type DeviceDeploymentStatus,
  deviceDeploymentStatuses,
  finishedStatuses,
  isDeviceDeploymentStatus,
} from './status.js';

/**
 * Counts per device deployment status, every status present (zeros included). The spec's Statistics schema lists
 * twelve keys; Mender's server also returns `decommissioned` (model/device_deployment.go NewDeviceDeploymentStats
 * fills every status), so we do too: clients ignore keys they do not know.
 */
export type Statistics = Record<DeviceDeploymentStatus, number>;

export function emptyStatistics(): Statistics {
  return Object.fromEntries(deviceDeploymentStatuses.map((status) => [status, 0])) as Statistics;
}

/** Statistics of a set of device deployments, e.g. rows grouped by status. */
export function statisticsOf(counts: Iterable<{ status: string; count: number }>): Statistics {
  const stats = emptyStatistics();
  for (const { status, count } of counts) if (isDeviceDeploymentStatus(status)) stats[status] += count;
  return stats;
}

/**
 * Moves one device from one status to another (model Stats / mongo UpdateStatsInc); `from` undefined means a new
 * device deployment. Returns a new object.
 */
export function moveStatistic(
  stats: Statistics,
  from: DeviceDeploymentStatus | undefined,
  to: DeviceDeploymentStatus,
): Statistics {
  if (from === to) return stats;
  const next = { ...stats };
  if (from !== undefined) next[from] -= 1;
  next[to] += 1;
  return next;
}

/** Devices that are done with the deployment, whatever the outcome (counted against max_devices). */
export function finishedCount(stats: Statistics): number {
  return finishedStatuses.reduce((sum, status) => sum + stats[status], 0);
}

/**
 * Statuses that take a deployment out of "pending". Source: model/deployment.go IsNotPending — note that
 * `decommissioned` is not among them in Mender, so a deployment whose only device was decommissioned stays pending
 * (until max_devices finishes it).
 */
const notPendingStatuses: readonly DeviceDeploymentStatus[] = [
  'downloading',
  'installing',
  'rebooting',
  'success',
  'already-installed',
  'failure',
  'aborted',
  'noartifact',
  'pause_before_installing',
  'pause_before_committing',
  'pause_before_rebooting',
];

export type DeploymentStatus = 'scheduled' | 'pending' | 'inprogress' | 'finished';

export interface DeploymentProgress {
  stats: Statistics;
  /**
   * Devices after which the deployment is finished: the device count for a deployment to a list or group, the
   * optional max_devices for a dynamic one (0 or undefined: never finishes by itself).
   */
  maxDevices?: number;
  /** The deployment has a finished time: aborted, or finished by a user. */
  finishedAt?: string | null;
  /** Start of the first phase, if it was given; a later start makes a not-yet-started deployment "scheduled". */
  firstPhaseStart?: string | null;
  now: Date;
}

/**
 * Overall status. Source: model/deployment.go GetStatus/IsFinished/IsNotPending: finished when it has a finished
 * time or when at least max_devices devices finished; inprogress when any device left pending; pending otherwise.
 * "scheduled" (enterprise, v1 list filter enum) is not in the public source: here it is a pending deployment whose
 * first phase starts in the future.
 */
export function deploymentStatus(progress: DeploymentProgress): DeploymentStatus {
  const { stats, maxDevices, finishedAt, firstPhaseStart, now } = progress;
  if (finishedAt) return 'finished';
  if (maxDevices !== undefined && maxDevices > 0 && finishedCount(stats) >= maxDevices) return 'finished';
  if (notPendingStatuses.some((status) => stats[status] > 0)) return 'inprogress';
  if (firstPhaseStart && Date.parse(firstPhaseStart) > now.getTime()) return 'scheduled';
  return 'pending';
}
