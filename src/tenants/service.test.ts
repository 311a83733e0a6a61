import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dialects, type TestApp, testApp } from '../../test/support/app.js';

for (const dialect of dialects) {
  describe(`tenants (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await testApp(dialect);
    });
    after(() => t.close());

    it('creates exactly one default tenant with a token, however often it is asked', async () => {
      const again = await t.services.tenants.ensureDefault('default', '');
      assert.equal(again.id, t.tenant.id);
      assert.equal(again.tenant_token, t.tenant.tenant_token);
      assert.ok(t.tenant.tenant_token.length >= 32);
      assert.equal((await t.services.tenants.byToken(t.tenant.tenant_token))?.id, t.tenant.id);
    });

    it('finds other tenants by token and hawkBit name, and never mixes them up', async () => {
      const other = await t.services.tenants.create('acme', 'ACME');
      assert.notEqual(other.tenant_token, t.tenant.tenant_token);
      assert.equal((await t.services.tenants.byToken(other.tenant_token))?.id, other.id);
      assert.equal((await t.services.tenants.byHawkbitName('ACME'))?.id, other.id);
      assert.equal(await t.services.tenants.byToken('no-such-token'), undefined);
    });
  });
}
