import { type Kysely, type Migration, sql } from 'kysely';
import { columnTypes } from '../store/migration.js';
import { uniquenessKey } from './uniqueness.js';

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
  // Mender's duplicate rule held by the database (uniqueness.ts). Artifacts that uploads racing past the old
  // read-then-write check left behind keep their rows, exempt from the index under a key of their own, so that
  // the migration never fails on them; the oldest of each clash keeps the real key.
  '0102_artifact_uniqueness': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('artifact_device_types').addColumn('uniqueness_key', 'text').execute();
      const { rows } = await sql<{ id: string; tenant_id: string; name: string; depends_json: string }>`
        select id, tenant_id, name, depends_json from artifacts order by created_ts, id`.execute(db);
      const seen = new Set<string>();
      for (const artifact of rows) {
        const key = uniquenessKey(artifact.name, JSON.parse(artifact.depends_json));
        const { rows: types } = await sql<{ device_type: string }>`
          select device_type from artifact_device_types where artifact_id = ${artifact.id}`.execute(db);
        const clash = types.some((t) => seen.has(`${artifact.tenant_id}\0${t.device_type}\0${key}`));
        for (const t of types) seen.add(`${artifact.tenant_id}\0${t.device_type}\0${key}`);
        await sql`update artifact_device_types set uniqueness_key = ${clash ? `duplicate:${artifact.id}` : key}
          where artifact_id = ${artifact.id}`.execute(db);
      }
      await db.schema
        .createIndex('artifact_device_types_unique')
        .on('artifact_device_types')
        .unique()
        .columns(['tenant_id', 'device_type', 'uniqueness_key'])
        .execute();
    },
  },
  // Direct uploads count in the tenant's storage use by the bytes they hold (`size`), and the reaper finds the owner
  // of a blob by its key (uploads and artifacts) and the uploads abandoned by their expiry.
  '0130_blob_accounting': {
    async up(db: Kysely<unknown>) {
      const t = columnTypes(db);
      await db.schema
        .alterTable('artifact_uploads')
        .addColumn('size', t.bigint, (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('artifacts_blob_key').on('artifacts').column('blob_key').execute();
      await db.schema.createIndex('artifact_uploads_blob_key').on('artifact_uploads').column('blob_key').execute();
      await db.schema.createIndex('artifact_uploads_expires').on('artifact_uploads').column('expires_ts').execute();
    },
  },
};
