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

    it('adds named tenants: own token, hawkBit name in capitals, limits; names unique ignoring case', async () => {
      const tenants = t.services.tenants;
      const shop = await tenants.add({ name: 'shop-1', maxDevices: 10, storageLimit: 5000 });
      assert.equal(shop.hawkbit_name, 'SHOP-1');
      assert.equal(Number(shop.max_devices), 10);
      assert.equal((await tenants.find('shop-1'))?.id, shop.id);
      assert.equal((await tenants.find('Shop-1'))?.id, shop.id, 'by name in any case');
      assert.equal((await tenants.find(shop.id))?.id, shop.id, 'by id');
      assert.equal((await tenants.byToken(shop.tenant_token))?.id, shop.id);
      await assert.rejects(tenants.add({ name: 'SHOP-1' }), { status: 409 });
      await assert.rejects(tenants.add({ name: 'default' }), { status: 409 }, 'the default tenant is DEFAULT');
      for (const name of ['', 'a b', 'x/y', 'a@b', '-lead', 'x'.repeat(64), shop.id]) {
        await assert.rejects(tenants.add({ name }), { status: 400 }, name);
      }
      await assert.rejects(tenants.add({ name: 'neg', maxDevices: -1 }), { status: 400 });
      await assert.rejects(tenants.add({ name: 'frac', storageLimit: 1.5 }), { status: 400 });
      const names = (await tenants.list()).map((tenant) => tenant.name);
      assert.equal(names[0], 'default', 'the default tenant first');
      assert.ok(names.includes('shop-1'));
      for (const name of ['neg', 'frac', 'a b']) assert.ok(!names.includes(name), `${name} left nothing behind`);
    });

    it('writes a new tenant and what goes with it in one transaction: a failure there leaves no tenant', async () => {
      const before = (await t.services.tenants.list()).length;
      await assert.rejects(
        t.services.tenants.add({ name: 'half' }, async () => {
          throw new Error('the first admin could not be written');
        }),
        /first admin/,
      );
      assert.equal((await t.services.tenants.list()).length, before);
      assert.equal(await t.services.tenants.find('half'), undefined);
      assert.ok(await t.services.tenants.add({ name: 'half' }), 'the name is free again');
    });

    it('sets limits one at a time, 0 meaning none, and the cache follows at once', async () => {
      const tenant = await t.services.tenants.add({ name: 'limited' });
      assert.equal(Number((await t.services.tenants.byId(tenant.id))?.max_devices), 0);
      await t.services.tenants.setLimits(tenant.id, { maxDevices: 3 });
      const set = await t.services.tenants.setLimits(tenant.id, { storageLimit: 1024 });
      assert.deepEqual([Number(set.max_devices), Number(set.storage_limit)], [3, 1024]);
      assert.equal(Number((await t.services.tenants.byId(tenant.id))?.storage_limit), 1024);
      await assert.rejects(t.services.tenants.setLimits(tenant.id, { maxDevices: -5 }), { status: 400 });
      await assert.rejects(t.services.tenants.setLimits('no-such-id', { maxDevices: 1 }), { status: 404 });
      assert.equal(Number((await t.services.tenants.setLimits(tenant.id, { maxDevices: 0 })).max_devices), 0);
    });
  });
}
