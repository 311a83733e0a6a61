// Issue 18, point 1: one inventory search must not stall the server. `$regex` runs on RE2 (linear time) on both
// dialects, and on PostgreSQL a statement that runs too long is cancelled and answered 503 in Mender's shape.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { dialects, TEST_PG_URL, type TestApp, testApp } from '../../test/support/app.js';
import { addDevice, userToken } from '../../test/support/inventory-fixtures.js';
import { compilePattern, regexMatches } from './regex.js';

const SEARCH = '/api/management/v2/inventory/filters/search';

describe('inventory $regex engine', () => {
  it('matches catastrophic-backtracking patterns in linear time', () => {
    // A backtracking engine takes 2^41 steps here: this call would not come back for days.
    assert.equal(regexMatches('^(a|a)*$', `${'a'.repeat(40)}!`), false);
    assert.equal(regexMatches('^(a|a)*$', 'a'.repeat(100_000)), true);
    assert.equal(regexMatches('(?i)^ABC', 'abcd'), true);
  });

  it('answers the same through its fast path for plain patterns as RE2 does', () => {
    const values = ['raspberrypi4', 'RaspberryPi4', 'qemu-x86', 'a.b', 'a+b', 'x\\1', '', 'π-3'];
    const patterns = ['pi4', '^rasp', '(?i)^rasp', 'x86$', 'a\\.b', 'a\\+b', '[0-9]$', '^$', '\\d', '^.-', 'u-x'];
    for (const pattern of patterns) {
      const re2 = compilePattern(pattern);
      assert.ok(re2, pattern);
      for (const value of values) assert.equal(regexMatches(pattern, value), re2.test(value), `${pattern} on ${value}`);
    }
  });

  it('refuses what only a backtracking engine runs (it matches nothing)', () => {
    assert.equal(regexMatches('(a)\\1', 'aa'), false);
    assert.equal(regexMatches('a(?=b)', 'ab'), false);
    assert.equal(regexMatches('((a{100}){100}){100}', 'a'), false);
  });
});

for (const dialect of dialects) {
  describe(`inventory search limits (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    before(async () => {
      t = await testApp(dialect, { statementTimeout: 300 });
      token = await userToken(t, t.tenant.id);
    });
    after(() => t.close());

    const search = (body: Record<string, unknown>) =>
      t.app.inject({ method: 'POST', url: SEARCH, headers: { authorization: `Bearer ${token}` }, payload: body });
    const regex = (attribute: string, value: string) => ({
      filters: [{ scope: 'identity', attribute, type: '$regex', value }],
    });

    it('answers the issue’s stalling patterns at once, the same on both dialects', async () => {
      const evil = await addDevice(t, { identity: { serial: `${'a'.repeat(40)}!`, pair: 'aa' } });
      const plain = await addDevice(t, { identity: { serial: 'aaaa', pair: 'ab' } });
      const found = async (attribute: string, value: string) => {
        const res = await search(regex(attribute, value));
        assert.equal(res.statusCode, 200, res.body);
        return (res.json() as { id: string }[]).map((d) => d.id).sort();
      };
      assert.deepEqual(await found('serial', '^(a|a)*$'), [plain.id]);
      // PostgreSQL's engine backtracks on backreferences ((a*)*(b|\1)+ took 36 s a search): RE2 refuses them, so
      // they match nothing on both dialects, like any pattern that does not compile.
      assert.deepEqual(await found('serial', '(a*)*(b|\\1)+'), []);
      assert.deepEqual(await found('pair', '(a)\\1'), []);
      assert.ok(evil.id);
    });

    it('refuses an overlong pattern with a 400', async () => {
      const res = await search(regex('serial', 'a'.repeat(1025)));
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.json().error, /at most 1024/);
    });

    it('cancels a statement that runs past the timeout and answers 503 in Mender’s shape', async (ctx) => {
      if (dialect !== 'postgres') return ctx.skip('statement_timeout is PostgreSQL’s');
      // A lock held elsewhere makes the search wait; lock waits count against statement_timeout like work does.
      const schema = (
        await t.services.store.db.selectNoFrom((eb) => eb.fn<string>('current_schema').as('s')).execute()
      )[0].s;
      const holder = new pg.Client({ connectionString: TEST_PG_URL });
      await holder.connect();
      try {
        await holder.query('begin');
        await holder.query(`lock table ${schema}.devices in access exclusive mode`);
        const res = await search(regex('serial', '^a'));
        assert.equal(res.statusCode, 503, res.body);
        const body = res.json();
        assert.match(body.error, /statement timeout/);
        assert.equal(typeof body.request_id, 'string');
        await holder.query('rollback');
        // The pool's connections are fine afterwards.
        assert.equal((await search(regex('serial', '^a'))).statusCode, 200);
      } finally {
        await holder.end();
      }
    });
  });
}
