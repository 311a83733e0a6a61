// Planner statistics: a store that gained rows gets them from `optimize` (without them SQLite's inventory group
// filter picks the wrong index and a 100k-device group deployment takes minutes, see BENCHMARKS.md; PostgreSQL
// deletes one device's inventory through an index that walks every device's rows, see pg-statistics.ts).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
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

  it('gives PostgreSQL statistics for the tables that gained rows, so one device is found by its key', async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const store = await openStore({ databaseUrl: TEST_PG_URL, dataDir: tmpdir(), pgSchema: schema });
    try {
      await migrate(store.db);
      const tenant = await new TenantService(store).ensureDefault('default', '');
      const ts = new Date().toISOString();
      const devices = Array.from({ length: 2000 }, (_, i) => `d${i}`);
      await store.transaction(async (trx) => {
        for (let i = 0; i < devices.length; i += 500) {
          const ids = devices.slice(i, i + 500);
          await trx
            .insertInto('devices')
            .values(
              ids.map((id) => ({
                tenant_id: tenant.id,
                id,
                status: 'accepted',
                identity_json: JSON.stringify({ mac: id }),
                identity_hash: id,
                decommissioning: 0,
                created_ts: ts,
                updated_ts: ts,
              })),
            )
            .execute();
          await trx
            .insertInto('attributes')
            .values(
              ids.flatMap((id) =>
                ['device_type', 'artifact_name', 'kernel'].map((name) => ({
                  tenant_id: tenant.id,
                  device_id: id,
                  scope: 'inventory' as const,
                  name,
                  idx: 0,
                  value_str: name === 'device_type' ? 'sim' : id,
                  value_num: null,
                  is_array: 0,
                  description: null,
                  updated_ts: ts,
                })),
              ),
            )
            .execute();
        }
        // The backend reports its counts to the statistics system when this transaction ends, not up to 10 s later.
        await sql`select pg_stat_force_next_flush()`.execute(trx);
      });
      const plan = async () =>
        (
          await sql<{ 'QUERY PLAN': string }>`explain delete from attributes
             where tenant_id = ${tenant.id} and device_id = 'd7' and scope = 'inventory'`.execute(store.db)
        ).rows
          .map((r) => r['QUERY PLAN'])
          .join('\n');
      const analyzed = async () =>
        (
          await sql<{ n: number }>`select count(*)::int as n from pg_stat_user_tables
             where schemaname = ${schema} and relname = 'attributes' and last_analyze is not null`.execute(store.db)
        ).rows[0].n;
      assert.equal(await analyzed(), 0, 'no statistics before');
      await store.optimize();
      assert.equal(await analyzed(), 1, 'statistics after');
      assert.match(await plan(), /attributes_pk/);
    } finally {
      await store.close();
      const admin = new pg.Client({ connectionString: TEST_PG_URL });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  });
});
