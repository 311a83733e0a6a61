// Device monitoring: alerts, per-check state and the devices' monitor configuration. Rows go with the device.
import type { Kysely, Migration } from 'kysely';

export const monitorMigrations: Record<string, Migration> = {
  '0097_device_monitor': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('monitor_alerts')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('level', 'text', (c) => c.notNull())
        .addColumn('subject_name', 'text', (c) => c.notNull())
        .addColumn('subject_type', 'text', (c) => c.notNull())
        .addColumn('subject_status', 'text', (c) => c.notNull())
        .addColumn('details_json', 'text')
        .addColumn('issued_ts', 'text', (c) => c.notNull())
        .addColumn('received_ts', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('monitor_alerts_device')
        .on('monitor_alerts')
        .columns(['tenant_id', 'device_id', 'issued_ts'])
        .execute();
      await db.schema
        .createTable('monitor_checks')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('subject_name', 'text', (c) => c.notNull())
        .addColumn('alert_id', 'text', (c) => c.notNull())
        .addColumn('level', 'text', (c) => c.notNull())
        .addColumn('issued_ts', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('monitor_checks_pk', ['tenant_id', 'device_id', 'name', 'subject_name'])
        .execute();
      await db.schema
        .createIndex('monitor_checks_level')
        .on('monitor_checks')
        .columns(['tenant_id', 'level', 'device_id'])
        .execute();
      await db.schema
        .createTable('monitor_configs')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('device_id', 'text', (c) => c.primaryKey().references('devices.id').onDelete('cascade'))
        .addColumn('checks_json', 'text', (c) => c.notNull())
        .addColumn('updated_ts', 'text', (c) => c.notNull())
        .execute();
    },
  },
};
