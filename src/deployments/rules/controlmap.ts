// Update control maps (synchronized updates): validation exactly as the Mender client 3.4 accepts a map, the pool
// of maps a device holds (the server's map plus local ones from device applications), their expiry, the merged
// action at a state, and which pause_before_* status a pause reports.
// Source: mendersoftware/mender 3.4.0 app/updatecontrolmap/updatecontrolmap.go and app/updatemanager.go.
import { Invalid } from '../../errors.js';
import type { PauseStatus } from './status.js';

export const controlMapStates = ['ArtifactInstall_Enter', 'ArtifactReboot_Enter', 'ArtifactCommit_Enter'] as const;
export type ControlMapState = (typeof controlMapStates)[number];

export const controlMapActions = ['continue', 'force_continue', 'pause', 'fail'] as const;
export type ControlMapAction = (typeof controlMapActions)[number];

/** A map cannot expire into a pause. */
export const controlMapExpireActions = ['continue', 'force_continue', 'fail'] as const;
export type ControlMapExpireAction = (typeof controlMapExpireActions)[number];

export interface ControlMapStateRule {
  action: ControlMapAction;
  on_map_expire: ControlMapExpireAction;
  on_action_executed: ControlMapAction;
}

/** A map as the client holds it after parsing: every rule complete, rules equal to the default dropped. */
export interface ControlMap {
  id: string;
  priority: number;
  states: Partial<Record<ControlMapState, ControlMapStateRule>>;
}

/** A map as a user or the server writes it: fields optional, as stored and served by the deployments API. */
export interface ControlMapWire {
  id: string;
  priority: number;
  states: Partial<Record<ControlMapState, Partial<ControlMapStateRule>>>;
}

const mapFields = ['id', 'priority', 'states'] as const;
const ruleFields = ['action', 'on_map_expire', 'on_action_executed'] as const;

/**
 * Reads a JSON object the way Go's encoding/json fills a struct with DisallowUnknownFields: keys match field names
 * case-insensitively (Mender's own tests send "Priority" and "States"), the last duplicate wins, null leaves the
 * field unset, and any other key is an error.
 */
function readFields<F extends string>(value: unknown, fields: readonly F[], what: string): Partial<Record<F, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Invalid(`Update Control Map contains unsupported fields: ${what} must be an object`);
  }
  const out: Partial<Record<F, unknown>> = {};
  for (const [key, fieldValue] of Object.entries(value)) {
    const field = fields.find((f) => f.toLowerCase() === key.toLowerCase());
    if (field === undefined) {
      throw new Invalid(`Update Control Map contains unsupported fields: json: unknown field "${key}"`);
    }
    if (fieldValue !== null) out[field] = fieldValue;
  }
  return out;
}

function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new Invalid(`Update Control Map contains unsupported fields: ${field}`);
  if (!(allowed as readonly string[]).includes(value)) throw new Invalid(`invalid value "${value}"`);
  return value as T;
}

/**
 * Validates a map and returns it in wire form (lowercase keys, only the fields given); throws `Invalid` (400).
 * Rules (updatecontrolmap.go Validate/UnmarshalJSON): no unknown fields; id a UUID; priority an integer in
 * [-10, 10] (default 0); state keys only ArtifactInstall_Enter, ArtifactReboot_Enter, ArtifactCommit_Enter;
 * action in continue|force_continue|pause|fail, on_map_expire in continue|force_continue|fail, on_action_executed
 * like action. Messages follow the client's where it has one.
 */
