// Inventory rules (Mender's inventory service): what devices and operators may write, static groups, tags
// with their ETag, device search by filter terms, saved filters (dynamic groups) and statistics.
import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { CoreDeps } from '../core.js';
import { Conflict, DomainError, Invalid, NotFound } from '../errors.js';
import { now } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import { type SavedFilter, SavedFilterStore } from './filters-store.js';
import {
  type FilterPredicate,
  queryTermOf,
  SCOPES,
  type SortCriterion,
  sortOf,
  type Term,
  termOf,
  termsOf,
} from './predicates.js';
import { attributeListOf, checkGroupName, checkStorable, deviceIdListOf } from './rules.js';
import { DeviceSearch, isDeviceColumn, type SearchQuery } from './search.js';
import { type Attribute, AttributeStore, InventoryStore, type StoredAttribute } from './store.js';
import type { AttributeScope } from './tables.js';

/** 412: the If-Match ETag is not the device's current tags ETag. */
export class PreconditionFailed extends DomainError {
  constructor(message = 'ETag does not match') {
    super(message, 412);
  }
}

export interface AttributeView {
  name: string;
  value: Attribute['value'];
  scope: string;
  description?: string;
  /** Only on tags: when the tag was last written. */
  timestamp?: string;
}

/** A device as Mender's inventory shows it. */
export interface DeviceView {
  id: string;
  attributes: AttributeView[];
  /** When the device (or an operator, for tags) last wrote its inventory; absent before the first write. */
  updated_ts?: string;
}

export interface Page {
  page: number;
  perPage: number;
}

export interface DevicePage {
  devices: DeviceView[];
  total: number;
}

/** v1 device list query: attribute filters from the query string, sort, group. */
export interface DeviceListQuery {
  filters: { param: string; value: string }[];
  sort: SortCriterion[];
  hasGroup?: boolean;
  group?: string;
}

/** Mender considers at most this many devices and returns at most this many attributes (filters/attributes). */
const ATTRIBUTE_SAMPLE = 5000;
const ATTRIBUTE_LIMIT = 500;

export class InventoryService {
  constructor(private readonly deps: CoreDeps) {}

  attributes(tenantId: string, trx?: Transaction<Tables>): AttributeStore {
    return new AttributeStore(trx ?? this.deps.store.db, tenantId);
  }

  private inventory(tenantId: string, trx?: Transaction<Tables>): InventoryStore {
    return new InventoryStore(trx ?? this.deps.store.db, tenantId);
  }

  private search(tenantId: string): DeviceSearch {
    return new DeviceSearch(this.deps.store.db, this.deps.store.dialect, tenantId);
  }

  private filters(tenantId: string): SavedFilterStore {
    return new SavedFilterStore(this.deps.store.db, tenantId);
  }

  /** Writes attributes of one scope for a device, inside `trx` when given. */
  async setAttributes(
    tenantId: string,
    deviceId: string,
    scope: AttributeScope,
    attributes: Omit<Attribute, 'scope'>[],
    mode: 'merge' | 'replace',
    trx?: Transaction<Tables>,
  ): Promise<void> {
    checkStorable(attributes);
    const ts = now();
    if (trx) return this.attributes(tenantId, trx).write(deviceId, scope, attributes, mode, ts);
    await this.deps.store.transaction((t) => this.attributes(tenantId, t).write(deviceId, scope, attributes, mode, ts));
  }

  /**
   * A device reports its inventory: `merge` (PATCH) upserts the given attributes, `replace` (PUT) makes them
   * the whole `inventory` scope. Either way the device's `system/updated_ts` moves.
   */
  async reportInventory(
    tenantId: string,
    deviceId: string,
    body: unknown,
    mode: 'merge' | 'replace',
    trx?: Transaction<Tables>,
  ): Promise<void> {
    const attributes = attributeListOf(body);
    const ts = now();
    const work = async (t: Transaction<Tables>) => {
      const store = this.attributes(tenantId, t);
      await store.write(deviceId, 'inventory', attributes, mode, ts);
      await store.write(deviceId, 'system', [{ name: 'updated_ts', value: ts }], 'merge', ts);
    };
    if (trx) await work(trx);
    else await this.deps.store.transaction(work);
  }

