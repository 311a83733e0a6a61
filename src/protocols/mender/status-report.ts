// Mender's status report body (PUT /api/devices/v1/deployments/device/deployments/{id}/status) read into the
// domain's typed report, with Mender's own error texts.

import { isJsonObject } from '../../api/schemas.js';
import {
  isDeviceDeploymentStatus,
  type ReportableStatus,
  reportableStatuses,
  type StatusReport,
} from '../../deployments/rules/status.js';
import { Invalid } from '../../errors.js';

/** Longest substate Mender keeps, in bytes (model/validation.go lengthIn0To200). */
export const maxSubstateBytes = 200;

/**
 * Validates a status report body and returns it typed; throws `Invalid` (400) with Mender's messages.
 * Source: model/status.go (UnmarshalText error for unknown names, ozzo-validation "key: message." otherwise).
 * Deviation: a missing status is a 400 here; Mender lets it through and fails later with a 500.
 */
export function parseStatusReport(body: unknown): StatusReport {
  const { status, substate } = isJsonObject(body) ? body : {};
  if (typeof status === 'string' && !isDeviceDeploymentStatus(status)) {
    throw new Invalid(`invalid status for device '${status}'`);
  }
  const problems: string[] = [];
  if (status === undefined || status === null || status === '') problems.push('status: cannot be blank');
  else if (typeof status !== 'string' || !(reportableStatuses as readonly string[]).includes(status)) {
    problems.push('status: must be a valid value');
  }
  if (substate !== undefined && substate !== null) {
    if (typeof substate !== 'string') problems.push('substate: must be a string');
    else if (Buffer.byteLength(substate, 'utf8') > maxSubstateBytes) {
      problems.push(`substate: the length must be no more than ${maxSubstateBytes}`);
    }
  }
  if (problems.length > 0) throw new Invalid(`${problems.join('; ')}.`);
  return typeof substate === 'string' && substate !== ''
    ? { status: status as ReportableStatus, substate }
    : { status: status as ReportableStatus };
}
