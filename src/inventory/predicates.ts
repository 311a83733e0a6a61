// Inventory filter terms (Mender's FilterPredicate) and sort criteria: validation and normalisation into
// conditions that the store turns into SQL. No SQL here; every rule about what a term means lives here.
import { Invalid } from '../errors.js';
import { compilePattern, MAX_PATTERN_LENGTH } from './regex.js';
import type { AttributeScope } from './tables.js';

export const SCOPES: readonly AttributeScope[] = ['system', 'identity', 'inventory', 'monitor', 'tags'];

export type Scalar = string | number;

/** What a term asks of an attribute's values (MongoDB semantics: an array matches when any element does). */
export type Condition =
  /** `$eq` (or `$ne` when negated) against one value; a boolean matches only a stored boolean (`monitor` scope). */
  | { kind: 'eq'; negate: boolean; value: Scalar | boolean }
  /** `$eq`/`$ne` with an array: the whole stored array equals it, element by element. */
  | { kind: 'eqArray'; negate: boolean; values: Scalar[] }
  /** `$in` / `$nin` (negated). */
  | { kind: 'in'; negate: boolean; values: (Scalar | boolean)[] }
  /**
   * `$gt $gte $lt $lte`: only values of the same type bracket compare (numbers with numbers, strings with strings).
   * `$ltne` is `<` or the attribute is missing (`orMissing`).
   */
  | { kind: 'range'; op: '>' | '>=' | '<' | '<='; value: Scalar | boolean; orMissing?: boolean }
  | { kind: 'exists'; exists: boolean }
  /** `$regex` on string values; `valid` false means the pattern does not compile, so nothing matches. */
  | { kind: 'regex'; pattern: string; caseInsensitive: boolean; valid: boolean }
  /** The v1 query-string filter: the text equals a string value, or its number equals a numeric value. */
  | { kind: 'eqText'; text: string; number?: number }
  /** Prefix match on string values (v2alpha1 identity search). */
  | { kind: 'prefix'; prefix: string };

export interface Term {
  scope: string;
  name: string;
  condition: Condition;
}

export interface SortCriterion {
  scope: string;
  name: string;
  ascending: boolean;
}

/** The wire shape of a filter term, as in Mender's FilterPredicate. */
export interface FilterPredicate {
  scope: string;
  attribute: string;
  type: string;
  value: unknown;
}

const RANGE = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' } as const;

function isScalar(value: unknown): value is Scalar | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

function requireScope(scope: unknown): string {
  if (typeof scope !== 'string' || !scope) throw new Invalid('scope: cannot be blank.');
  if (!(SCOPES as readonly string[]).includes(scope)) throw new Invalid(`scope: must be one of ${SCOPES.join(', ')}.`);
  return scope;
}

/** Validates one wire predicate (400 on anything Mender or MongoDB would refuse) and normalises it. */
export function termOf(raw: unknown): Term {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Invalid('filter term must be an object');
  const p = raw as Partial<FilterPredicate>;
  const scope = requireScope(p.scope);
  if (typeof p.attribute !== 'string' || !p.attribute) throw new Invalid('attribute: cannot be blank.');
  if (typeof p.type !== 'string' || !p.type) throw new Invalid('type: cannot be blank.');
  if (p.value === undefined || p.value === null) throw new Invalid('value: is required.');
  const value = p.value;
  const name = p.attribute;
  const term = (condition: Condition): Term => ({ scope, name, condition });
  if (typeof value === 'object' && !Array.isArray(value)) throw new Invalid(`${p.type}: value must not be an object`);
  switch (p.type) {
    case '$eq':
    case '$ne': {
      const negate = p.type === '$ne';
      if (Array.isArray(value)) return term({ kind: 'eqArray', negate, values: scalarArray(value) });
      return term({ kind: 'eq', negate, value: value as Scalar | boolean });
    }
    case '$in':
    case '$nin': {
      // MongoDB answers BadValue ("$in needs an array"), which Mender turns into 400.
      if (!Array.isArray(value)) throw new Invalid(`${p.type} needs an array`);
      if (!value.every(isScalar)) throw new Invalid(`${p.type}: values must be strings or numbers`);
      return term({ kind: 'in', negate: p.type === '$nin', values: value });
    }
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
      // Comparing with a whole array is MongoDB's array ordering, which no client uses: refused rather than guessed.
      if (!isScalar(value)) throw new Invalid(`${p.type}: value must be a string or a number`);
      return term({ kind: 'range', op: RANGE[p.type], value });
    case '$ltne':
      // "Less than or does not exist" (Mender's inventory API, FilterPredicate): the GUI finds offline devices
      // with `system/check_in_time $ltne <threshold>`, devices that never checked in included.
      if (!isScalar(value)) throw new Invalid(`${p.type}: value must be a string or a number`);
      return term({ kind: 'range', op: '<', value, orMissing: true });
    case '$exists':
      if (typeof value === 'boolean') return term({ kind: 'exists', exists: value });
      if (typeof value === 'number') return term({ kind: 'exists', exists: value !== 0 });
      throw new Invalid('$exists: value must be a boolean');
    case '$regex':
      if (typeof value !== 'string') throw new Invalid('$regex has to be a string');
      return term(regexOf(value));
    default:
      throw new Invalid(`type: unknown operator ${p.type}`);
  }
}

