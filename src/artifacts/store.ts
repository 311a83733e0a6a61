// SQL for artifacts and releases, bound to one tenant at construction.
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Tables } from '../store/schema.js';
import type { ArtifactTable } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

/** A text filter: exact, prefix (`foo*` on the wire) or case-insensitive substring (the deprecated v1 lists). */
export type TextMatch = { exact: string[] } | { prefix: string } | { contains: string };

export interface ArtifactFilter {
  name?: TextMatch;
  description?: TextMatch;
  deviceType?: TextMatch;
  updateType?: string;
}

export interface Page {
  page: number;
  perPage: number;
}

export type ArtifactSort = 'name:asc' | 'name:desc' | 'modified:asc' | 'modified:desc';
export type ReleaseSort =
  | 'name:asc'
  | 'name:desc'
  | 'modified:asc'
  | 'modified:desc'
  | 'artifacts_count:asc'
  | 'artifacts_count:desc'
  | 'tags:asc'
  | 'tags:desc';

export interface ReleaseFilter {
  name?: TextMatch;
  description?: TextMatch;
  deviceType?: TextMatch;
  updateType?: string;
  /** Releases with at least one of these tags. */
  tags?: string[];
}

export interface ReleaseRow {
  name: string;
  notes: string;
  tags_json: string;
  modified: string;
  artifacts_count: number;
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A direct upload not completed this long after its link expired is abandoned (completion may come later than
 * the PUT, but not a day later). */
export const UPLOAD_ABANDONED_AFTER_MS = 24 * 3600 * 1000;

/** Uploads whose link expired before this are abandoned. */
export function uploadsAbandonedBefore(at: Date): string {
  return new Date(at.getTime() - UPLOAD_ABANDONED_AFTER_MS).toISOString();
}

export class ArtifactStore {
  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
  ) {}

  /** `uniquenessKey`: see uniqueness.ts; a clash with another artifact's device type fails the insert. */
  async insert(row: Omit<ArtifactTable, 'tenant_id'>, deviceTypes: string[], uniquenessKey: string): Promise<void> {
    await this.db
      .insertInto('artifacts')
      .values({ ...row, tenant_id: this.tenantId })
      .execute();
    if (deviceTypes.length) {
      await this.db
        .insertInto('artifact_device_types')
        .values(
          deviceTypes.map((device_type) => ({
            tenant_id: this.tenantId,
            artifact_id: row.id,
            device_type,
            uniqueness_key: uniquenessKey,
          })),
        )
        .execute();
    }
    await this.db
      .insertInto('releases')
      .values({ tenant_id: this.tenantId, name: row.name, notes: '', tags_json: '[]', modified: row.modified })
      .onConflict((oc) => oc.columns(['tenant_id', 'name']).doUpdateSet({ modified: row.modified }))
      .execute();
  }

