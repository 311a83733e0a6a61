// Devices, their Mender auth sets and issued device tokens.
import { type Kysely, type Migration, sql } from 'kysely';
import { columnTypes, dialectOf } from '../store/migration.js';

export const deviceMigrations: Record<string, Migration> = {
  '0020_devices': {
    async up(db: Kysely<unknown>) {
      const t = columnTypes(db);
      await db.schema
        .createTable('devices')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('identity_json', 'text', (c) => c.notNull())
        .addColumn('identity_hash', 'text', (c) => c.notNull())
        .addColumn('decommissioning', t.flag, (c) => c.notNull().defaultTo(0))
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('updated_ts', 'text', (c) => c.notNull())
        .addUniqueConstraint('devices_tenant_identity', ['tenant_id', 'identity_hash'])
        .execute();
      await db.schema.createIndex('devices_tenant_status').on('devices').columns(['tenant_id', 'status']).execute();
      await db.schema
        .createTable('auth_sets')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
        .addColumn('identity_json', 'text', (c) => c.notNull())
        .addColumn('pubkey', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addUniqueConstraint('auth_sets_device_key', ['tenant_id', 'device_id', 'pubkey'])
        .execute();
      await db.schema
        .createTable('device_tokens')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
        .addColumn('auth_set_id', 'text', (c) => c.notNull().references('auth_sets.id').onDelete('cascade'))
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('expires_ts', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('device_tokens_device')
        .on('device_tokens')
        .columns(['tenant_id', 'device_id'])
        .execute();
    },
  },
  '0021_device_check_in': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('devices').addColumn('check_in_ts', 'text').execute();
    },
  },
  // The revocation feed (src/auth/revocations.ts) of device and user tokens and tenant rows. Numbered after every
  // other migration: Kysely refuses to apply a migration that sorts before one already applied.
  '0080_revocations': {
    async up(db: Kysely<unknown>) {
      const postgres = dialectOf(db) === 'postgres';
      await db.schema
        .createTable('revocations')
        .addColumn('id', postgres ? 'bigserial' : 'integer', (c) =>
          postgres ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('subject_id', 'text', (c) => c.notNull())
        .addColumn('ts', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('revocations_ts').on('revocations').column('ts').execute();
    },
  },
  // A device has at most one accepted auth set: the database holds the rule, whatever the order in which
  // concurrent decisions arrive (issue 18: two operators accepting two keys at once left both accepted). Devices
  // that such a race left with two keep the newest.
  '0101_one_accepted_auth_set': {
    async up(db: Kysely<unknown>) {
      await sql`update auth_sets set status = 'rejected'
        where status = 'accepted' and exists (
          select 1 from auth_sets newer
          where newer.tenant_id = auth_sets.tenant_id and newer.device_id = auth_sets.device_id
            and newer.status = 'accepted'
            and (newer.created_ts > auth_sets.created_ts or (newer.created_ts = auth_sets.created_ts and newer.id > auth_sets.id))
        )`.execute(db);
      await sql`delete from device_tokens
        where auth_set_id in (select id from auth_sets where status <> 'accepted')`.execute(db);
      await sql`create unique index auth_sets_one_accepted on auth_sets (tenant_id, device_id)
        where status = 'accepted'`.execute(db);
    },
  },
};
