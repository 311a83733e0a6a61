// SQL for inventory attributes: values, the static group (a `system` attribute), the tags ETag, statistics.
// Every query is bound to one tenant at construction.
import { type Kysely, sql, type Transaction } from 'kysely';
import { dialectOf } from '../store/migration.js';
import type { Tables } from '../store/schema.js';
import type { AttributeScope } from './tables.js';

/** Booleans only in server-written scopes (`monitor`); devices and operators write strings and numbers. */
export type AttributeValue = string | number | boolean | string[] | number[];

export interface Attribute {
  name: string;
  value: AttributeValue;
  scope: AttributeScope;
  description?: string;
}

export interface StoredAttribute extends Attribute {
  updated_ts: string;
}

type Db = Kysely<Tables> | Transaction<Tables>;

export class AttributeStore {
  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
  ) {}

  /**
   * Writes of one device's attributes queue up (PostgreSQL): a write deletes the rows it replaces and inserts the
   * new ones, and two at once both deleted, then both inserted, and the second failed on the primary key (a 500).
   * A transaction-scoped advisory lock per device, taken again harmlessly by later writes of the same transaction;
   * SQLite runs one write transaction at a time.
   */
  private async lockDevice(deviceId: string): Promise<void> {
    if (dialectOf(this.db as unknown as Kysely<unknown>) !== 'postgres') return;
    await sql`select pg_advisory_xact_lock(hashtextextended(${`attributes:${this.tenantId}:${deviceId}`}, 0))`.execute(
      this.db,
    );
  }

  /**
   * Writes attributes of one scope. `merge` replaces the named attributes and keeps the others;
   * `replace` makes the given list the whole scope. Run inside a transaction.
   */
  async write(
    deviceId: string,
    scope: AttributeScope,
    attributes: Omit<Attribute, 'scope'>[],
    mode: 'merge' | 'replace',
    updatedTs: string,
  ): Promise<void> {
    await this.lockDevice(deviceId);
    let remove = this.db
      .deleteFrom('attributes')
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .where('scope', '=', scope);
    if (mode === 'merge') {
      if (attributes.length === 0) return;
      remove = remove.where(
        'name',
        'in',
        attributes.map((a) => a.name),
      );
    }
    await remove.execute();
    const rows = attributes.flatMap((a) => {
      const values = Array.isArray(a.value) ? a.value : [a.value];
      return values.map((v, idx) => ({
        tenant_id: this.tenantId,
        device_id: deviceId,
        scope,
        name: a.name,
        idx,
        value_str: typeof v === 'string' ? v : null,
        value_num: typeof v === 'number' ? v : null,
        value_bool: typeof v === 'boolean' ? (v ? 1 : 0) : null,
        is_array: Array.isArray(a.value) ? 1 : 0,
        description: a.description ?? null,
        updated_ts: updatedTs,
      }));
    });
    // An empty array attribute still exists: keep it as one row with no value.
    for (const a of attributes) {
      if (Array.isArray(a.value) && a.value.length === 0) {
        rows.push({
          tenant_id: this.tenantId,
          device_id: deviceId,
          scope,
          name: a.name,
          idx: 0,
          value_str: null,
          value_num: null,
          value_bool: null,
          is_array: 1,
          description: a.description ?? null,
          updated_ts: updatedTs,
        });
      }
    }
    // Batches keep each statement under SQLite's bound-parameter limit.
    for (let i = 0; i < rows.length; i += 500) {
      await this.db
        .insertInto('attributes')
        .values(rows.slice(i, i + 500))
        .execute();
    }
  }

  async removeAttribute(deviceId: string, scope: AttributeScope, name: string): Promise<number> {
    const result = await this.db
      .deleteFrom('attributes')
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .where('scope', '=', scope)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /**
   * All attributes of the given devices, grouped by device, in a stable order; only the `select`ed
   * (scope, name) pairs when given.
   */
  async read(
    deviceIds: string[],
    scopes?: AttributeScope[],
    select?: { scope: string; name: string }[],
  ): Promise<Map<string, StoredAttribute[]>> {
    const out = new Map<string, StoredAttribute[]>();
    if (deviceIds.length === 0) return out;
    for (let i = 0; i < deviceIds.length; i += 500) {
      let query = this.db
        .selectFrom('attributes')
        .selectAll()
        .where('tenant_id', '=', this.tenantId)
        .where('device_id', 'in', deviceIds.slice(i, i + 500));
      if (scopes?.length) query = query.where('scope', 'in', scopes);
      if (select) {
        if (select.length === 0) return out;
        query = query.where((eb) =>
          eb.or(select.map((s) => eb.and([eb('scope', '=', s.scope as AttributeScope), eb('name', '=', s.name)]))),
        );
      }
      const rows = await query.orderBy('device_id').orderBy('scope').orderBy('name').orderBy('idx').execute();
      let current: StoredAttribute | undefined;
      for (const row of rows) {
        const value = row.value_str ?? row.value_num ?? (row.value_bool === null ? null : row.value_bool === 1);
        const list = out.get(row.device_id) ?? [];
        if (!out.has(row.device_id)) out.set(row.device_id, list);
        if (row.idx > 0 && current && current.name === row.name && current.scope === row.scope) {
          (current.value as (string | number)[]).push(value as never);
          continue;
        }
        current = {
          name: row.name,
          scope: row.scope,
          value: row.is_array ? (value === null ? [] : ([value] as string[] | number[])) : (value as string | number),
          updated_ts: row.updated_ts,
          ...(row.description ? { description: row.description } : {}),
        };
        list.push(current);
      }
    }
    return out;
  }
}