export function validateControlMap(input: unknown): ControlMapWire {
  const fields = readFields(input, mapFields, 'the map');
  const id = fields.id ?? '';
  if (typeof id !== 'string' || !isUuid(id)) throw new Invalid('ID must be a UUID');
  const priority = fields.priority ?? 0;
  if (typeof priority !== 'number' || !Number.isInteger(priority)) {
    throw new Invalid('Update Control Map contains unsupported fields: priority must be an integer');
  }
  if (priority < -10 || priority > 10) {
    throw new Invalid(`invalid Priority ${priority}, value must be in the range [-10, 10]`);
  }
  const states: ControlMapWire['states'] = {};
  const rawStates = fields.states === undefined ? {} : fields.states;
  if (typeof rawStates !== 'object' || rawStates === null || Array.isArray(rawStates)) {
    throw new Invalid('Update Control Map contains unsupported fields: states must be an object');
  }
  for (const key of Object.keys(rawStates)) {
    if (!(controlMapStates as readonly string[]).includes(key)) throw new Invalid(`invalid value "${key}"`);
  }
  for (const [key, rawRule] of Object.entries(rawStates)) {
    const rule = rawRule === null ? {} : readFields(rawRule, ruleFields, key);
    const parsed: Partial<ControlMapStateRule> = {};
    const action = oneOf(rule.action, controlMapActions, 'action');
    const onMapExpire = oneOf(rule.on_map_expire, controlMapExpireActions, 'on_map_expire');
    const onActionExecuted = oneOf(rule.on_action_executed, controlMapActions, 'on_action_executed');
    if (action) parsed.action = action;
    if (onMapExpire) parsed.on_map_expire = onMapExpire;
    if (onActionExecuted) parsed.on_action_executed = onActionExecuted;
    states[key as ControlMapState] = parsed;
  }
  return { id, priority, states };
}

/**
 * The map a deployment stores and serves (create, PATCH, GET .../update_control_map, /next): its id is the
 * deployment's id whatever the user sent (seed 001: "The ID attribute is automatically set to the deployment's ID"),
 * then the client's rules apply so that no client can refuse it later.
 */
export function deploymentControlMap(input: unknown, deploymentId: string): ControlMapWire {
  const withId =
    typeof input === 'object' && input !== null && !Array.isArray(input)
      ? { ...Object.fromEntries(Object.entries(input).filter(([key]) => key.toLowerCase() !== 'id')), id: deploymentId }
      : input;
  return validateControlMap(withId);
}

/**
 * Fills defaults and drops rules that are all-default, as the client does after validation (Sanitize):
 * action defaults to continue; on_map_expire to the action, except fail for pause; on_action_executed to the action.
 */
export function sanitizeControlMap(map: ControlMapWire): ControlMap {
  const states: ControlMap['states'] = {};
  for (const [key, rule] of Object.entries(map.states) as [ControlMapState, Partial<ControlMapStateRule>][]) {
    const action = rule.action ?? 'continue';
    const full: ControlMapStateRule = {
      action,
      on_map_expire: rule.on_map_expire ?? (action === 'pause' ? 'fail' : action),
      on_action_executed: rule.on_action_executed ?? action,
    };
    const isDefault =
      full.action === 'continue' && full.on_map_expire === 'continue' && full.on_action_executed === 'continue';
    if (!isDefault) states[key] = full;
  }
  return { id: map.id, priority: map.priority, states };
}

/** What the client does with a map it receives: validate, then sanitize. */
export function parseControlMap(input: unknown): ControlMap {
  return sanitizeControlMap(validateControlMap(input));
}

/** A map in a device's pool, with when it was last set or refreshed. */
export interface PooledControlMap {
  map: ControlMap;
  /** Epoch milliseconds of the last set/refresh. */
  stampedAt: number;
  /** UpdateControlMapExpirationTimeSeconds (client default: 2 × UpdatePollIntervalSeconds). */
  expirationSeconds: number;
}

/**
 * The refresh time handed to an application that sets a map (D-Bus SetUpdateControlMap's return value): half the
 * expiration, so a map not refreshed within twice its refresh time expires (seed 000; updatemanager.go).
 */
export function refreshSeconds(expirationSeconds: number): number {
  return Math.floor(expirationSeconds / 2);
}

export function isExpired(pooled: PooledControlMap, now: number): boolean {
  return now - pooled.stampedAt >= pooled.expirationSeconds * 1000;
}

