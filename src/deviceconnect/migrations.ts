// Device connect's schema (numbers 0090-0094 are this domain's).
import type { Kysely, Migration } from 'kysely';
import { columnTypes, dialectOf } from '../store/migration.js';

export const deviceconnectMigrations: Record<string, Migration> = {
  '0090_deviceconnect': {
    async up(db: Kysely<unknown>) {
      const t = columnTypes(db);
      await db.schema
        .createTable('deviceconnect_states')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('version', t.bigint, (c) => c.notNull())
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('updated_ts', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('deviceconnect_states_pk', ['tenant_id', 'device_id'])
        .execute();
      await db.schema
        .createTable('deviceconnect_settings')
        .addColumn('tenant_id', 'text', (c) => c.primaryKey())
        .addColumn('terminal', t.flag, (c) => c.notNull().defaultTo(1))
        .addColumn('file_transfer', t.flag, (c) => c.notNull().defaultTo(1))
        .addColumn('port_forward', t.flag, (c) => c.notNull().defaultTo(1))
        .execute();
      await db.schema
        .createTable('deviceconnect_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('detail_json', 'text', (c) => c.notNull())
        .addColumn('ts', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('deviceconnect_events_by_tenant')
        .on('deviceconnect_events')
        .columns(['tenant_id', 'ts'])
        .execute();
    },
  },
  '0091_deviceconnect_node': {
    async up(db: Kysely<unknown>) {
      // The server process that holds the device's socket, for a session opened on another process.
      await db.schema
        .alterTable('deviceconnect_states')
        .addColumn('node_id', 'text', (c) => c.notNull().defaultTo(''))
        .execute();
    },
  },
  '0092_deviceconnect_recordings': {
    async up(db: Kysely<unknown>) {
      // A terminal session's output in pieces, in order; `delay_ms` > 0 marks a pause before the piece.
      await db.schema
        .createTable('deviceconnect_recordings')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('delay_ms', 'integer', (c) => c.notNull())
        .addColumn('data', dialectOf(db) === 'postgres' ? 'bytea' : 'blob', (c) => c.notNull())
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('deviceconnect_recordings_pk', ['tenant_id', 'session_id', 'seq'])
        .execute();
    },
  },
};
