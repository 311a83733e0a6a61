// SQLite checkpoints run on a worker thread: the server's connection leaves them to it (its own automatic checkpoint
// is only a safety net far above SQLite's default), and the worker does bring the WAL back into the database file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { SAFETY_PAGES } from './checkpoints.js';
import { openStore } from './db.js';

describe('SQLite checkpoints', () => {
  it('are left to the worker, which checkpoints the WAL while the store is open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-checkpoints-'));
    const store = await openStore({ databaseUrl: '', dataDir: dir });
    try {
      const setting = await sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`.execute(store.db);
      assert.equal(setting.rows[0].wal_autocheckpoint, SAFETY_PAGES);
      await sql`create table t (id integer primary key, v text)`.execute(store.db);
      // About 1,500 WAL pages: past SQLite's default of 1,000, below the safety net, so only the worker checkpoints.
      for (let i = 0; i < 30; i++) {
        await sql`insert into t (v) select hex(randomblob(500)) from (with recursive c(x) as
          (select 1 union all select x + 1 from c where x < 200) select x from c)`.execute(store.db);
      }
      // The rows reach the database file only through a checkpoint (the WAL holds them until then).
      const size = () => statSync(join(dir, 'flotilla.sqlite')).size;
      assert.ok(size() < 1_000_000, 'the rows are in the WAL so far');
      // Waits for the worker's next ticks (every 500 ms); the assertion is on what it did, not on how fast.
      for (let tries = 0; tries < 40 && size() < 1_000_000; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.ok(size() > 1_000_000, `the WAL was checkpointed into the database file (${size()} bytes)`);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
