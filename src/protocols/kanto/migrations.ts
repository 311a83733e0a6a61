// Kanto tables. A device is found by thing id (topics, credentials) and by device id (the deployment poll);
// one apply per device deployment attempt, which the unique index makes true across server processes.
import { type Kysely, type Migration, sql } from 'kysely';
import { columnTypes } from '../../store/migration.js';

export const kantoMigrations: Record<string, Migration> = {
  '0070_kanto': {
    async up(db: Kysely<unknown>) {
      const t = columnTypes(db);
      await db.schema
        .createTable('kanto_devices')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('thing_id', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text')
        .addColumn('device_type', 'text', (c) => c.notNull())
        .addColumn('artifact_name', 'text')
        .addColumn('last_seen_ts', 'text')
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('updated_ts', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('kanto_devices_pk', ['tenant_id', 'thing_id'])
        .execute();
      await db.schema
        .createIndex('kanto_devices_device')
        .on('kanto_devices')
        .columns(['tenant_id', 'device_id'])
        .unique()
        .execute();
      await db.schema
        .createTable('kanto_activities')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('deployment_id', 'text')
        .addColumn('attempt', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('artifact_name', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('reported', 'text', (c) => c.notNull())
        .addColumn('feedback_ts', t.bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('feedback_digest', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('log_json', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('updated_ts', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('kanto_activities_attempt')
        .on('kanto_activities')
        .columns(['tenant_id', 'deployment_id', 'device_id', 'attempt'])
        .unique()
        .execute();
      await db.schema
        .createIndex('kanto_activities_device')
        .on('kanto_activities')
        .columns(['tenant_id', 'device_id', 'status'])
        .execute();
    },
  },
  // Numbered after every other domain's migrations (a migration may not come before one already applied). The
  // activity's `reported` status and JSON log were written and never read: the attempt keeps both.
  '0105_kanto_consent': {
    async up(db: Kysely<unknown>) {
      // Hono's auth-id: what a device logs in with, its own name beside the thing id (the thing id until set).
      await db.schema.alterTable('kanto_devices').addColumn('auth_id', 'text').execute();
      await sql`UPDATE kanto_devices SET auth_id = thing_id`.execute(db);
      await db.schema
        .createIndex('kanto_devices_auth_id')
        .on('kanto_devices')
        .columns(['tenant_id', 'auth_id'])
        .unique()
        .execute();
      await db.schema.alterTable('kanto_activities').dropColumn('reported').execute();
      await db.schema.alterTable('kanto_activities').dropColumn('log_json').execute();
      await db.schema
        .createTable('kanto_consents')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('activity_id', 'text', (c) => c.primaryKey())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('deployment_id', 'text', (c) => c.notNull())
        .addColumn('command', 'text', (c) => c.notNull())
        .addColumn('correlation_id', 'text', (c) => c.notNull())
        .addColumn('requested_ts', 'text', (c) => c.notNull())
        .addColumn('answer', 'text')
        .addColumn('answered_ts', 'text')
        .execute();
      await db.schema
        .createIndex('kanto_consents_deployment')
        .on('kanto_consents')
        .columns(['tenant_id', 'deployment_id', 'answered_ts'])
        .execute();
      await db.schema
        .createTable('kanto_consent_decisions')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('deployment_id', 'text', (c) => c.notNull())
        .addColumn('decision', 'text', (c) => c.notNull())
        .addColumn('decided_ts', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('kanto_consent_decisions_pk', ['tenant_id', 'deployment_id'])
        .execute();
    },
  },
};
