import type { Kysely, Migration } from 'kysely';
import { columnTypes } from '../store/migration.js';

export const artifactMigrations: Record<string, Migration> = {
  '0040_artifacts': {
    async up(db: Kysely<unknown>) {
      const t = columnTypes(db);
      await db.schema
        .createTable('artifacts')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('format', 'text', (c) => c.notNull())
        .addColumn('format_version', 'integer', (c) => c.notNull())
        .addColumn('signed', t.flag, (c) => c.notNull().defaultTo(0))
        .addColumn('updates_json', 'text', (c) => c.notNull())
        .addColumn('provides_json', 'text', (c) => c.notNull())
        .addColumn('depends_json', 'text', (c) => c.notNull())
        .addColumn('clears_provides_json', 'text', (c) => c.notNull())
        .addColumn('payloads_json', 'text', (c) => c.notNull())
        .addColumn('size', t.bigint, (c) => c.notNull())
        .addColumn('blob_key', 'text', (c) => c.notNull())
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('modified', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('artifacts_tenant_name').on('artifacts').columns(['tenant_id', 'name']).execute();
      await db.schema
        .createTable('artifact_device_types')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('artifact_id', 'text', (c) => c.notNull().references('artifacts.id').onDelete('cascade'))
        .addColumn('device_type', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('artifact_device_types_pk', ['tenant_id', 'device_type', 'artifact_id'])
        .execute();
      await db.schema
        .createIndex('artifact_device_types_artifact')
        .on('artifact_device_types')
        .column('artifact_id')
        .execute();
      await db.schema
        .createTable('releases')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('notes', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('tags_json', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('modified', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('releases_pk', ['tenant_id', 'name'])
        .execute();
    },
  },
  '0041_artifact_uploads': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('artifact_uploads')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('blob_key', 'text')
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('expires_ts', 'text', (c) => c.notNull())
        .execute();
    },
  },
};
