// Kanto desired states as artifacts. An operator's desired state (baselines, domains, components with versions and
// config; ../shared/specs/kanto/desired-state-specification.md) is validated here and stored as an ordinary
// module-image artifact: update type `kanto-desired-state`, no payload files, the desired state as the update's
// meta-data. Deployments, groups, phases and rollout control then work on it unchanged.
import { Invalid } from '../errors.js';
import type { ArtifactService, ArtifactView } from './service.js';
import type { ArtifactTable } from './tables.js';
import { writeModuleArtifact } from './writer.js';

export const DESIRED_STATE_TYPE = 'kanto-desired-state';

export interface KeyValue {
  key: string;
  value: string;
}
export interface DesiredComponent {
  id: string;
  version: string;
  config?: KeyValue[];
}
export interface DesiredDomain {
  id: string;
  config?: KeyValue[];
  components: DesiredComponent[];
}
export interface Baseline {
  title: string;
  description?: string;
  preconditions?: string;
  components: string[];
}
export interface DesiredState {
  baselines?: Baseline[];
  domains: DesiredDomain[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function only(value: Json, allowed: string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      const hint = key === 'precondition' ? ' (did you mean "preconditions"?)' : '';
      throw new Invalid(`${where}: unknown field ${JSON.stringify(key)}${hint}`);
    }
  }
}

function text(value: unknown, where: string, required = true): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string') throw new Invalid(`${where}: must be a string`);
  if (required && value.trim() === '') throw new Invalid(`${where}: cannot be blank`);
  return value;
}

function keyValues(value: unknown, where: string): KeyValue[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new Invalid(`${where}: must be a list of {key, value}`);
  const seen = new Set<string>();
  return value.map((entry, i) => {
    const at = `${where}[${i}]`;
    if (!isObject(entry)) throw new Invalid(`${at}: must be an object with key and value`);
    only(entry, ['key', 'value'], at);
    const key = text(entry.key, `${at}.key`) as string;
    // Values are strings on the wire (Go's KeyValuePair); a number here would make the device answer 400.
    const val = text(entry.value, `${at}.value`, false);
    if (val === undefined) throw new Invalid(`${at}.value: must be a string`);
    if (seen.has(key)) throw new Invalid(`${at}.key: ${JSON.stringify(key)} appears twice`);
    seen.add(key);
    return { key, value: val };
  });
}

/** Validates a desired state as the update manager reads it, stricter about typos; returns a clean copy. */
export function parseDesiredState(value: unknown): DesiredState {
  if (!isObject(value)) throw new Invalid('desired_state: must be a JSON object');
  only(value, ['baselines', 'domains'], 'desired_state');
  if (!Array.isArray(value.domains) || value.domains.length === 0) {
    throw new Invalid('desired_state.domains: must be a non-empty list');
  }
  const domainIds = new Set<string>();
  const componentIds = new Set<string>();
  const domains = value.domains.map((d, i): DesiredDomain => {
    const at = `desired_state.domains[${i}]`;
    if (!isObject(d)) throw new Invalid(`${at}: must be an object`);
    only(d, ['id', 'config', 'components'], at);
    const id = text(d.id, `${at}.id`) as string;
    if (id.includes(':')) throw new Invalid(`${at}.id: must not contain ":"`);
    if (domainIds.has(id)) throw new Invalid(`${at}.id: domain ${JSON.stringify(id)} appears twice`);
    domainIds.add(id);
    const list = d.components ?? [];
    if (!Array.isArray(list)) throw new Invalid(`${at}.components: must be a list`);
    const components = list.map((c, j): DesiredComponent => {
      const cat = `${at}.components[${j}]`;
      if (!isObject(c)) throw new Invalid(`${cat}: must be an object`);
      only(c, ['id', 'version', 'config'], cat);
      const cid = text(c.id, `${cat}.id`) as string;
      const version = text(c.version, `${cat}.version`) as string;
      const full = `${id}:${cid}`;
      if (componentIds.has(full)) throw new Invalid(`${cat}.id: component ${JSON.stringify(full)} appears twice`);
      componentIds.add(full);
      const config = keyValues(c.config, `${cat}.config`);
      return { id: cid, version, ...(config ? { config } : {}) };
    });
    const config = keyValues(d.config, `${at}.config`);
    return { id, ...(config ? { config } : {}), components };
  });
  let baselines: Baseline[] | undefined;
  if (value.baselines !== undefined) {
    if (!Array.isArray(value.baselines)) throw new Invalid('desired_state.baselines: must be a list');
    const titles = new Set<string>();
    baselines = value.baselines.map((b, i): Baseline => {
      const at = `desired_state.baselines[${i}]`;
      if (!isObject(b)) throw new Invalid(`${at}: must be an object`);
      only(b, ['title', 'description', 'preconditions', 'components'], at);
      const title = text(b.title, `${at}.title`) as string;
      if (titles.has(title)) throw new Invalid(`${at}.title: baseline ${JSON.stringify(title)} appears twice`);
      titles.add(title);
      if (!Array.isArray(b.components)) throw new Invalid(`${at}.components: must be a list`);
      const components = b.components.map((c, j) => {
        const ref = text(c, `${at}.components[${j}]`) as string;
        // Baselines name components as "<domain>:<component id>"; one that names nothing is a typo.
        if (!componentIds.has(ref)) {
          throw new Invalid(`${at}.components[${j}]: ${JSON.stringify(ref)} is not a "<domain>:<id>" of this state`);
        }
        return ref;
      });
      const description = text(b.description, `${at}.description`, false);
      const preconditions = text(b.preconditions, `${at}.preconditions`, false);
      return {
        title,
        ...(description !== undefined ? { description } : {}),
        ...(preconditions !== undefined ? { preconditions } : {}),
        components,
      };
    });
  }
  return { ...(baselines ? { baselines } : {}), domains };
}

