// The store's statement count and trace, which request statement budgets are checked against, on both dialects.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dialects } from '../../test/support/app.js';
import type { Store } from './db.js';
import { bareStore } from './testing/bare-store.js';

for (const dialect of dialects) {
  describe(`statement count (${dialect})`, () => {
    let store: Store;
    let close: () => Promise<void>;
    before(async () => {
      ({ store, close } = await bareStore(dialect));
    });
    after(() => close());

    const lease = (name: string) => ({ name, holder: 'test', expires_ts: '2030-01-01T00:00:00.000Z' });

    it('counts every statement, begin, commit and rollback included, and traces their texts on demand', async () => {
      const start = store.statements();
      store.trace(true);
      await store.db.selectFrom('leases').selectAll().where('name', '=', 'a').limit(1).execute();
      await store.transaction(async (trx) => {
        await trx.insertInto('leases').values(lease('a')).execute();
        await trx.selectFrom('leases').select('holder').where('name', '=', 'a').executeTakeFirstOrThrow();
      });
      await assert.rejects(
        store.transaction(async (trx) => {
          await trx.insertInto('leases').values(lease('b')).execute();
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      const texts = store.trace(false);
      assert.equal(store.statements() - start, 8);
      assert.deepEqual(
        texts.map((text) => text.split(' ')[0]),
        ['select', 'begin', 'insert', 'select', 'commit', 'begin', 'insert', 'rollback'],
      );
      assert.match(texts[0], /from "leases" where "name" = /);

      // Tracing is off again: statements are still counted, their texts no longer kept.
      await store.db.selectFrom('leases').selectAll().execute();
      assert.equal(store.statements() - start, 9);
      assert.deepEqual(store.trace(false), []);
      assert.equal((await store.db.selectFrom('leases').select('name').execute()).length, 1);
    });

    it('starts a fresh trace at each call that switches it on', async () => {
      store.trace(true);
      await store.db.selectFrom('leases').selectAll().execute();
      assert.equal(store.trace(true).length, 1);
      assert.deepEqual(store.trace(false), []);
    });
  });
}
