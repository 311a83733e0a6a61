// A migrated store with no app around it, so that nothing but the test sends statements; on PostgreSQL in a schema
// of its own, dropped on close.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { TEST_PG_URL } from '../../../test/support/app.js';
import { type DialectName, openStore, type Store } from '../db.js';
import { migrate } from '../migrate.js';

export async function bareStore(dialect: DialectName): Promise<{ store: Store; close(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-store-'));
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const store = await openStore(
    dialect === 'postgres' ? { databaseUrl: TEST_PG_URL, dataDir, pgSchema: schema } : { databaseUrl: '', dataDir },
  );
  await migrate(store.db);
  return {
    store,
    async close() {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (dialect !== 'postgres') return;
      const client = new pg.Client({ connectionString: TEST_PG_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
