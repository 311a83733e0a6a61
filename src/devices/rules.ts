// Device admission rules that need no store: identity data, how auth-set statuses make a device status, which
// status changes an operator may make, and when a check-in is worth writing down. All as Mender's deviceauth does.
import { Invalid } from '../errors.js';
import type { AuthSetStatus, DeviceStatus } from './tables.js';

export type IdentityData = Record<string, string | string[]>;

/** A device's status follows its best auth set: accepted > preauthorized > pending > rejected; none is noauth. */
export function deviceStatusOf(statuses: AuthSetStatus[]): DeviceStatus {
  for (const s of ['accepted', 'preauthorized', 'pending', 'rejected'] as const) if (statuses.includes(s)) return s;
  return 'noauth';
}

/**
 * Identity data: a non-empty JSON object (or its JSON text, as devices send it) of strings or lists of strings.
 * `canonical` is its JSON with sorted keys, which identifies the device.
 */
export function parseIdentity(value: unknown, context: string): { identity: IdentityData; canonical: string } {
  let data: unknown = value;
  if (typeof value === 'string') {
    try {
      data = JSON.parse(value);
    } catch {
      throw new Invalid(`${context}: id_data: must be a JSON object`);
    }
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data) || Object.keys(data).length === 0) {
    throw new Invalid(`${context}: identity data: must be a non-empty JSON object`);
  }
  const identity: IdentityData = {};
  for (const key of Object.keys(data).sort()) {
    const v = (data as Record<string, unknown>)[key];
    const ok = typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    if (!key || !ok) {
      throw new Invalid(`${context}: identity data: ${JSON.stringify(key)} must be a string or a list of strings`);
    }
    identity[key] = v as string | string[];
  }
  return { identity, canonical: JSON.stringify(identity) };
}

/** Identity data as inventory attributes; `status` is left out, since in that scope it is the admission status. */
export function identityAttributes(identity: IdentityData): { name: string; value: string | string[] }[] {
  return Object.entries(identity)
    .filter(([name]) => name !== 'status')
    .map(([name, value]) => ({ name, value }));
}

/** The statuses an operator may set on an auth set. */
export type OperatorStatus = 'accepted' | 'rejected' | 'pending';

export function isOperatorStatus(value: unknown): value is OperatorStatus {
  return value === 'accepted' || value === 'rejected' || value === 'pending';
}

/**
 * Mender's allowed auth-set transitions: accept a pending or rejected set, reject a pending or accepted one, send
 * anything but a preauthorized set back to pending. A preauthorized set changes only by the device's own request.
 */
export function canTransition(from: AuthSetStatus, to: OperatorStatus): boolean {
  if (to === 'accepted') return from === 'pending' || from === 'rejected';
  if (to === 'rejected') return from === 'pending' || from === 'accepted';
  return from !== 'preauthorized';
}

/** Check-ins are recorded to the minute (one write per device per minute at most) ... */
export const CHECK_IN_RESOLUTION_MS = 60_000;
/** ... and copied to inventory's `system/check_in_time` once a day, as Mender does. */
export const CHECK_IN_INVENTORY_MS = 24 * 3600_000;

export function checkInDue(previous: string | null, ts: string): { record: boolean; toInventory: boolean } {
  if (previous === null) return { record: true, toInventory: true };
  const elapsed = Date.parse(ts) - Date.parse(previous);
  return { record: elapsed >= CHECK_IN_RESOLUTION_MS, toInventory: elapsed > CHECK_IN_INVENTORY_MS };
}