function scalarArray(values: unknown[]): Scalar[] {
  if (!values.every((v) => typeof v === 'string') && !values.every((v) => typeof v === 'number')) {
    throw new Invalid('array values must be all strings or all numbers');
  }
  return values as Scalar[];
}

/**
 * `$regex` takes a pattern, or `/pattern/flags` with flag `i`. Mender passes the pattern to MongoDB unanchored
 * (the spec's "anchored by ^" is not what the server does, and the web UI's "contains" relies on that), so we
 * match anywhere too. A pattern that does not compile matches nothing, as the spec says; "compiles" means RE2
 * compiles it (regex.ts), on both dialects: backreferences and lookaround, which only a backtracking engine runs
 * and which let one search hold a PostgreSQL connection for minutes, match nothing.
 */
export function regexOf(value: string): Condition {
  let pattern = value;
  let flags = '';
  const literal = /^\/(.*)\/([a-z]*)$/s.exec(value);
  if (literal) {
    pattern = literal[1];
    flags = literal[2];
    if (/[^i]/.test(flags)) throw new Invalid(`$regex: unsupported flags "${flags}" (only i)`);
  }
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new Invalid(`$regex: the pattern must be at most ${MAX_PATTERN_LENGTH} characters`);
  }
  const caseInsensitive = flags.includes('i');
  const valid = compilePattern(caseInsensitive ? `(?i)${pattern}` : pattern) !== null;
  return { kind: 'regex', pattern, caseInsensitive, valid };
}

export function termsOf(raw: unknown): Term[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new Invalid('filters must be an array');
  return raw.map(termOf);
}

/** v2 sort criteria: `[{scope, attribute, order}]`. */
export function sortOf(raw: unknown): SortCriterion[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new Invalid('sort must be an array');
  return raw.map((s) => {
    if (typeof s !== 'object' || s === null) throw new Invalid('sort criteria must be objects');
    const c = s as { scope?: unknown; attribute?: unknown; order?: unknown };
    const scope = requireScope(c.scope);
    if (typeof c.attribute !== 'string' || !c.attribute) throw new Invalid('attribute: cannot be blank.');
    if (c.order !== 'asc' && c.order !== 'desc') throw new Invalid('order: must be a valid value.');
    return { scope, name: c.attribute, ascending: c.order === 'asc' };
  });
}

/**
 * The v1 `sort` query parameter: comma-separated `[scope/]name[:asc|desc]`; the scope defaults to inventory
 * and the order to descending, as in Mender.
 */
export function sortParamOf(param: string): SortCriterion[] {
  return param.split(',').map((part) => {
    const [attribute, order, ...rest] = part.split(':');
    if (rest.length > 0 || !attribute) throw new Invalid('invalid sort parameter');
    if (order !== undefined && order !== 'asc' && order !== 'desc') throw new Invalid('invalid sort order');
    const { scope, name } = scopedName(attribute);
    return { scope, name, ascending: order === 'asc' };
  });
}

/** `scope/name` or `name` (inventory scope). */
export function scopedName(text: string): { scope: string; name: string } {
  const slash = text.indexOf('/');
  if (slash < 0) return { scope: 'inventory', name: text };
  return { scope: text.slice(0, slash), name: text.slice(slash + 1) };
}

/**
 * A v1 query-string filter `[scope/]name=[eq:]value`: matches the text as a string, or as a number when it
 * parses as one (Mender ORs both, since the query string has no types).
 */
export function queryTermOf(param: string, rawValue: string): Term {
  const { scope, name } = scopedName(param);
  const text = rawValue.startsWith('eq:') && rawValue.length > 3 ? rawValue.slice(3) : rawValue;
  const number = text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : undefined;
  return { scope, name, condition: { kind: 'eqText', text, ...(number === undefined ? {} : { number }) } };
}