  /** One device with all its attributes, and its tags ETag (if tags were ever written). */
  async device(tenantId: string, deviceId: string): Promise<{ device: DeviceView; etag?: string }> {
    const store = this.inventory(tenantId);
    const row = await store.device(deviceId);
    if (!row) throw new NotFound('device not found');
    const [device] = await this.views(tenantId, [row]);
    return { device, etag: await store.tagsEtag(deviceId) };
  }

  /** Removes the device's `inventory` scope (not the device). Unknown devices are not an error, as in Mender. */
  async clearInventory(tenantId: string, deviceId: string): Promise<void> {
    if (!(await this.inventory(tenantId).device(deviceId))) return;
    await this.setAttributes(tenantId, deviceId, 'inventory', [], 'replace');
  }

  /**
   * An operator writes tags: PATCH merges, PUT replaces the scope. `ifMatch` (If-Match) must equal the
   * current tags ETag; every write makes a new one. As in Mender, a PATCH also moves `system/updated_ts`.
   */
  async setTags(
    tenantId: string,
    deviceId: string,
    body: unknown,
    mode: 'merge' | 'replace',
    ifMatch?: string,
  ): Promise<void> {
    const tags = attributeListOf(body);
    const ts = now();
    await this.deps.store.transaction(async (trx) => {
      const inventory = this.inventory(tenantId, trx);
      if (!(await inventory.device(deviceId))) throw new NotFound('device not found');
      if (!(await inventory.replaceTagsEtag(deviceId, randomUUID(), ifMatch || undefined))) {
        throw new PreconditionFailed();
      }
      const store = this.attributes(tenantId, trx);
      await store.write(deviceId, 'tags', tags, mode, ts);
      if (mode === 'merge') await store.write(deviceId, 'system', [{ name: 'updated_ts', value: ts }], 'merge', ts);
    });
  }

  /**
   * v1 device list: query-string attribute filters, sort, group membership. `within`: the groups a caller whose
   * role is scoped to device groups may see (src/auth/permissions.ts); devices outside them are not listed.
   */
  async listDevices(tenantId: string, query: DeviceListQuery, page: Page, within?: string[]): Promise<DevicePage> {
    const terms = query.filters.map((f) => queryTermOf(f.param, f.value));
    if (within) terms.push(groupIn(within));
    if (query.group !== undefined && query.group !== '') terms.push(groupIs(query.group));
    if (query.hasGroup !== undefined) {
      terms.push({ scope: 'system', name: 'group', condition: { kind: 'exists', exists: query.hasGroup } });
    }
    return this.find(tenantId, { terms, sort: query.sort, ...offsetOf(page) });
  }

  /** v2 search: `filters`, `sort`, `attributes`, `device_ids`, `text`, `page`, `per_page` from the body; `within` as in listDevices. */
  async searchDevices(tenantId: string, body: unknown, within?: string[]): Promise<{ result: DevicePage; page: Page }> {
    if (body !== undefined && body !== null && (typeof body !== 'object' || Array.isArray(body))) {
      throw new Invalid('failed to decode request body: expected an object');
    }
    const params = (body ?? {}) as Record<string, unknown>;
    const page = searchPageOf(params.page, params.per_page);
    const terms = termsOf(params.filters);
    if (within) terms.push(groupIn(within));
    const sort = sortOf(params.sort);
    const select = selectionOf(params.attributes);
    const deviceIds = params.device_ids;
    if (deviceIds !== undefined && deviceIds !== null) {
      if (!Array.isArray(deviceIds) || !deviceIds.every((id) => typeof id === 'string')) {
        throw new Invalid('device_ids must be a list of strings');
      }
    }
    if (params.text !== undefined && params.text !== null && typeof params.text !== 'string') {
      throw new Invalid('text must be a string');
    }
    const result = await this.find(
      tenantId,
      {
        terms,
        sort,
        deviceIds: (deviceIds as string[] | undefined) ?? undefined,
        text: (params.text as string | undefined) ?? undefined,
        ...offsetOf(page),
      },
      select,
    );
    return { result, page };
  }

