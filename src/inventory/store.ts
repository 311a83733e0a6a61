// SQL for inventory attributes. Every query is bound to one tenant at construction.
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from '../store/schema.js';
import type { AttributeScope } from './tables.js';

export type AttributeValue = string | number | string[] | number[];

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

  /** All attributes of the given devices, grouped by device, in a stable order. */
  async read(deviceIds: string[], scopes?: AttributeScope[]): Promise<Map<string, StoredAttribute[]>> {
    const out = new Map<string, StoredAttribute[]>();
    if (deviceIds.length === 0) return out;
    for (let i = 0; i < deviceIds.length; i += 500) {
      let query = this.db
        .selectFrom('attributes')
        .selectAll()
        .where('tenant_id', '=', this.tenantId)
        .where('device_id', 'in', deviceIds.slice(i, i + 500));
      if (scopes?.length) query = query.where('scope', 'in', scopes);
      const rows = await query.orderBy('device_id').orderBy('scope').orderBy('name').orderBy('idx').execute();
      let current: StoredAttribute | undefined;
      for (const row of rows) {
        const value = row.value_str ?? row.value_num;
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
