// Applies every domain's migrations at start. Each domain keeps its own in its folder; names start with a
// number so that tables are created before the tables that refer to them.
import {
  type DatabaseIntrospector,
  type DatabaseMetadata,
  type Kysely,
  type Migration,
  Migrator,
  type SchemaMetadata,
  sql,
  type TableMetadata,
} from 'kysely';
import { artifactMigrations } from '../artifacts/migrations.js';
import { auditMigrations } from '../audit/migrations.js';
import { configurationMigrations } from '../configuration/migrations.js';
import { deploymentMigrations } from '../deployments/migrations.js';
import { deviceconnectMigrations } from '../deviceconnect/migrations.js';
import { deviceMigrations } from '../devices/migrations.js';
import { inventoryMigrations } from '../inventory/migrations.js';
import { monitorMigrations } from '../monitor/migrations.js';
import { ddiMigrations } from '../protocols/hawkbit/migrations.js';
import { kantoMigrations } from '../protocols/kanto/migrations.js';
import { tenantMigrations } from '../tenants/migrations.js';
import { userMigrations } from '../users/migrations.js';
import { leaseMigrations } from './leases.js';
import { dialectOf } from './migration.js';

const all: Record<string, Migration> = {
  ...tenantMigrations,
  ...leaseMigrations,
  ...userMigrations,
  ...deviceMigrations,
  ...inventoryMigrations,
  ...artifactMigrations,
  ...deploymentMigrations,
  ...ddiMigrations,
  ...kantoMigrations,
  ...configurationMigrations,
  ...monitorMigrations,
  ...deviceconnectMigrations,
  ...auditMigrations,
};

// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema
export async function migrate(db: Kysely<any>): Promise<void> {
  if (dialectOf(db) !== 'postgres') return migrateOn(db);
  // On PostgreSQL every pooled connection has the serving statement timeout; a migration that builds an index over
  // a large table may take longer, so migrations run on one connection without it, restored afterwards.
  await db.connection().execute(async (connection) => {
    await sql`set statement_timeout = 0`.execute(connection);
    try {
      await migrateOn(connection);
    } finally {
      await sql`reset statement_timeout`.execute(connection);
    }
  });
}

// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema
async function migrateOn(db: Kysely<any>): Promise<void> {
  // Kysely looks for its own bookkeeping tables in every schema unless told which one; with several schemas in
  // one database (tests, or tenants of a shared server) it would find another schema's and skip creating ours.
  const migrationTableSchema =
    dialectOf(db) === 'postgres'
      ? (await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db)).rows[0].schema
      : undefined;
  const migrator = new Migrator({
    db: migrationTableSchema ? inOwnSchema(db, migrationTableSchema) : db,
    provider: { getMigrations: async () => all },
    migrationTableSchema,
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(
      `migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : error}`,
    );
  }
}

/**
 * The database as the migrator sees it on PostgreSQL: its introspection (which bookkeeping tables exist) looks at
 * this schema only. Kysely's own lists the tables of every schema and calls has_schema_privilege on each name, which
 * fails ("schema … does not exist") when another schema of the database is dropped at that moment — as tests, each in
 * a schema of their own, do all the time.
 */
// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema
function inOwnSchema(db: Kysely<any>, schema: string): Kysely<any> {
  const introspection: DatabaseIntrospector = {
    async getSchemas(): Promise<SchemaMetadata[]> {
      return [{ name: schema }];
    },
    async getTables(): Promise<TableMetadata[]> {
      const tables = sql<{
        name: string;
      }>`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ${schema}`;
      const { rows } = await tables.execute(db);
      // Only names matter to the migrator; columns are not read.
      return rows.map((row) => ({ name: row.name, schema, isView: false, columns: [] }));
    },
    async getMetadata(): Promise<DatabaseMetadata> {
      return { tables: await this.getTables() };
    },
  };
  return new Proxy(db, {
    get(target, property) {
      if (property === 'introspection') return introspection;
      // Kysely keeps its state in private fields: methods must run on the instance itself, not the proxy.
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
