// SQLite's planner statistics: a store that gained rows gets them from `optimize` (without them the inventory's
// group filter picks the wrong index and a 100k-device group deployment takes minutes; see BENCHMARKS.md).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { TEST_PG_URL } from '../../test/support/app.js';
import { TenantService } from '../tenants/service.js';
import { openStore } from './db.js';
import { migrate } from './migrate.js';

describe('store optimize', () => {
  it('gives SQLite statistics for the tables that gained rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-optimize-'));
    const store = await openStore({ databaseUrl: '', dataDir: dir });
    try {
      await migrate(store.db);
      const tenant = await new TenantService(store).ensureDefault('default', '');
      // Attribute rows without their devices: this test is about statistics, not references.
      await sql`PRAGMA foreign_keys = OFF`.execute(store.db);
      const rows = Array.from({ length: 2000 }, (_, i) => ({
        tenant_id: tenant.id,
        device_id: `d${i}`,
        scope: 'system' as const,
        name: 'group',
        idx: 0,
        value_str: i % 10 === 0 ? 'ten' : 'rest',
        value_num: null,
        is_array: 0,
        description: null,
        updated_ts: new Date().toISOString(),
      }));
      for (let i = 0; i < rows.length; i += 200)
        await store.db
          .insertInto('attributes')
          .values(rows.slice(i, i + 200))
          .execute();
      const stats = async () =>
        (
          await sql<{ tbl: string }>`SELECT tbl FROM sqlite_stat1`.execute(store.db).catch(() => ({ rows: [] }))
        ).rows.map((r) => r.tbl);
      assert.ok(!(await stats()).includes('attributes'), 'no statistics before');
      await store.optimize();
      assert.ok((await stats()).includes('attributes'), 'statistics after');
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is harmless on PostgreSQL, whose autovacuum keeps statistics', async () => {
    const store = await openStore({ databaseUrl: TEST_PG_URL, dataDir: tmpdir() });
    try {
      await store.optimize();
    } finally {
      await store.close();
    }
  });
});
