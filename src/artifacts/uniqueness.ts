// Mender's duplicate rule for artifacts, in one place: no two artifacts of a tenant with the same name may be
// installable on the same device, i.e. share a device type while depending on the same other provides. The rule
// is held by a unique index over (tenant, device type, uniqueness key), so that concurrent uploads of one name
// cannot both pass a read-then-write check (issue 18: 20 parallel uploads on PostgreSQL, 4 won).
import { createHash } from 'node:crypto';

/** Depends other than device_type, as a canonical string. */
export function canonicalDepends(depends: Record<string, string[] | string>): string {
  const keys = Object.keys(depends)
    .filter((k) => k !== 'device_type')
    .sort();
  return JSON.stringify(keys.map((k) => [k, [...(Array.isArray(depends[k]) ? depends[k] : [depends[k]])].sort()]));
}

/**
 * The key two artifacts clash on when they also share a device type: name and canonical depends, hashed so that
 * the index row stays small whatever their length (PostgreSQL refuses index rows over ~2.7 KB).
 */
export function uniquenessKey(name: string, depends: Record<string, string[] | string>): string {
  return createHash('sha256').update(name).update('\0').update(canonicalDepends(depends)).digest('hex');
}
