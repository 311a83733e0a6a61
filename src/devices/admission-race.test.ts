// Issue 18, point 4: operators deciding on two auth sets of one device at the same moment. On PostgreSQL both
// ended accepted with working tokens, the device showed pending while an accepted key worked, and some calls 500'd
// on deadlocks. A device has at most one accepted auth set (a constraint), and decisions on one device queue up.
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../test/support/app.js';
import { type TestDevice, testDevice } from '../../test/support/device.js';

const DEVAUTH = '/api/management/v2/devauth';
const TRIALS = 8;

let macs = 0;
const nextMac = () => `0a:00:00:00:01:${(++macs).toString(16).padStart(2, '0')}`;

for (const dialect of dialects) {
  describe(`admission race (${dialect})`, () => {
    let t: TestApp;
    let admin: string;
    before(async () => {
      t = await testApp(dialect);
      admin = await adminToken(t);
    });
    after(() => t.close());

    const management = () => ({ authorization: `Bearer ${admin}` });

    /** One device that asked with two keys: two pending auth sets. */
    async function twoKeyDevice() {
      const mac = nextMac();
      const keys = [testDevice({ mac }, 'ecdsa'), testDevice({ mac }, 'ecdsa')];
      for (const key of keys) assert.equal((await key.authenticate(t.app)).statusCode, 401);
      const found = await t.app.inject({
        method: 'POST',
        url: `${DEVAUTH}/devices/search?per_page=500`,
        headers: management(),
        payload: { status: 'pending' },
      });
      const device = (
        found.json() as { id: string; identity_data: { mac: string }; auth_sets: { id: string; pubkey: string }[] }[]
      ).find((d) => d.identity_data.mac === mac)!;
      assert.equal(device.auth_sets.length, 2);
      const setOf = (key: TestDevice) =>
        device.auth_sets.find((s) => createPublicKey(s.pubkey).equals(createPublicKey(key.pubkey)))!.id;
      return { deviceId: device.id, keys, sets: keys.map(setOf) };
    }

    const decide = (deviceId: string, authSetId: string, status: string) =>
      t.app.inject({
        method: 'PUT',
        url: `${DEVAUTH}/devices/${deviceId}/auth/${authSetId}/status`,
        headers: management(),
        payload: { status },
      });

    async function shown(deviceId: string) {
      const res = await t.app.inject({ method: 'GET', url: `${DEVAUTH}/devices/${deviceId}`, headers: management() });
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as { status: string; auth_sets: { id: string; status: string }[] };
    }

    it('accepting both auth sets at once leaves exactly one accepted, its key the only one that works', async () => {
      for (let trial = 0; trial < TRIALS; trial++) {
        const { deviceId, keys, sets } = await twoKeyDevice();
        const answers = await Promise.all(sets.map((set) => decide(deviceId, set, 'accepted')));
        assert.deepEqual(
          answers.map((a) => a.statusCode),
          [204, 204],
          answers.map((a) => a.body).join(' '),
        );
        const device = await shown(deviceId);
        const accepted = device.auth_sets.filter((s) => s.status === 'accepted');
        assert.equal(accepted.length, 1, `trial ${trial}: ${JSON.stringify(device.auth_sets)}`);
        assert.equal(device.status, 'accepted');
        const admitted = await Promise.all(keys.map((k) => k.authenticate(t.app)));
        assert.deepEqual(
          admitted.map((a) => a.statusCode),
          sets.map((s) => (s === accepted[0].id ? 200 : 401)),
        );
      }
    });

    it('accepting one and rejecting the other at once agrees with itself', async () => {
      for (let trial = 0; trial < TRIALS; trial++) {
        const { deviceId, keys, sets } = await twoKeyDevice();
        // The first is accepted while it is rejected and the second accepted, all at once.
        const answers = await Promise.all([
          decide(deviceId, sets[0], 'accepted'),
          decide(deviceId, sets[1], 'accepted'),
          decide(deviceId, sets[0], 'rejected'),
        ]);
        for (const a of answers) assert.ok(a.statusCode === 204, `${a.statusCode} ${a.body}`);
        const device = await shown(deviceId);
        const accepted = device.auth_sets.filter((s) => s.status === 'accepted');
        assert.ok(accepted.length <= 1, `trial ${trial}: ${JSON.stringify(device.auth_sets)}`);
        assert.equal(device.status, accepted.length === 1 ? 'accepted' : 'rejected');
        const admitted = await Promise.all(keys.map((k) => k.authenticate(t.app)));
        assert.deepEqual(
          admitted.map((a) => a.statusCode),
          sets.map((s) => (s === accepted[0]?.id ? 200 : 401)),
        );
      }
    });

    it('is held by the database too: a second accepted auth set of one device is refused', async () => {
      const { deviceId, sets } = await twoKeyDevice();
      assert.equal((await decide(deviceId, sets[0], 'accepted')).statusCode, 204);
      await assert.rejects(
        t.services.store.db.updateTable('auth_sets').set({ status: 'accepted' }).where('id', '=', sets[1]).execute(),
      );
    });
  });
}
