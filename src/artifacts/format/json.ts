// Strict shapes for the JSON parts of an artifact (version, header-info, type-info, meta-data): each reader
// function either returns a typed value or throws an ArtifactError naming the part and the field.
import { ArtifactError } from './errors.js';

export type JsonObject = Record<string, unknown>;

export function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ArtifactError(`${what} is not valid JSON`);
  }
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function object(value: unknown, what: string): JsonObject {
  if (!isObject(value)) throw new ArtifactError(`${what} must be a JSON object`);
  return value;
}

export function optionalObject(value: unknown, what: string): JsonObject {
  return value === undefined || value === null ? {} : object(value, what);
}

export function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string'))
    throw new ArtifactError(`${what} must be a list of strings`);
  return value as string[];
}

export function stringMap(value: unknown, what: string): Record<string, string> {
  const map = optionalObject(value, what);
  for (const [key, item] of Object.entries(map))
    if (typeof item !== 'string') throw new ArtifactError(`${what}.${key} must be a string`);
  return map as Record<string, string>;
}

/** type-info artifact_depends: each value a string or a list of strings. */
export function dependsMap(value: unknown, what: string): Record<string, string | string[]> {
  const map = optionalObject(value, what);
  for (const [key, item] of Object.entries(map)) if (typeof item !== 'string') stringList(item, `${what}.${key}`);
  return map as Record<string, string | string[]>;
}

/**
 * Merges an augment over the original as mender-artifact does: objects merge key by key, other values are
 * replaced, and an object may not meet a non-object (nor a list a non-list).
 */
export function mergeAugment(original: JsonObject, augment: JsonObject, what: string): JsonObject {
  const merged: JsonObject = { ...original };
  for (const [key, value] of Object.entries(augment)) {
    if (!(key in original)) {
      merged[key] = value;
      continue;
    }
    const before = original[key];
    if (isObject(value) || isObject(before)) {
      if (!isObject(value) || !isObject(before))
        throw new ArtifactError(`${what}.${key}: cannot combine an object with a non-object`);
      merged[key] = mergeAugment(before, value, `${what}.${key}`);
    } else if (Array.isArray(value) !== Array.isArray(before)) {
      throw new ArtifactError(`${what}.${key}: cannot combine a list with a non-list`);
    } else merged[key] = value;
  }
  return merged;
}
