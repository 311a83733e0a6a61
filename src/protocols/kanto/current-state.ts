// A Kanto device's current state (software and hardware nodes) as inventory attributes, pure. Each node becomes
// `kanto.sw.<id>` / `kanto.hw.<id>` = its version, and one attribute per parameter (`kanto.sw.<id>.<key>`), so
// that filters and dynamic groups can ask e.g. which devices run `containers:influxdb` 2.7.1.
import type { CurrentState, InventoryNode } from './ditto.js';

export interface InventoryAttribute {
  name: string;
  value: string | string[];
}

/** Parameters that change on every restart and would only churn the inventory. */
const VOLATILE = new Set(['created', 'finishedAt', 'startedAt']);

function nodeAttributes(prefix: string, node: InventoryNode): InventoryAttribute[] {
  const base = `${prefix}.${node.id}`;
  const out: InventoryAttribute[] = [{ name: base, value: node.version ?? '' }];
  if (node.name) out.push({ name: `${base}.name`, value: node.name });
  if (node.type) out.push({ name: `${base}.type`, value: node.type });
  for (const p of node.parameters ?? []) {
    if (!VOLATILE.has(p.key)) out.push({ name: `${base}.${p.key}`, value: p.value });
  }
  return out;
}

/** The whole `inventory` scope of a Kanto device: its identity facts plus the current state's nodes. */
export function inventoryOf(
  state: CurrentState | undefined,
  device: { thingId: string; deviceType: string; artifactName: string | null; domain?: string },
): InventoryAttribute[] {
  const attributes: InventoryAttribute[] = [
    { name: 'device_type', value: device.deviceType },
    { name: 'kanto.thing_id', value: device.thingId },
  ];
  if (device.artifactName) attributes.push({ name: 'artifact_name', value: device.artifactName });
  if (device.domain) attributes.push({ name: 'kanto.domain', value: device.domain });
  if (!state) return attributes;
  for (const node of state.softwareNodes) attributes.push(...nodeAttributes('kanto.sw', node));
  for (const node of state.hardwareNodes) attributes.push(...nodeAttributes('kanto.hw', node));
  attributes.push({
    name: 'kanto.components',
    value: state.softwareNodes.filter((n) => n.type === 'CONTAINER' || n.id.includes(':')).map((n) => n.id),
  });
  return attributes;
}
