import type { Kysely, Migration } from 'kysely';
import { columnTypes } from '../store/migration.js';

export const tenantMigrations: Record<string, Migration> = {
  '0001_tenants': {
    async up(db: Kysely<unknown>) {
      const t = columnTypes(db);
      await db.schema
        .createTable('tenants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('tenant_token', 'text', (c) => c.notNull().unique())
        .addColumn('hawkbit_name', 'text', (c) => c.notNull().unique())
        .addColumn('is_default', t.flag, (c) => c.notNull().defaultTo(0))
        .addColumn('max_devices', t.bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('storage_limit', t.bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('signing_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('private_pem', 'text', (c) => c.notNull())
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0003_tenant_artifact_keys': {
    async up(db: Kysely<unknown>) {
      // PEM public keys (JSON array); when any are set, artifacts must be signed by one of them.
      await db.schema
        .alterTable('tenants')
        .addColumn('artifact_keys_json', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute();
    },
  },
};
