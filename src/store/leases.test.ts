import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dialects, type TestApp, testApp } from '../../test/support/app.js';
import { Leases } from './leases.js';

for (const dialect of dialects) {
  describe(`database leases (${dialect})`, () => {
    let t: TestApp;
    let clock = new Date('2030-01-01T00:00:00Z');
    const at = () => clock;
    before(async () => {
      t = await testApp(dialect);
    });
    after(() => t.close());

    it('gives a free lease to one process only, and renews it for its holder', async () => {
      const a = new Leases(t.services.store, 'node-a', at);
      const b = new Leases(t.services.store, 'node-b', at);
      assert.equal(await a.acquire('phases', 30_000), true);
      assert.equal(await b.acquire('phases', 30_000), false);
      assert.equal(await a.acquire('phases', 30_000), true);
      assert.equal(await b.acquire('other-job', 30_000), true);
    });

    it('lets another process take a lease that lapsed, and not before', async () => {
      const a = new Leases(t.services.store, 'node-a', at);
      const b = new Leases(t.services.store, 'node-b', at);
      clock = new Date(clock.getTime() + 29_000);
      assert.equal(await b.acquire('phases', 30_000), false);
      clock = new Date(clock.getTime() + 1_000);
      assert.equal(await b.acquire('phases', 30_000), true);
      assert.equal(await a.acquire('phases', 30_000), false);
    });

    it('when many race for the same lease at once, exactly one wins', async () => {
      const racers = Array.from({ length: 8 }, (_, i) => new Leases(t.services.store, `racer-${i}`, at));
      const wins = await Promise.all(racers.map((r) => r.acquire('race', 10_000)));
      assert.equal(wins.filter(Boolean).length, 1);
    });

    it('runs work only under the lease, and frees it on release', async () => {
      const a = new Leases(t.services.store, 'node-a', at);
      const b = new Leases(t.services.store, 'node-b', at);
      let ran = 0;
      assert.equal(await a.runExclusive('expiry', 10_000, async () => void ran++), true);
      assert.equal(await b.runExclusive('expiry', 10_000, async () => void ran++), false);
      assert.equal(ran, 1);
      await a.release('expiry');
      assert.equal(await b.runExclusive('expiry', 10_000, async () => void ran++), true);
      assert.equal(ran, 2);
    });
  });
}
