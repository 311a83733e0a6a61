// SQL for saved inventory filters (Mender Enterprise's dynamic groups), bound to one tenant.
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from '../store/schema.js';
import type { FilterPredicate } from './predicates.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface SavedFilter {
  id: string;
  name: string;
  terms: FilterPredicate[];
}

export class SavedFilterStore {
  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
  ) {}

  /** Inserts the filter; false when the tenant already has a filter of that name. */
  async insert(filter: SavedFilter, createdTs: string): Promise<boolean> {
    const result = await this.db
      .insertInto('inventory_filters')
      .values({
        tenant_id: this.tenantId,
        id: filter.id,
        name: filter.name,
        terms_json: JSON.stringify(filter.terms),
        created_ts: createdTs,
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async get(id: string): Promise<SavedFilter | undefined> {
    const row = await this.db
      .selectFrom('inventory_filters')
      .select(['id', 'name', 'terms_json'])
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && { id: row.id, name: row.name, terms: JSON.parse(row.terms_json) };
  }

  /** A page of filters by name, and how many there are. */
  async list(offset: number, limit: number): Promise<{ filters: SavedFilter[]; total: number }> {
    const count = await this.db
      .selectFrom('inventory_filters')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', this.tenantId)
      .executeTakeFirstOrThrow();
    const rows = await this.db
      .selectFrom('inventory_filters')
      .select(['id', 'name', 'terms_json'])
      .where('tenant_id', '=', this.tenantId)
      .orderBy('name')
      .orderBy('id')
      .limit(limit)
      .offset(offset)
      .execute();
    return {
      filters: rows.map((r) => ({ id: r.id, name: r.name, terms: JSON.parse(r.terms_json) })),
      total: Number(count.n),
    };
  }

  async remove(id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('inventory_filters')
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numDeletedRows) === 1;
  }
}