  /**
   * v2alpha1: devices whose `identity` attribute `name` (or the device id, as identity `id`), or whose tag
   * `name`, starts with `value_prefix`.
   */
  async searchByIdentity(tenantId: string, body: unknown): Promise<{ result: DevicePage; page: Page }> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new Invalid('failed to decode request body: expected an object');
    }
    const params = body as Record<string, unknown>;
    if (params.scope !== 'identity' && params.scope !== 'tags')
      throw new Invalid('scope: must be one of identity, tags.');
    if (typeof params.name !== 'string' || !params.name) throw new Invalid('name: cannot be blank.');
    if (params.scope === 'tags' && params.name !== 'name')
      throw new Invalid('name: only the tag "name" can be searched');
    if (typeof params.value_prefix !== 'string') throw new Invalid('value_prefix: is required.');
    const page = searchPageOf(params.page, params.per_page);
    const term: Term = {
      scope: params.scope,
      name: params.name,
      condition: { kind: 'prefix', prefix: params.value_prefix },
    };
    const result = await this.find(
      tenantId,
      { terms: [term], sort: [], ...offsetOf(page) },
      selectionOf(params.attributes),
    );
    return { result, page };
  }

  private async find(
    tenantId: string,
    query: SearchQuery,
    select?: { scope: string; name: string }[],
  ): Promise<DevicePage> {
    const { devices, total } = await this.search(tenantId).run(query);
    return { devices: await this.views(tenantId, devices, select), total };
  }

  /** Builds Mender's device shape: stored attributes plus the device columns (identity status, created time). */
  private async views(
    tenantId: string,
    rows: { id: string; status: string; created_ts: string }[],
    select?: { scope: string; name: string }[],
  ): Promise<DeviceView[]> {
    // Mender always projects system/updated_ts along with the selected attributes.
    const selected = select && [...select, { scope: 'system', name: 'updated_ts' }];
    const stored = await this.attributes(tenantId).read(
      rows.map((r) => r.id),
      undefined,
      selected?.filter((s) => !isDeviceColumn(s.scope, s.name)),
    );
    const wanted = (scope: string, name: string) =>
      !selected || selected.some((s) => s.scope === scope && s.name === name);
    return rows.map((row) => {
      const attributes: AttributeView[] = [];
      let updated: string | undefined;
      for (const a of stored.get(row.id) ?? []) {
        if (isDeviceColumn(a.scope, a.name)) continue;
        if (a.scope === 'system' && a.name === 'updated_ts') updated = String(a.value);
        attributes.push(viewOf(a));
      }
      if (wanted('identity', 'status')) attributes.push({ name: 'status', value: row.status, scope: 'identity' });
      if (wanted('system', 'created_ts'))
        attributes.push({ name: 'created_ts', value: row.created_ts, scope: 'system' });
      attributes.sort((a, b) => compare(a.scope, b.scope) || compare(a.name, b.name));
      return { id: row.id, attributes, ...(updated ? { updated_ts: updated } : {}) };
    });
  }

  async deviceGroup(tenantId: string, deviceId: string): Promise<string | null> {
    const store = this.inventory(tenantId);
    if (!(await store.device(deviceId))) throw new NotFound('device not found');
    return (await store.groupOf(deviceId)) ?? null;
  }

  /** Puts one device in a group (moving it from any other). */
  async setDeviceGroup(tenantId: string, deviceId: string, body: unknown): Promise<void> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new Invalid('failed to decode device group data');
    }
    const group = checkGroupName((body as { group?: unknown }).group);
    await this.deps.store.transaction(async (trx) => {
      const store = this.inventory(tenantId, trx);
      if (!(await store.device(deviceId))) throw new NotFound('device not found');
      await store.setGroup([deviceId], group, now());
    });
  }

  /** Takes one device out of the named group; 404 when the device is not in it. */
  async removeDeviceFromGroup(tenantId: string, deviceId: string, group: string): Promise<void> {
    const removed = await this.inventory(tenantId).clearGroup(group, [deviceId]);
    if (removed === 0) throw new NotFound('device not found');
  }

  async groups(tenantId: string, status?: string): Promise<string[]> {
    return this.inventory(tenantId).groups(status || undefined);
  }

  /** Empties a group; 404 when no device is in it (a group exists only through its devices). */
  async deleteGroup(tenantId: string, group: string): Promise<number> {
    checkGroupName(group, true);
    const removed = await this.inventory(tenantId).clearGroup(group);
    if (removed === 0) throw new NotFound('group not found');
    return removed;
  }

  /** Ids of the devices in a group, one page; 404 when the group has no device. */
  async groupDevices(tenantId: string, group: string, page: Page): Promise<{ ids: string[]; total: number }> {
    const { devices, total } = await this.search(tenantId).run({
      terms: [groupIs(group)],
      sort: [],
      ...offsetOf(page),
    });
    if (total === 0) throw new NotFound('group not found');
    return { ids: devices.map((d) => d.id), total };
  }

  /** Adds devices to a group: how many ids are devices (matched), and how many changed group (updated). */
  async addToGroup(tenantId: string, group: string, body: unknown): Promise<{ matched: number; updated: number }> {
    checkGroupName(group);
    const ids = deviceIdListOf(body);
    return this.deps.store.transaction(async (trx) => {
      const store = this.inventory(tenantId, trx);
      const matched = await store.existing(ids);
      const current = await store.groupsOf(matched);
      const moving = matched.filter((id) => current.get(id) !== group);
      if (moving.length) await store.setGroup(moving, group, now());
      return { matched: matched.length, updated: moving.length };
    });
  }

  /** Removes the listed devices from a group; returns how many were in it. */
  async removeFromGroup(tenantId: string, group: string, body: unknown): Promise<number> {
    checkGroupName(group, true);
    return this.inventory(tenantId).clearGroup(group, deviceIdListOf(body));
  }

  /**
   * Attributes worth filtering on: how many of (a sample of) the devices have each, most common first, then
   * by scope and name.
   */
  async filterAttributes(tenantId: string): Promise<{ name: string; scope: string; count: number }[]> {
    const { sampled, counts } = await this.inventory(tenantId).attributeCounts(ATTRIBUTE_SAMPLE);
    const list = counts.filter((c) => !isDeviceColumn(c.scope, c.name));
    if (sampled > 0) {
      list.push(
        { name: 'status', scope: 'identity', count: sampled },
        { name: 'created_ts', scope: 'system', count: sampled },
      );
    }
    list.sort((a, b) => b.count - a.count || compare(a.scope, b.scope) || compare(a.name, b.name));
    return list.slice(0, ATTRIBUTE_LIMIT);
  }

  async statistics(tenantId: string) {
    const tiers = () => ({ standard: 0, micro: 0, system: 0 });
    const byStatus = { accepted: tiers(), pending: tiers() };
    for (const row of await this.inventory(tenantId).countsByStatusAndTier()) {
      const dest = row.status === 'accepted' ? byStatus.accepted : byStatus.pending;
      if (row.tier === 'standard' || row.tier === 'micro' || row.tier === 'system') dest[row.tier] += row.devices;
    }
    return { devices_by_status: byStatus };
  }

  /** Saves a filter (`{name, terms}`); 409 when the name is taken. */
  async createFilter(tenantId: string, body: unknown): Promise<SavedFilter> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new Invalid('failed to decode request body: expected an object');
    }
    const { name, terms } = body as { name?: unknown; terms?: unknown };
    if (typeof name !== 'string' || !name) throw new Invalid('name: cannot be blank.');
    if (!Array.isArray(terms) || terms.length === 0) throw new Invalid('at least one filter term must be provided');
    const predicates: FilterPredicate[] = terms.map((raw) => {
      termOf(raw);
      const p = raw as FilterPredicate;
      return { scope: p.scope, attribute: p.attribute, type: p.type, value: p.value };
    });
    const filter = { id: randomUUID(), name, terms: predicates };
    if (!(await this.filters(tenantId).insert(filter, now()))) {
      throw new Conflict('a filter with the same name already exists');
    }
    return filter;
  }

  async filter(tenantId: string, id: string): Promise<SavedFilter> {
    const filter = await this.filters(tenantId).get(id);
    if (!filter) throw new NotFound('filter not found');
    return filter;
  }

  async listFilters(tenantId: string, page: Page): Promise<{ filters: SavedFilter[]; total: number }> {
    const { offset, limit } = offsetOf(page);
    return this.filters(tenantId).list(offset, limit);
  }

  async deleteFilter(tenantId: string, id: string): Promise<void> {
    if (!(await this.filters(tenantId).remove(id))) throw new NotFound('filter not found');
  }

  /** The devices a saved filter selects now (a dynamic group), one page. */
  async searchByFilter(tenantId: string, id: string, page: Page): Promise<DevicePage> {
    const filter = await this.filter(tenantId, id);
    return this.find(tenantId, { terms: filter.terms.map(termOf), sort: [], ...offsetOf(page) });
  }
}

