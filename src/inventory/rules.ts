// Validation rules for what devices and operators write: attribute lists (device inventory, tags) and group
// names, with Mender's limits and messages. Pure functions; a failure is a 400 and nothing is written.
import { Invalid } from '../errors.js';
import { checkText } from '../text.js';
import type { Attribute } from './store.js';

const MAX_NAME = 1024;
/**
 * Bytes (UTF-8) of an attribute's name and one string value together. Both sit in one entry of the attributes
 * index, and PostgreSQL refuses an index entry over about 2.7 KB: past this a write failed with a 500.
 */
export const MAX_NAME_AND_VALUE_BYTES = 2048;
/**
 * Elements of one array value. Each is a row of the attributes index: a device that wrote 110,000 of them held the
 * (single) SQLite writer long enough to take every other device's poll from 9 ms to 3 s. Mender sets no number
 * (its request size bounds it); a thousand is more than any inventory script reports.
 */
export const MAX_ARRAY_ITEMS = 1024;

/**
 * A list of `{name, value, description?}`: names 1..1024 characters, values a string, a number, or an array of
 * only strings or only numbers (empty arrays allowed). A name given twice keeps its last value.
 */
export function attributeListOf(body: unknown): Omit<Attribute, 'scope'>[] {
  if (!Array.isArray(body)) throw new Invalid('failed to decode request body: expected a list of attributes');
  const byName = new Map<string, Omit<Attribute, 'scope'>>();
  for (const item of body) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new Invalid('failed to decode request body: attributes must be objects');
    }
    const { name, value, description } = item as Record<string, unknown>;
    if (name !== undefined && typeof name !== 'string')
      throw new Invalid('failed to decode request body: name must be a string');
    if (description !== undefined && description !== null && typeof description !== 'string') {
      throw new Invalid('failed to decode request body: description must be a string');
    }
    if (!name) throw new Invalid('name: cannot be blank.');
    if ([...name].length > MAX_NAME) throw new Invalid(`name: the length must be between 1 and ${MAX_NAME}.`);
    checkValue(value);
    byName.delete(name);
    byName.set(name, {
      name,
      value: value as Attribute['value'],
      ...(typeof description === 'string' ? { description } : {}),
    });
  }
  const attributes = [...byName.values()];
  checkStorable(attributes);
  return attributes;
}

/**
 * What every attribute write must satisfy before the database sees it, whichever way it came (HTTP, MQTT, the
 * domain's own writes): storable text (src/text.ts) and a name and value that fit one index entry.
 */
export function checkStorable(attributes: readonly Omit<Attribute, 'scope'>[]): void {
  for (const { name, value, description } of attributes) {
    checkText(name, 'name');
    if (description) checkText(description, 'description');
    const nameBytes = Buffer.byteLength(name);
    if (Array.isArray(value) && value.length > MAX_ARRAY_ITEMS) {
      throw new Invalid(
        `value: attribute ${JSON.stringify(name.slice(0, 64))} has ${value.length} values; at most ${MAX_ARRAY_ITEMS}`,
      );
    }
    for (const item of Array.isArray(value) ? value : [value]) {
      if (typeof item !== 'string') continue;
      checkText(item, 'value');
      if (nameBytes + Buffer.byteLength(item) > MAX_NAME_AND_VALUE_BYTES) {
        throw new Invalid(
          `value: attribute ${JSON.stringify(name.slice(0, 64))} is too long: its name and each string value ` +
            `together may take at most ${MAX_NAME_AND_VALUE_BYTES} bytes (UTF-8)`,
        );
      }
    }
  }
}

function checkValue(value: unknown): void {
  if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) return;
  if (Array.isArray(value)) {
    if (value.length === 0) return;
    const kind = typeof value[0];
    if (kind !== 'string' && kind !== 'number') {
      throw new Invalid('value: array values must be either string or float64.');
    }
    if (!value.every((v) => typeof v === kind)) {
      throw new Invalid('value: array values must be of consistent type: string or float64.');
    }
    return;
  }
  throw new Invalid('value: supported types are string, float64, and arrays thereof.');
}

const GROUP_PATTERN = /^[A-Za-z0-9_-]*$/;

/** Mender's group name rule: 1..256 characters (1..1024 for the legacy checks on removal), [A-Za-z0-9_-]. */
export function checkGroupName(group: unknown, legacy = false): string {
  if (typeof group !== 'string')
    throw new Invalid(`invalid type ${group === null ? 'null' : typeof group} for device group`);
  const max = legacy ? 1024 : 256;
  if (!group) throw new Invalid('group: cannot be blank.');
  if ([...group].length > max) throw new Invalid(`group: the length must be no more than ${max}.`);
  if (!GROUP_PATTERN.test(group)) {
    throw new Invalid('group: group name can only contain: upper/lowercase alphanum, -(dash), _(underscore).');
  }
  return group;
}

/** A non-empty list of device ids (group membership bodies). */
export function deviceIdListOf(body: unknown): string[] {
  if (!Array.isArray(body) || !body.every((id) => typeof id === 'string')) {
    throw new Invalid('invalid payload schema: expected a list of device IDs');
  }
  if (body.length === 0) throw new Invalid('no device IDs present in payload');
  return [...new Set(body as string[])];
}
