// Audit logs: the append-only audit_logs table and the indexes its list, export, filters and prune read through.
import type { Kysely, Migration } from 'kysely';

export const auditMigrations: Record<string, Migration> = {
  '0110_audit_logs': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('audit_logs')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('time', 'text', (c) => c.notNull())
        .addColumn('actor_type', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text', (c) => c.notNull())
        .addColumn('actor_email', 'text')
        .addColumn('actor_token_id', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('object_type', 'text', (c) => c.notNull())
        .addColumn('object_id', 'text', (c) => c.notNull())
        .addColumn('object_deployment_name', 'text')
        .addColumn('object_json', 'text')
        .addColumn('change', 'text')
        .addColumn('meta_json', 'text')
        .execute();
      // Keyset order of list and export (time, then id); the prune deletes by time across tenants.
      await db.schema.createIndex('audit_logs_time').on('audit_logs').columns(['tenant_id', 'time', 'id']).execute();
      await db.schema.createIndex('audit_logs_prune').on('audit_logs').columns(['time']).execute();
      await db.schema
        .createIndex('audit_logs_object')
        .on('audit_logs')
        .columns(['tenant_id', 'object_id', 'time'])
        .execute();
      await db.schema
        .createIndex('audit_logs_actor')
        .on('audit_logs')
        .columns(['tenant_id', 'actor_id', 'time'])
        .execute();
    },
  },
};