function groupIs(group: string): Term {
  return { scope: 'system', name: 'group', condition: { kind: 'eq', negate: false, value: group } };
}

function groupIn(groups: string[]): Term {
  return { scope: 'system', name: 'group', condition: { kind: 'in', negate: false, values: groups } };
}

function offsetOf(page: Page): { offset: number; limit: number } {
  return { offset: (page.page - 1) * page.perPage, limit: page.perPage };
}

/** Paging in a v2 body: values below 1 fall back to the defaults (page 1, 20 per page); more than 500 is a 400. */
function searchPageOf(page: unknown, perPage: unknown): Page {
  for (const [key, v] of [
    ['page', page],
    ['per_page', perPage],
  ] as const) {
    if (v !== undefined && v !== null && !Number.isInteger(v)) throw new Invalid(`${key} must be an integer`);
  }
  const p = typeof page === 'number' && page >= 1 ? page : 1;
  const pp = typeof perPage === 'number' && perPage >= 1 ? perPage : 20;
  if (pp > 500) throw new Invalid('per_page: must be no greater than 500.');
  return { page: p, perPage: pp };
}

/** The `attributes` selection of a search body: `[{scope, attribute}]`, undefined when absent or empty. */
function selectionOf(raw: unknown): { scope: string; name: string }[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw new Invalid('attributes must be a list');
  if (raw.length === 0) return undefined;
  return raw.map((s) => {
    const a = (s ?? {}) as { scope?: unknown; attribute?: unknown };
    if (typeof a.scope !== 'string' || !(SCOPES as readonly string[]).includes(a.scope)) {
      throw new Invalid(`scope: must be one of ${SCOPES.join(', ')}.`);
    }
    if (typeof a.attribute !== 'string' || !a.attribute) throw new Invalid('attribute: cannot be blank.');
    return { scope: a.scope, name: a.attribute };
  });
}

function viewOf(a: StoredAttribute): AttributeView {
  return {
    name: a.name,
    value: a.value,
    scope: a.scope,
    ...(a.description ? { description: a.description } : {}),
    ...(a.scope === 'tags' ? { timestamp: a.updated_ts } : {}),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