export interface DeviceRecord {
  id: string;
  status: string;
  created_ts: string;
}

/** Device rows, group, tags ETag and counts for one tenant. */
export class InventoryStore {
  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
  ) {}

  async device(deviceId: string): Promise<DeviceRecord | undefined> {
    return this.db
      .selectFrom('devices')
      .select(['id', 'status', 'created_ts'])
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', deviceId)
      .executeTakeFirst();
  }

  /** Which of `deviceIds` are devices of this tenant. */
  async existing(deviceIds: string[]): Promise<string[]> {
    const found: string[] = [];
    for (let i = 0; i < deviceIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('devices')
        .select('id')
        .where('tenant_id', '=', this.tenantId)
        .where('id', 'in', deviceIds.slice(i, i + 500))
        .execute();
      found.push(...rows.map((r) => r.id));
    }
    return found;
  }

  async groupOf(deviceId: string): Promise<string | undefined> {
    const row = await this.groupSelect()
      .select('value_str')
      .where('device_id', '=', deviceId)
      .where('idx', '=', 0)
      .executeTakeFirst();
    return row?.value_str ?? undefined;
  }

  /** Group of each of the given devices that has one. */
  async groupsOf(deviceIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < deviceIds.length; i += 500) {
      const rows = await this.groupSelect()
        .select(['device_id', 'value_str'])
        .where('device_id', 'in', deviceIds.slice(i, i + 500))
        .execute();
      for (const r of rows) if (r.value_str !== null) out.set(r.device_id, r.value_str);
    }
    return out;
  }

  /** Puts the devices in `group` (moving them from any other). Run inside a transaction. */
  async setGroup(deviceIds: string[], group: string, updatedTs: string): Promise<void> {
    for (let i = 0; i < deviceIds.length; i += 400) {
      const batch = deviceIds.slice(i, i + 400);
      await this.db
        .deleteFrom('attributes')
        .where('tenant_id', '=', this.tenantId)
        .where('scope', '=', 'system')
        .where('name', '=', 'group')
        .where('device_id', 'in', batch)
        .execute();
      await this.db
        .insertInto('attributes')
        .values(
          batch.map((deviceId) => ({
            tenant_id: this.tenantId,
            device_id: deviceId,
            scope: 'system' as const,
            name: 'group',
            idx: 0,
            value_str: group,
            value_num: null,
            is_array: 0,
            description: null,
            updated_ts: updatedTs,
          })),
        )
        .execute();
    }
  }

  /** Takes the devices (all of them when `deviceIds` is undefined) out of `group`; returns how many left it. */
  async clearGroup(group: string, deviceIds?: string[]): Promise<number> {
    if (deviceIds === undefined) {
      const result = await this.groupRows().where('value_str', '=', group).executeTakeFirst();
      return Number(result.numDeletedRows);
    }
    let removed = 0;
    for (let i = 0; i < deviceIds.length; i += 500) {
      const result = await this.groupRows()
        .where('value_str', '=', group)
        .where('device_id', 'in', deviceIds.slice(i, i + 500))
        .executeTakeFirst();
      removed += Number(result.numDeletedRows);
    }
    return removed;
  }

  private groupSelect() {
    return this.db
      .selectFrom('attributes')
      .where('tenant_id', '=', this.tenantId)
      .where('scope', '=', 'system')
      .where('name', '=', 'group');
  }

  private groupRows() {
    return this.db
      .deleteFrom('attributes')
      .where('tenant_id', '=', this.tenantId)
      .where('scope', '=', 'system')
      .where('name', '=', 'group');
  }

  /** Group names in use, sorted; only groups holding a device of `status` when given. */
  async groups(status?: string): Promise<string[]> {
    let query = this.db
      .selectFrom('attributes as a')
      .select('a.value_str')
      .distinct()
      .where('a.tenant_id', '=', this.tenantId)
      .where('a.scope', '=', 'system')
      .where('a.name', '=', 'group')
      .where('a.value_str', 'is not', null);
    if (status) {
      query = query
        .innerJoin('devices as d', (join) =>
          join.onRef('d.id', '=', 'a.device_id').onRef('d.tenant_id', '=', 'a.tenant_id'),
        )
        .where('d.status', '=', status as never);
    }
    const rows = await query.orderBy('a.value_str').execute();
    return rows.map((r) => r.value_str as string);
  }

  async tagsEtag(deviceId: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('inventory_tags_etags')
      .select('etag')
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return row?.etag;
  }

  /**
   * Sets a new tags ETag. With `ifMatch`, only when the current one equals it (atomically, so two writers
   * with the same ETag cannot both win); returns false when it did not match.
   */
  async replaceTagsEtag(deviceId: string, etag: string, ifMatch?: string): Promise<boolean> {
    if (ifMatch !== undefined) {
      const result = await this.db
        .updateTable('inventory_tags_etags')
        .set({ etag })
        .where('tenant_id', '=', this.tenantId)
        .where('device_id', '=', deviceId)
        .where('etag', '=', ifMatch)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    }
    await this.db
      .insertInto('inventory_tags_etags')
      .values({ tenant_id: this.tenantId, device_id: deviceId, etag })
      .onConflict((oc) => oc.columns(['tenant_id', 'device_id']).doUpdateSet({ etag }))
      .execute();
    return true;
  }

  /** Accepted and pending devices by tier (the `system` attribute `tier`, standard when absent). */
  async countsByStatusAndTier(): Promise<{ status: string; tier: string; devices: number }[]> {
    const rows = await sql<{ status: string; tier: string; devices: number }>`
      select d.status as status, coalesce(t.value_str, 'standard') as tier, count(*) as devices
      from devices d left join attributes t on t.tenant_id = d.tenant_id and t.device_id = d.id
        and t.scope = 'system' and t.name = 'tier' and t.idx = 0
      where d.tenant_id = ${this.tenantId} and d.status in ('accepted', 'pending')
      group by d.status, coalesce(t.value_str, 'standard')`.execute(this.db);
    return rows.rows.map((r) => ({ ...r, devices: Number(r.devices) }));
  }

  /**
   * How many of a sample of devices carry each attribute (Mender samples 5,000 devices). Device columns
   * (identity status, system created_ts) are on every sampled device.
   */
  async attributeCounts(
    sampleSize: number,
  ): Promise<{ sampled: number; counts: { scope: string; name: string; count: number }[] }> {
    const rows = await sql<{ scope: string; name: string; count: number }>`
      with sample as (select id from devices where tenant_id = ${this.tenantId} order by created_ts, id limit ${sampleSize})
      select a.scope as scope, a.name as name, count(*) as count
      from attributes a
      where a.tenant_id = ${this.tenantId} and a.idx = 0 and a.device_id in (select id from sample)
      group by a.scope, a.name`.execute(this.db);
    const sampled = await sql<{ n: number }>`select count(*) as n from (select id from devices
      where tenant_id = ${this.tenantId} limit ${sampleSize}) s`.execute(this.db);
    return {
      sampled: Number(sampled.rows[0]?.n ?? 0),
      counts: rows.rows.map((r) => ({ scope: r.scope, name: r.name, count: Number(r.count) })),
    };
  }
}