/** A new desired state as it arrives (a JSON object whose fields parseNewDesiredState checks). */
export interface NewDesiredState {
  name?: unknown;
  version?: unknown;
  description?: unknown;
  device_types_compatible?: unknown;
  desired_state?: unknown;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

/** The artifact name of a desired state's version: what deployments name and devices report as installed. */
export function desiredStateArtifactName(name: string, version: string): string {
  return `${name}-${version}`;
}

/** Validates the operator's request; returns what the artifact is made of. */
export function parseNewDesiredState(body: NewDesiredState) {
  const name = text(body.name, 'name') as string;
  const version = text(body.version, 'version') as string;
  if (!NAME.test(name)) throw new Invalid('name: letters, digits and . _ + - only (at most 128)');
  if (!NAME.test(version)) throw new Invalid('version: letters, digits and . _ + - only (at most 128)');
  const description = text(body.description, 'description', false) ?? '';
  const types = body.device_types_compatible;
  if (!Array.isArray(types) || types.length === 0 || !types.every((t) => typeof t === 'string' && t.trim())) {
    throw new Invalid('device_types_compatible: must be a non-empty list of device types');
  }
  return {
    name,
    version,
    description,
    deviceTypes: [...new Set(types as string[])],
    desiredState: parseDesiredState(body.desired_state),
  };
}

/** Writes the desired state as a module-image artifact and stores it like an upload. */
export async function createDesiredStateArtifact(
  artifacts: ArtifactService,
  tenantId: string,
  body: NewDesiredState,
  workDir: string,
): Promise<ArtifactView> {
  const input = parseNewDesiredState(body);
  const stream = await writeModuleArtifact({
    name: desiredStateArtifactName(input.name, input.version),
    deviceTypes: input.deviceTypes,
    type: DESIRED_STATE_TYPE,
    files: [],
    metaData: input.desiredState as unknown as Record<string, unknown>,
    provides: { 'kanto.desired_state.name': input.name, 'kanto.desired_state.version': input.version },
    workDir,
  });
  return artifacts.upload(tenantId, stream, input.description);
}

/** The desired state an artifact carries, or undefined when it is not a desired-state artifact. */
export function desiredStateOf(row: Pick<ArtifactTable, 'updates_json'>): DesiredState | undefined {
  const updates = JSON.parse(row.updates_json) as { type_info?: { type?: string }; meta_data?: unknown }[];
  const update = updates.length === 1 ? updates[0] : undefined;
  if (update?.type_info?.type !== DESIRED_STATE_TYPE) return undefined;
  try {
    // Stored as Mender shows it: the header's meta-data object in a one-element list.
    const meta = Array.isArray(update.meta_data) ? update.meta_data[0] : update.meta_data;
    return parseDesiredState(meta);
  } catch {
    return undefined;
  }
}