  async byId(id: string): Promise<ArtifactTable | undefined> {
    return this.db
      .selectFrom('artifacts')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async byName(name: string): Promise<ArtifactTable[]> {
    return this.db
      .selectFrom('artifacts')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('name', '=', name)
      .orderBy('created_ts')
      .execute();
  }

  /** Artifacts named `name` that are compatible with any of `deviceTypes`. */
  async sameNameForDeviceTypes(name: string, deviceTypes: string[]): Promise<ArtifactTable[]> {
    if (deviceTypes.length === 0) return [];
    return this.db
      .selectFrom('artifacts')
      .selectAll('artifacts')
      .where('artifacts.tenant_id', '=', this.tenantId)
      .where('artifacts.name', '=', name)
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('artifact_device_types as dt')
            .select('dt.artifact_id')
            .whereRef('dt.artifact_id', '=', 'artifacts.id')
            .where('dt.tenant_id', '=', this.tenantId)
            .where('dt.device_type', 'in', deviceTypes),
        ),
      )
      .execute();
  }

  async deviceTypesOf(artifactIds: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (artifactIds.length === 0) return out;
    const rows = await this.db
      .selectFrom('artifact_device_types')
      .select(['artifact_id', 'device_type'])
      .where('tenant_id', '=', this.tenantId)
      .where('artifact_id', 'in', artifactIds)
      .orderBy('artifact_id')
      .orderBy('device_type')
      .execute();
    for (const row of rows) {
      const list = out.get(row.artifact_id) ?? [];
      list.push(row.device_type);
      out.set(row.artifact_id, list);
    }
    return out;
  }

  private filtered(filter: ArtifactFilter) {
    let query = this.db.selectFrom('artifacts').where('artifacts.tenant_id', '=', this.tenantId);
    if (filter.name) query = query.where((eb) => this.match(eb, 'artifacts.name', filter.name!));
    if (filter.description) query = query.where((eb) => this.match(eb, 'artifacts.description', filter.description!));
    if (filter.deviceType) {
      const match = filter.deviceType;
      query = query.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('artifact_device_types as dt')
            .select('dt.artifact_id')
            .whereRef('dt.artifact_id', '=', 'artifacts.id')
            .where('dt.tenant_id', '=', this.tenantId)
            .where((eb) => this.match(eb, 'dt.device_type', match)),
        ),
      );
    }
    if (filter.updateType) {
      // updates_json holds `"type_info":{"type":"X"}`; a LIKE on the serialised form keeps this in SQL.
      const needle = `%"type":${escapeLike(JSON.stringify(filter.updateType))}%`;
      query = query.where(sql<boolean>`artifacts.updates_json LIKE ${needle} ESCAPE '\\'`);
    }
    return query;
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's expression builder type depends on the query's tables
  private match(eb: any, column: string, match: TextMatch) {
    if ('exact' in match) return eb(column, 'in', match.exact);
    if ('prefix' in match)
      return eb(sql`${sql.ref(column)}`, 'like', sql`${`${escapeLike(match.prefix)}%`} ESCAPE '\\'`);
    return eb(
      sql`lower(${sql.ref(column)})`,
      'like',
      sql`${`%${escapeLike(match.contains.toLowerCase())}%`} ESCAPE '\\'`,
    );
  }

  async list(
    filter: ArtifactFilter,
    sort: ArtifactSort,
    page?: Page,
  ): Promise<{ rows: ArtifactTable[]; total: number }> {
    const [field, direction] = sort.split(':') as ['name' | 'modified', 'asc' | 'desc'];
    let query = this.filtered(filter)
      .selectAll('artifacts')
      .orderBy(`artifacts.${field}`, direction)
      .orderBy('artifacts.id');
    if (page) query = query.limit(page.perPage).offset((page.page - 1) * page.perPage);
    const rows = await query.execute();
    const total = page
      ? Number(
          (
            await this.filtered(filter)
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        )
      : rows.length;
    return { rows, total };
  }

  async updateDescription(id: string, description: string, modified: string): Promise<boolean> {
    const result = await this.db
      .updateTable('artifacts')
      .set({ description, modified })
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Deletes the artifact row (device types cascade) and its release when it was the last one. */
  async delete(id: string, name: string): Promise<void> {
    await this.db
      .deleteFrom('artifact_device_types')
      .where('tenant_id', '=', this.tenantId)
      .where('artifact_id', '=', id)
      .execute();
    await this.db.deleteFrom('artifacts').where('tenant_id', '=', this.tenantId).where('id', '=', id).execute();
    const left = await this.db
      .selectFrom('artifacts')
      .select('id')
      .where('tenant_id', '=', this.tenantId)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!left)
      await this.db.deleteFrom('releases').where('tenant_id', '=', this.tenantId).where('name', '=', name).execute();
  }

  /**
   * Bytes the tenant stores: its artifacts and the bytes of its direct uploads not yet completed, until they are
   * abandoned (what the reaper then deletes); together what its blobs hold.
   */
  async usage(at = new Date()): Promise<number> {
    const artifacts = await this.db
      .selectFrom('artifacts')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), eb.lit(0)).as('total'))
      .where('tenant_id', '=', this.tenantId)
      .executeTakeFirstOrThrow();
    const uploads = await this.db
      .selectFrom('artifact_uploads')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('size'), eb.lit(0)).as('total'))
      .where('tenant_id', '=', this.tenantId)
      .where('expires_ts', '>', uploadsAbandonedBefore(at))
      .executeTakeFirstOrThrow();
    return Number(artifacts.total) + Number(uploads.total);
  }

  private releases(filter: ReleaseFilter) {
    let query = this.db.selectFrom('releases').where('releases.tenant_id', '=', this.tenantId);
    if (filter.name) query = query.where((eb) => this.match(eb, 'releases.name', filter.name!));
    const artifactFilter: ArtifactFilter = {
      description: filter.description,
      deviceType: filter.deviceType,
      updateType: filter.updateType,
    };
    if (filter.description || filter.deviceType || filter.updateType) {
      const inner = this.filtered(artifactFilter).select('artifacts.name');
      query = query.where('releases.name', 'in', inner);
    }
    if (filter.tags?.length) {
      const tags = filter.tags;
      query = query.where((eb) =>
        eb.or(
          tags.map((tag) =>
            eb('releases.tags_json', 'like', sql<string>`${`%${escapeLike(JSON.stringify(tag))}%`} ESCAPE '\\'`),
          ),
        ),
      );
    }
    return query;
  }

  async listReleases(
    filter: ReleaseFilter,
    sort: ReleaseSort,
    page?: Page,
  ): Promise<{ rows: ReleaseRow[]; total: number }> {
    const [field, direction] = sort.split(':') as [string, 'asc' | 'desc'];
    const count = sql<number>`(SELECT COUNT(*) FROM artifacts a WHERE a.tenant_id = releases.tenant_id AND a.name = releases.name)`;
    const query = this.releases(filter)
      .select(['releases.name', 'releases.notes', 'releases.tags_json', 'releases.modified'])
      .select(count.as('artifacts_count'));
    const order =
      field === 'artifacts_count'
        ? sql.ref('artifacts_count')
        : field === 'tags'
          ? sql.ref('releases.tags_json')
          : sql.ref(`releases.${field}`);
    let ordered = query.orderBy(order, direction).orderBy('releases.name');
    if (page) ordered = ordered.limit(page.perPage).offset((page.page - 1) * page.perPage);
    const rows = (await ordered.execute()) as unknown as ReleaseRow[];
    const total = page
      ? Number(
          (
            await this.releases(filter)
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        )
      : rows.length;
    return { rows: rows.map((r) => ({ ...r, artifacts_count: Number(r.artifacts_count) })), total };
  }

  async release(name: string): Promise<ReleaseRow | undefined> {
    const { rows } = await this.listReleases({ name: { exact: [name] } }, 'name:asc');
    return rows[0];
  }

  async updateRelease(
    name: string,
    changes: { notes?: string; tags_json?: string },
    modified: string,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('releases')
      .set({ ...changes, modified })
      .where('tenant_id', '=', this.tenantId)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async allReleaseTags(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('releases')
      .select('tags_json')
      .where('tenant_id', '=', this.tenantId)
      .execute();
    return [...new Set(rows.flatMap((r) => JSON.parse(r.tags_json) as string[]))].sort();
  }

  async allUpdateTypes(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('artifacts')
      .select('updates_json')
      .where('tenant_id', '=', this.tenantId)
      .execute();
    const types = new Set<string>();
    for (const row of rows) {
      for (const update of JSON.parse(row.updates_json) as { type_info?: { type?: string | null } }[]) {
        if (update.type_info?.type) types.add(update.type_info.type);
      }
    }
    return [...types].sort();
  }
}
