// The rows that own blobs, across tenants, as the blob reaper reads them: artifacts and direct uploads. Tenant-scoped
// queries stay in store.ts; these serve only the reconciliation, which looks at the whole store at once.
import type { Kysely } from 'kysely';
import type { Tables } from '../store/schema.js';
import { uploadsAbandonedBefore } from './store.js';

export interface BlobOwner {
  kind: 'artifact' | 'upload';
  tenantId: string;
  id: string;
  blobKey: string;
  /** Bytes the row accounts for (an abandoned upload's count 0: usage no longer counts them). */
  size: number;
}

export class BlobRows {
  constructor(private readonly db: Kysely<Tables>) {}

  /** Every row that owns a blob now. */
  async owners(at: Date): Promise<BlobOwner[]> {
    const artifacts = await this.db.selectFrom('artifacts').select(['tenant_id', 'id', 'blob_key', 'size']).execute();
    const uploads = await this.db
      .selectFrom('artifact_uploads')
      .select(['tenant_id', 'id', 'blob_key', 'size', 'expires_ts'])
      .where('blob_key', 'is not', null)
      .execute();
    const abandoned = uploadsAbandonedBefore(at);
    return [
      ...artifacts.map((a) => ({
        kind: 'artifact' as const,
        tenantId: a.tenant_id,
        id: a.id,
        blobKey: a.blob_key,
        size: Number(a.size),
      })),
      ...uploads.map((u) => ({
        kind: 'upload' as const,
        tenantId: u.tenant_id,
        id: u.id,
        blobKey: u.blob_key as string,
        size: u.expires_ts > abandoned ? Number(u.size) : 0,
      })),
    ];
  }

  /** Direct uploads abandoned at `at` (a batch). */
  abandonedUploads(at: Date, limit: number) {
    return this.db
      .selectFrom('artifact_uploads')
      .select(['tenant_id', 'id', 'blob_key'])
      .where('expires_ts', '<=', uploadsAbandonedBefore(at))
      .limit(limit)
      .execute();
  }

  /** Removes an abandoned upload's row, unless a PUT gave it other bytes meanwhile; answers whether it went. */
  async forgetUpload(tenantId: string, id: string, blobKey: string | null): Promise<boolean> {
    const gone = await this.db
      .deleteFrom('artifact_uploads')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('blob_key', blobKey === null ? 'is' : '=', blobKey)
      .executeTakeFirst();
    return Number(gone.numDeletedRows) === 1;
  }
}
