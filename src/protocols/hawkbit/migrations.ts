// hawkBit DDI tables (see tables.ts). Action and module ids are integers from the database (hawkBit's are longs).
import { type Kysely, type Migration, sql } from 'kysely';
import { columnTypes, dialectOf } from '../../store/migration.js';

export const ddiMigrations: Record<string, Migration> = {
  '0060_ddi': {
    async up(db: Kysely<unknown>) {
      const t = columnTypes(db);
      const postgres = dialectOf(db) === 'postgres';
      const tenant = (c: import('kysely').ColumnDefinitionBuilder) =>
        c.notNull().references('tenants.id').onDelete('cascade');
      await db.schema
        .createTable('ddi_targets')
        .addColumn('tenant_id', 'text', tenant)
        .addColumn('controller_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text')
        .addColumn('device_type', 'text')
        .addColumn('artifact_name', 'text')
        .addColumn('config_sent', t.flag, (c) => c.notNull().defaultTo(0))
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('updated_ts', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('ddi_targets_pk', ['tenant_id', 'controller_id'])
        .execute();
      await db.schema.createIndex('ddi_targets_device').on('ddi_targets').columns(['tenant_id', 'device_id']).execute();
      await db.schema
        .createTable('ddi_settings')
        .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id').onDelete('cascade'))
        .addColumn('gateway_token_hash', 'text')
        .addColumn('anonymous', t.flag, (c) => c.notNull().defaultTo(0))
        .addColumn('auto_accept', t.flag, (c) => c.notNull().defaultTo(0))
        .addColumn('default_device_type', 'text', (c) => c.notNull())
        .addColumn('polling_sleep', 'integer', (c) => c.notNull())
        .execute();
      const serial = (name: string) =>
        db.schema
          .createTable(name)
          .addColumn('id', postgres ? 'serial' : 'integer', (c) =>
            postgres ? c.primaryKey() : c.primaryKey().autoIncrement(),
          );
      await serial('ddi_actions')
        .addColumn('tenant_id', 'text', tenant)
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('deployment_id', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('artifact_id', 'text', (c) => c.notNull())
        .addColumn('artifact_name', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('result', 'text')
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('updated_ts', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('ddi_actions_attempt')
        .on('ddi_actions')
        .columns(['tenant_id', 'deployment_id', 'device_id', 'attempt'])
        .unique()
        .execute();
      await db.schema
        .createIndex('ddi_actions_device')
        .on('ddi_actions')
        .columns(['tenant_id', 'device_id', 'status'])
        .execute();
      await serial('ddi_modules')
        .addColumn('tenant_id', 'text', tenant)
        .addColumn('artifact_id', 'text', (c) => c.notNull())
        .addColumn('update_index', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('ddi_modules_update')
        .on('ddi_modules')
        .columns(['tenant_id', 'artifact_id', 'update_index'])
        .unique()
        .execute();
      await db.schema
        .createTable('ddi_files')
        .addColumn('tenant_id', 'text', tenant)
        .addColumn('artifact_id', 'text', (c) => c.notNull())
        .addColumn('update_index', 'integer', (c) => c.notNull())
        .addColumn('file_name', 'text', (c) => c.notNull())
        .addColumn('size', t.bigint, (c) => c.notNull())
        .addColumn('md5', 'text', (c) => c.notNull())
        .addColumn('sha1', 'text', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('ddi_files_pk', ['tenant_id', 'artifact_id', 'update_index', 'file_name'])
        .execute();
    },
  },
  '0061_ddi_actions_derived': {
    // An action's lifecycle is read off the deployments domain's attempt; only DDI's own facts stay here: the
    // cancellation's acknowledgement, and which action the target last installed (installedBase).
    async up(db: Kysely<unknown>) {
      // biome-ignore lint/suspicious/noExplicitAny: columns that leave the typed schema
      const any = db as Kysely<any>;
      await db.schema.alterTable('ddi_actions').addColumn('cancel_acknowledged_ts', 'text').execute();
      await sql`update ddi_actions set cancel_acknowledged_ts = updated_ts where result = 'canceled'`.execute(db);
      await db.schema.alterTable('ddi_targets').addColumn('installed_action_id', 'integer').execute();
      const installed = await any
        .selectFrom('ddi_actions')
        .select(['tenant_id', 'device_id', sql<number>`max(id)`.as('id')])
        .where('result', '=', 'success')
        .groupBy(['tenant_id', 'device_id'])
        .execute();
      for (const row of installed) {
        await any
          .updateTable('ddi_targets')
          .set({ installed_action_id: Number(row.id) })
          .where('tenant_id', '=', row.tenant_id)
          .where('device_id', '=', row.device_id)
          .execute();
      }
      await db.schema.dropIndex('ddi_actions_device').execute();
      await db.schema.alterTable('ddi_actions').dropColumn('status').execute();
      await db.schema.alterTable('ddi_actions').dropColumn('result').execute();
      await db.schema
        .createIndex('ddi_actions_device')
        .on('ddi_actions')
        .columns(['tenant_id', 'device_id', 'id'])
        .execute();
    },
  },
  '0107_ddi_confirmation': {
    // The confirmation flow: the tenant's auto-confirm (on by default: no action waits, as before), a target's own
    // auto-confirmation (activateAutoConfirm), and when an action was confirmed (by the target, or automatically).
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('ddi_settings')
        .addColumn('auto_confirm', 'integer', (c) => c.notNull().defaultTo(1))
        .execute();
      await db.schema.alterTable('ddi_targets').addColumn('auto_confirm_json', 'text').execute();
      await db.schema.alterTable('ddi_actions').addColumn('confirmed_ts', 'text').execute();
    },
  },
};
