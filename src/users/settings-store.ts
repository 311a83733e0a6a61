// SQL for useradm settings documents: one per tenant (`settings`) and one per user (`settings/me`), bound to a
// tenant at construction. Writes are conditional on the ETag when the caller sends If-Match.
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from '../store/schema.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface StoredSettings {
  etag: string;
  /** The JSON object as text, exactly as it is served. */
  document: string;
}

export interface SettingsWrite extends StoredSettings {
  updated_ts: string;
}

export class SettingsStore {
  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
  ) {}

  /** The tenant's document, or the user's when `userId` is given. */
  async read(userId?: string): Promise<StoredSettings | undefined> {
    if (userId) {
      return this.db
        .selectFrom('user_settings')
        .select(['etag', 'document'])
        .where('tenant_id', '=', this.tenantId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
    }
    return this.db
      .selectFrom('tenant_settings')
      .select(['etag', 'document'])
      .where('tenant_id', '=', this.tenantId)
      .executeTakeFirst();
  }

  /**
   * Replaces the document. Without `ifMatch` it always succeeds. With it, an existing document is replaced only
   * when its ETag matches, and a missing one is created (Mender's upsert does the same); false means mismatch.
   */
  async write(value: SettingsWrite, userId?: string, ifMatch?: string): Promise<boolean> {
    if (ifMatch === undefined) {
      await this.upsert(value, userId);
      return true;
    }
    const updated = userId
      ? await this.db
          .updateTable('user_settings')
          .set(value)
          .where('tenant_id', '=', this.tenantId)
          .where('user_id', '=', userId)
          .where('etag', '=', ifMatch)
          .executeTakeFirst()
      : await this.db
          .updateTable('tenant_settings')
          .set(value)
          .where('tenant_id', '=', this.tenantId)
          .where('etag', '=', ifMatch)
          .executeTakeFirst();
    if (Number(updated.numUpdatedRows) > 0) return true;
    // No document with that ETag: create one if there is none at all, else the ETag was stale.
    const inserted = userId
      ? await this.db
          .insertInto('user_settings')
          .values({ ...value, tenant_id: this.tenantId, user_id: userId })
          .onConflict((oc) => oc.column('user_id').doNothing())
          .executeTakeFirst()
      : await this.db
          .insertInto('tenant_settings')
          .values({ ...value, tenant_id: this.tenantId })
          .onConflict((oc) => oc.column('tenant_id').doNothing())
          .executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  private async upsert(value: SettingsWrite, userId?: string): Promise<void> {
    if (userId) {
      await this.db
        .insertInto('user_settings')
        .values({ ...value, tenant_id: this.tenantId, user_id: userId })
        .onConflict((oc) => oc.column('user_id').doUpdateSet(value))
        .execute();
      return;
    }
    await this.db
      .insertInto('tenant_settings')
      .values({ ...value, tenant_id: this.tenantId })
      .onConflict((oc) => oc.column('tenant_id').doUpdateSet(value))
      .execute();
  }
}
