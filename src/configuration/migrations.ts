// Device configuration: one row per device known to the configuration service (made when the device is accepted,
// removed when it is decommissioned; the foreign key removes it with the device row too).
import { type Kysely, type Migration, sql } from 'kysely';

export const configurationMigrations: Record<string, Migration> = {
  '0095_device_configurations': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('device_configurations')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('device_id', 'text', (c) => c.primaryKey().references('devices.id').onDelete('cascade'))
        .addColumn('configured_json', 'text', (c) => c.notNull())
        .addColumn('reported_json', 'text', (c) => c.notNull())
        .addColumn('deployment_id', 'text')
        .addColumn('updated_ts', 'text', (c) => c.notNull())
        .addColumn('reported_ts', 'text')
        .execute();
      // Devices accepted before this table existed are known to the service as if provisioned then.
      await sql`INSERT INTO device_configurations
          (tenant_id, device_id, configured_json, reported_json, deployment_id, updated_ts, reported_ts)
        SELECT tenant_id, id, '{}', '{}', NULL, updated_ts, NULL FROM devices WHERE status = 'accepted'`.execute(db);
    },
  },
};
