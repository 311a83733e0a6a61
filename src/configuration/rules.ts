// What a device configuration may hold: a flat object of string values (Mender's deviceconfig model), every key
// non-empty and at most 4096 characters, every value at most 4096, at most 100 keys. Mender checks the key count
// only in its store and answers 500; Flotilla answers 400 before anything is written.
import { Invalid } from '../errors.js';

/** A device configuration: keys to string values. */
export type Configuration = Record<string, string>;

export const MAX_KEYS = 100;
export const MAX_LENGTH = 4096;

/** Mender's Go validator names the JSON type it got as Go decodes it (`invalid type: float64`). */
function goTypeOf(value: unknown): string {
  if (value === null) return '<nil>';
  if (Array.isArray(value)) return '[]interface {}';
  if (typeof value === 'number') return 'float64';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'object') return 'map[string]interface {}';
  return typeof value;
}

/** The configuration in a request body, or Invalid naming the first thing wrong. */
export function configurationOf(body: unknown): Configuration {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new Invalid('failed to decode request body: expected a JSON object of string values');
  }
  const entries = Object.entries(body as Record<string, unknown>);
  if (entries.length > MAX_KEYS) {
    throw new Invalid(`too many configuration attributes, maximum is ${MAX_KEYS}`);
  }
  const configuration: Configuration = {};
  for (const [key, value] of entries) {
    if (key === '') throw new Invalid('key: cannot be blank.');
    if ([...key].length > MAX_LENGTH)
      throw new Invalid(`${key.slice(0, 64)}…: key: the length must be no more than ${MAX_LENGTH}.`);
    if (typeof value !== 'string') throw new Invalid(`${key}: value: invalid type: ${goTypeOf(value)}.`);
    if ([...value].length > MAX_LENGTH)
      throw new Invalid(`${key}: value: the length must be no more than ${MAX_LENGTH}.`);
    configuration[key] = value;
  }
  return configuration;
}
