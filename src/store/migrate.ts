// Applies every domain's migrations at start. Each domain keeps its own in its folder; names start with a
// number so that tables are created before the tables that refer to them.
import { type Kysely, type Migration, Migrator, sql } from 'kysely';
import { artifactMigrations } from '../artifacts/migrations.js';
import { deploymentMigrations } from '../deployments/migrations.js';
import { deviceconnectMigrations } from '../deviceconnect/migrations.js';
import { deviceMigrations } from '../devices/migrations.js';
import { inventoryMigrations } from '../inventory/migrations.js';
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
  ...deviceconnectMigrations,
};

// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any schema
export async function migrate(db: Kysely<any>): Promise<void> {
  // Kysely looks for its own bookkeeping tables in every schema unless told which one; with several schemas in
  // one database (tests, or tenants of a shared server) it would find another schema's and skip creating ours.
  const migrationTableSchema =
    dialectOf(db) === 'postgres'
      ? (await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(db)).rows[0].schema
      : undefined;
  const migrator = new Migrator({ db, provider: { getMigrations: async () => all }, migrationTableSchema });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(
      `migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : error}`,
    );
  }
}
