// PostgreSQL under Kysely with named prepared statements: which statements get a name, the bound per connection,
// and recovery when a table changes under a prepared `select *`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { dialects, TEST_PG_URL } from '../../test/support/app.js';
import type { Store } from './db.js';
import { NamedStatementPool } from './postgres.js';
import { StatementLog } from './statement-log.js';
import { bareStore } from './testing/bare-store.js';

const prepared = sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`;

describe('PostgreSQL named statements', { skip: !dialects.includes('postgres') }, () => {
  let store: Store;
  let close: () => Promise<void>;
  before(async () => {
    ({ store, close } = await bareStore('postgres'));
  });
  after(() => close());

  it('names a query from its second run on, on each connection, and not transaction control or DDL', async () => {
    const lease = (name: string) => ({ name, holder: `holder ${name}`, expires_ts: '2030-01-01T00:00:00.000Z' });
    await store.db
      .insertInto('leases')
      .values([lease('a'), lease('b')])
      .execute();
    // One transaction: one connection, whose prepared statements we can list.
    const { names, statements } = await store.transaction(async (trx) => {
      const holder = (name: string) => trx.selectFrom('leases').select('holder').where('name', '=', name);
      assert.deepEqual(await holder('a').execute(), [{ holder: 'holder a' }]);
      assert.deepEqual(await holder('b').execute(), [{ holder: 'holder b' }]);
      assert.deepEqual(await holder('a').execute(), [{ holder: 'holder a' }]);
      for (let i = 0; i < 2; i++) await sql`create temp table if not exists scratch (x int)`.execute(trx);
      for (let i = 0; i < 2; i++) await sql`set local statement_timeout = 0`.execute(trx);
      const rows = (await prepared.execute(trx)).rows;
      return { names: rows.map((r) => r.name), statements: rows.map((r) => r.statement) };
    });
    const text = store.db.selectFrom('leases').select('holder').where('name', '=', 'a').compile().sql;
    assert.ok(statements.includes(text), statements.join('\n'));
    assert.ok(
      names.every((name) => /^flotilla_[0-9a-f]{40}$/.test(name)),
      names.join(', '),
    );
    for (const statement of statements) assert.match(statement, /^(select|insert|update|delete|with)\b/i);
  });
});

describe('PostgreSQL named statements on one connection', { skip: !dialects.includes('postgres') }, () => {
  // A pool of one: every statement runs on the same connection, whose prepared statements `prepared` lists.
  function onOneConnection(namedPerConnection?: number) {
    const log = new StatementLog();
    const pool = new NamedStatementPool(
      new pg.Pool({ connectionString: TEST_PG_URL, max: 1 }),
      log,
      namedPerConnection,
    );
    return { db: new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool }) }), log };
  }

  it('names at most its bound of statements per connection, and runs the others unnamed', async () => {
    const { db, log } = onOneConnection(2);
    try {
      for (const n of [1, 2, 3, 4]) {
        const text = sql<{ n: number }>`select ${sql.lit(n)}::int as n`;
        for (let i = 0; i < 3; i++) assert.deepEqual((await text.execute(db)).rows, [{ n }]);
      }
      const statements = (await prepared.execute(db)).rows.map((r) => r.statement).sort();
      assert.deepEqual(statements, ['select 1::int as n', 'select 2::int as n']);
      assert.equal(log.count, 13);
    } finally {
      await db.destroy();
    }
  });

  it('answers a prepared select * again after its table changed, and stops naming on that connection', async () => {
    const { db } = onOneConnection();
    try {
      await sql`create temp table items (id int)`.execute(db);
      await sql`insert into items values (1)`.execute(db);
      const all = () => sql<Record<string, unknown>>`select * from items where id >= ${0}`.execute(db);
      for (let i = 0; i < 2; i++) assert.deepEqual((await all()).rows, [{ id: 1 }]);
      assert.equal((await prepared.execute(db)).rows.length, 1, 'named from its second run');
      await sql`alter table items add column name text default 'one'`.execute(db);
      assert.deepEqual((await all()).rows, [{ id: 1, name: 'one' }]);
      for (let i = 0; i < 2; i++) await sql`select ${1}::int as one`.execute(db);
      assert.equal((await prepared.execute(db)).rows.length, 1, 'no new names on this connection');
    } finally {
      await db.destroy();
    }
  });

  it('inside a transaction lets that error through, as the transaction is lost, and stops naming', async () => {
    const { db } = onOneConnection();
    try {
      await sql`create temp table items (id int)`.execute(db);
      const all = (q: Kysely<Record<string, never>>) => sql`select * from items where id >= ${0}`.execute(q);
      for (let i = 0; i < 2; i++) await all(db);
      await sql`alter table items add column name text`.execute(db);
      await assert.rejects(
        db.transaction().execute((trx) => all(trx)),
        /cached plan must not change result type/,
      );
      assert.deepEqual((await all(db)).rows, []);
    } finally {
      await db.destroy();
    }
  });
});
