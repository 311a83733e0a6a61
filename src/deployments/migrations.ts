// Deployments tables. Indexes serve the device poll (tenant, device, active) and statistics (deployment, status).
import type { Kysely, Migration } from 'kysely';
import { columnTypes, dialectOf } from '../store/migration.js';

export const deploymentMigrations: Record<string, Migration> = {
  '0050_deployments': {
    async up(db: Kysely<unknown>) {
      const t = columnTypes(db);
      await db.schema
        .createTable('deployments')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('artifact_name', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('configuration', 'text')
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('target_group', 'text')
        .addColumn('filter_id', 'text')
        .addColumn('filter_json', 'text')
        .addColumn('phases_json', 'text')
        .addColumn('first_phase_ts', 'text')
        .addColumn('retries', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('max_devices', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('control_map_json', 'text')
        .addColumn('force_installation', t.flag, (c) => c.notNull().defaultTo(0))
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('finished_ts', 'text')
        .addColumn('device_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('initial_device_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('admitted', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('paused', t.flag, (c) => c.notNull().defaultTo(0))
        .addColumn('resumed_through', 'integer', (c) => c.notNull().defaultTo(-1))
        .addColumn('aborted', t.flag, (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createIndex('deployments_tenant_created')
        .on('deployments')
        .columns(['tenant_id', 'created_ts'])
        .execute();
      // Dynamic deployments a polling device may join: few rows, found by (tenant, target, finished).
      await db.schema
        .createIndex('deployments_tenant_target')
        .on('deployments')
        .columns(['tenant_id', 'target', 'finished_ts'])
        .execute();
      await db.schema
        .createTable('device_deployments')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id').onDelete('cascade'))
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('active', t.flag, (c) => c.notNull())
        .addColumn('substate', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('artifact_id', 'text')
        .addColumn('device_type', 'text')
        .addColumn('position', 'integer')
        .addColumn('request_json', 'text')
        .addColumn('has_log', t.flag, (c) => c.notNull().defaultTo(0))
        .addColumn('deployment_created_ts', 'text', (c) => c.notNull())
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('started_ts', 'text')
        .addColumn('finished_ts', 'text')
        .addUniqueConstraint('device_deployments_deployment_device', ['deployment_id', 'device_id'])
        .execute();
      await db.schema
        .createIndex('device_deployments_poll')
        .on('device_deployments')
        .columns(['tenant_id', 'device_id', 'active', 'deployment_created_ts'])
        .execute();
      await db.schema
        .createIndex('device_deployments_stats')
        .on('device_deployments')
        .columns(['tenant_id', 'deployment_id', 'status'])
        .execute();
      await db.schema
        .createIndex('device_deployments_artifact')
        .on('device_deployments')
        .columns(['tenant_id', 'artifact_id'])
        .execute();
      await db.schema
        .createTable('deployment_logs')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id').onDelete('cascade'))
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('messages_json', 'text', (c) => c.notNull())
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('deployment_logs_pk', ['tenant_id', 'deployment_id', 'device_id'])
        .execute();
    },
  },
  '0051_device_deployment_updated': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('device_deployments').addColumn('updated_ts', 'text').execute();
      // The sweeper looks for running device deployments that have been silent too long, across tenants.
      await db.schema
        .createIndex('device_deployments_silent')
        .on('device_deployments')
        .columns(['status', 'updated_ts'])
        .execute();
    },
  },
  '0052_device_deployment_deleted': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('device_deployments').addColumn('deleted_ts', 'text').execute();
    },
  },
  '0053_deployment_log_lines': {
    // Deployment logs become rows appended one by one (a JSON array rewritten on every line was quadratic), and
    // each tenant gets a deployments generation: what device polls compare their cached "nothing for me" against.
    async up(db: Kysely<unknown>) {
      const postgres = dialectOf(db) === 'postgres';
      await db.schema
        .createTable('deployment_log_lines')
        .addColumn('id', postgres ? 'bigserial' : 'integer', (c) =>
          postgres ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id').onDelete('cascade'))
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('timestamp', 'text', (c) => c.notNull())
        .addColumn('level', 'text', (c) => c.notNull())
        .addColumn('message', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('deployment_log_lines_device')
        .on('deployment_log_lines')
        .columns(['tenant_id', 'deployment_id', 'device_id', 'id'])
        .execute();
      // biome-ignore lint/suspicious/noExplicitAny: the old table is not in the typed schema any more
      const old = db as Kysely<any>;
      const rows = await old.selectFrom('deployment_logs').selectAll().execute();
      for (const row of rows) {
        const messages = JSON.parse(row.messages_json) as { timestamp: string; level: string; message: string }[];
        for (let i = 0; i < messages.length; i += 200) {
          await old
            .insertInto('deployment_log_lines')
            .values(
              messages.slice(i, i + 200).map((m) => ({
                tenant_id: row.tenant_id,
                deployment_id: row.deployment_id,
                device_id: row.device_id,
                timestamp: m.timestamp,
                level: m.level,
                message: m.message,
              })),
            )
            .execute();
        }
      }
      await db.schema.dropTable('deployment_logs').execute();
      await db.schema
        .createTable('deployment_generations')
        .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id').onDelete('cascade'))
        .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
  '0106_deployment_handling': {
    // How devices should handle the deployment (rules/handling.ts): null is forced with no maintenance window.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('deployments').addColumn('handling_json', 'text').execute();
    },
  },
  '0115_deployment_requests': {
    // Idempotency keys of deployment creations (idempotency.ts): the key is committed with the deployment it made.
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('deployment_requests')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('idempotency_key', 'text', (c) => c.notNull())
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id').onDelete('cascade'))
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('deployment_requests_pk', ['tenant_id', 'idempotency_key'])
        .execute();
    },
  },
};
