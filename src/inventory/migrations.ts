import { type Kysely, type Migration, sql } from 'kysely';
import { columnTypes, dialectOf } from '../store/migration.js';

export const inventoryMigrations: Record<string, Migration> = {
  '0030_inventory': {
    async up(db: Kysely<unknown>) {
      const t = columnTypes(db);
      // Strings compare and sort byte-wise, as in MongoDB (and SQLite's BINARY): the column and its index use
      // the "C" collation on PostgreSQL so that $gt/$lt and sorting agree on both dialects and stay indexed.
      const postgres = dialectOf(db) === 'postgres';
      await db.schema
        .createTable('attributes')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('value_str', 'text', (c) => (postgres ? c.modifyEnd(sql`collate "C"`) : c))
        .addColumn('value_num', t.real)
        .addColumn('is_array', t.flag, (c) => c.notNull().defaultTo(0))
        .addColumn('description', 'text')
        .addColumn('updated_ts', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('attributes_pk', ['tenant_id', 'device_id', 'scope', 'name', 'idx'])
        .execute();
      await db.schema
        .createIndex('attributes_str')
        .on('attributes')
        .columns(['tenant_id', 'scope', 'name', 'value_str'])
        .execute();
      await db.schema
        .createIndex('attributes_num')
        .on('attributes')
        .columns(['tenant_id', 'scope', 'name', 'value_num'])
        .execute();
      await db.schema
        .createTable('inventory_filters')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('terms_json', 'text', (c) => c.notNull())
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addUniqueConstraint('inventory_filters_tenant_name', ['tenant_id', 'name'])
        .execute();
      await db.schema
        .createTable('inventory_tags_etags')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
        .addColumn('etag', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('inventory_tags_etags_pk', ['tenant_id', 'device_id'])
        .execute();
    },
  },
  // Booleans, which only the server writes (the `monitor` scope: `alerts`, open alerts or not), as Mender's GUI
  // filters them ({scope:"monitor", attribute:"alerts", type:"$eq", value:true}). 0 or 1; indexed like the others.
  '0096_attribute_booleans': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('attributes').addColumn('value_bool', 'integer').execute();
      await db.schema
        .createIndex('attributes_bool')
        .on('attributes')
        .columns(['tenant_id', 'scope', 'name', 'value_bool'])
        .execute();
    },
  },
};
