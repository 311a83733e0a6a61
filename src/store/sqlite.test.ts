// SQLite under Kysely with reused statements and literal LIMIT/OFFSET: the same answers as fresh statements and
// bound values gave, with each text prepared once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { StatementCache, sqliteDialect } from './sqlite.js';
import { StatementLog } from './statement-log.js';

interface Item {
  id: number;
  name: string;
}

function open() {
  const sqlite = new SQLite(':memory:');
  const prepared: string[] = [];
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((text: string) => {
    prepared.push(text);
    return prepare(text);
  }) as typeof sqlite.prepare;
  const log = new StatementLog();
  const db = new Kysely<{ items: Item }>({ dialect: sqliteDialect(sqlite, log) });
  return { sqlite, db, prepared, log };
}

async function withItems(db: Kysely<{ items: Item }>, count: number) {
  await db.schema
    .createTable('items')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .execute();
  for (let i = 1; i <= count; i++)
    await db
      .insertInto('items')
      .values({ id: i, name: `item ${i}` })
      .execute();
}

describe('SQLite statement cache', () => {
  it('prepares a text once however often Kysely runs it, reads and writes alike', async () => {
    const { db, prepared, log } = open();
    await withItems(db, 3);
    prepared.length = 0;
    const start = log.count;
    for (let i = 0; i < 5; i++) {
      const row = await db.selectFrom('items').selectAll().where('id', '=', 2).executeTakeFirstOrThrow();
      assert.deepEqual(row, { id: 2, name: 'item 2' });
    }
    for (let i = 0; i < 3; i++) {
      const update = await db.updateTable('items').set({ name: 'renamed' }).where('id', '<=', 2).executeTakeFirst();
      assert.equal(update.numUpdatedRows, 2n);
    }
    const insert = await db.insertInto('items').values({ id: 10, name: 'ten' }).executeTakeFirst();
    assert.equal(insert.insertId, 10n);
    const returned = await db.insertInto('items').values({ id: 11, name: 'eleven' }).returning('name').execute();
    assert.deepEqual(returned, [{ name: 'eleven' }]);
    // The plain insert was prepared while the items were added.
    assert.equal(prepared.length, 3, prepared.join('\n'));
    assert.equal(log.count - start, 5 + 3 + 2, 'every run is counted, cached or not');
    await db.destroy();
  });

  it('sees a schema change through a statement prepared before it', async () => {
    const { db } = open();
    await withItems(db, 1);
    const all = () => sql<Record<string, unknown>>`select * from items`.execute(db);
    assert.deepEqual((await all()).rows, [{ id: 1, name: 'item 1' }]);
    await sql`alter table items add column colour text default 'red'`.execute(db);
    assert.deepEqual((await all()).rows, [{ id: 1, name: 'item 1', colour: 'red' }]);
    await db.destroy();
  });

  it('streams the same query twice in a row, and runs it while an earlier iteration of it is still open', async () => {
    const { db, sqlite } = open();
    await withItems(db, 3);
    const names = async () => {
      const out: string[] = [];
      for await (const row of db.selectFrom('items').select('name').orderBy('id').stream()) out.push(row.name);
      return out;
    };
    assert.deepEqual(await names(), ['item 1', 'item 2', 'item 3']);
    assert.deepEqual(await names(), ['item 1', 'item 2', 'item 3']);

    const cache = new StatementCache(sqlite, new StatementLog());
    const open1 = cache.prepare('select name from items order by id').iterate();
    open1.next();
    assert.deepEqual(cache.prepare('select name from items order by id').all(), [
      { name: 'item 1' },
      { name: 'item 2' },
      { name: 'item 3' },
    ]);
    open1.return?.();
    await db.destroy();
  });

  it('keeps at most its bound of statements, dropping the least recently used', () => {
    const sqlite = new SQLite(':memory:');
    const cache = new StatementCache(sqlite, new StatementLog(), 2);
    const a = cache.prepare('select 1');
    const b = cache.prepare('select 2');
    assert.equal(cache.prepare('select 1'), a);
    cache.prepare('select 3');
    assert.equal(cache.size, 2);
    assert.equal(cache.prepare('select 1'), a, 'recently used: kept');
    assert.notEqual(cache.prepare('select 2'), b, 'least recently used: dropped and prepared again');
    cache.close();
    assert.equal(sqlite.open, false);
  });
});

describe('SQLite LIMIT and OFFSET as literals', () => {
  it('writes non-negative integer limits and offsets into the SQL, with the same rows as bound ones', async () => {
    const { db } = open();
    await withItems(db, 5);
    const page = db.selectFrom('items').select('id').orderBy('id').limit(2).offset(1);
    const compiled = page.compile();
    assert.match(compiled.sql, / limit 2 offset 1$/);
    assert.deepEqual(compiled.parameters, []);
    assert.deepEqual(await page.execute(), [{ id: 2 }, { id: 3 }]);

    const bound = await sql<{ id: number }>`select id from items order by id limit ${2} offset ${1}`.execute(db);
    assert.deepEqual(bound.rows, await page.execute());

    assert.match(db.selectFrom('items').select('id').limit(3n).compile().sql, / limit 3$/);
    assert.match(db.selectFrom('items').select('id').limit(0).compile().sql, / limit 0$/);
    const inner = db
      .selectFrom('items')
      .select('id')
      .where('id', 'in', (q) => q.selectFrom('items').select('id').orderBy('id', 'desc').limit(1))
      .compile();
    assert.match(inner.sql, / limit 1\)$/);
    await db.destroy();
  });

  it('leaves anything but a non-negative safe integer bound, as before', async () => {
    const { db } = open();
    await withItems(db, 3);
    const unlimited = db.selectFrom('items').select('id').limit(-1);
    assert.match(unlimited.compile().sql, / limit \?$/);
    assert.equal((await unlimited.execute()).length, 3, 'a negative limit means none in SQLite');
    assert.match(db.selectFrom('items').select('id').limit(2.5).compile().sql, / limit \?$/);
    const unsafe = 2 ** 53;
    assert.match(db.selectFrom('items').select('id').limit(unsafe).compile().sql, / limit \?$/);
    assert.match(db.selectFrom('items').select('id').limit(sql.lit(4)).compile().sql, / limit 4$/);
    await db.destroy();
  });
});