/**
 * A local map set by a device application: replaces the map with the same id and priority; a map with no
 * non-default states deletes that id and priority instead (updatemanager.go SetUpdateControlMap callback).
 */
export function setLocalMap(
  pool: readonly PooledControlMap[],
  map: ControlMap,
  now: number,
  expirationSeconds: number,
): PooledControlMap[] {
  const kept = pool.filter((p) => p.map.id !== map.id || p.map.priority !== map.priority);
  if (Object.keys(map.states).length === 0) return kept;
  return [...kept, { map, stampedAt: now, expirationSeconds }];
}

/**
 * The server's map for a deployment (from /next or a refresh): replaces every map with that id whatever its
 * priority; no map removes them; a map whose id is another deployment's is refused (mender.go HandleControlMap).
 */
export function setServerMap(
  pool: readonly PooledControlMap[],
  deploymentId: string,
  map: ControlMap | undefined,
  now: number,
  expirationSeconds: number,
): PooledControlMap[] {
  if (map && map.id !== deploymentId) {
    throw new Invalid(`Mismatched control map ID: ${map.id} and deployment ID: ${deploymentId}`);
  }
  const kept = pool.filter((p) => p.map.id !== deploymentId);
  return map ? [...kept, { map, stampedAt: now, expirationSeconds }] : kept;
}

/** Drops expired maps, which the client does when it goes idle between deployments. */
export function clearExpired(pool: readonly PooledControlMap[], now: number): PooledControlMap[] {
  return pool.filter((p) => !isExpired(p, now));
}

/**
 * Merges the actions of maps of equal priority (updatemanager.go queryActionList): fail beats pause beats
 * force_continue, which resolves to continue; plain continue defers to lower priorities (undefined here).
 */
export function mergeEqualPriority(actions: readonly string[]): 'fail' | 'pause' | 'continue' | undefined {
  if (actions.includes('fail')) return 'fail';
  if (actions.includes('pause')) return 'pause';
  if (actions.includes('force_continue')) return 'continue';
  return undefined;
}

export interface ControlMapDecision {
  action: 'continue' | 'pause' | 'fail';
  /** The pool after the query: every map consulted has its action at this state replaced by on_action_executed. */
  pool: PooledControlMap[];
}

/**
 * The action at a state (updatemanager.go QueryAndUpdate): priorities from highest to lowest; at each, the maps that
 * have the state give their action (on_map_expire once expired) and are upgraded to on_action_executed; the first
 * priority whose merge is decisive wins; lower priorities are neither consulted nor upgraded; none → continue.
 * Note the client queries ArtifactReboot_Enter twice when it resolves to pause (state.go
 * updateRebootPauseRequestedState), so on_action_executed is applied twice there.
 */
export function queryControlMaps(
  pool: readonly PooledControlMap[],
  state: ControlMapState,
  now: number,
): ControlMapDecision {
  const next = pool.map((p) => ({ ...p, map: { ...p.map, states: { ...p.map.states } } }));
  const priorities = [...new Set(next.map((p) => p.map.priority))].sort((a, b) => b - a);
  for (const priority of priorities) {
    const actions: string[] = [];
    for (const pooled of next) {
      const rule = pooled.map.states[state];
      if (pooled.map.priority !== priority || rule === undefined) continue;
      actions.push(isExpired(pooled, now) ? rule.on_map_expire : rule.action);
      pooled.map.states[state] = { ...rule, action: rule.on_action_executed };
    }
    const action = mergeEqualPriority(actions);
    if (action) return { action, pool: next };
  }
  return { action: 'continue', pool: next };
}

/** The status a device reports when a map pauses it before a state (state.go controlMapState.pauseName). */
export function pauseStatusFor(state: ControlMapState): PauseStatus {
  switch (state) {
    case 'ArtifactInstall_Enter':
      return 'pause_before_installing';
    case 'ArtifactReboot_Enter':
      return 'pause_before_rebooting';
    case 'ArtifactCommit_Enter':
      return 'pause_before_committing';
  }
}
