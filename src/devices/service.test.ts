import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../test/support/app.js';
import { testDevice } from '../../test/support/device.js';

let macs = 0;
const nextMac = () => `06:00:00:00:00:${(++macs).toString(16).padStart(2, '0')}`;

for (const dialect of dialects) {
  describe(`device admission service (${dialect})`, () => {
    let t: TestApp;
    let admin: string;
    const probe = async (jwt: string) =>
      (await t.app.inject({ method: 'GET', url: '/api/devices/v1/probe', headers: { authorization: `Bearer ${jwt}` } }))
        .statusCode;
    // Check-ins are written behind (src/devices/check-ins.ts): what the table shows is what was flushed.
    const device = async (id: string) => {
      await t.services.devices.flushCheckIns();
      return t.services.store.db.selectFrom('devices').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    };
    const systemCheckIn = async (id: string) => {
      await t.services.devices.flushCheckIns();
      return (await t.services.inventory.attributes(t.tenant.id).read([id], ['system']))
        .get(id)
        ?.find((a) => a.name === 'check_in_time')?.value;
    };
    const backdate = (id: string, ms: number) =>
      t.services.store.db
        .updateTable('devices')
        .set({ check_in_ts: new Date(Date.now() - ms).toISOString() })
        .where('id', '=', id)
        .execute();

    before(async () => {
      t = await testApp(dialect);
      admin = await adminToken(t);
    });
    after(() => t.close());

    it('records check-ins to the minute and copies them to inventory system/check_in_time once a day', async () => {
      const d = testDevice({ mac: nextMac() }, 'ed25519');
      const { token, deviceId } = await d.enroll(t.app, admin);
      const first = (await device(deviceId)).check_in_ts;
      assert.ok(first);
      assert.equal(await systemCheckIn(deviceId), first, 'the first check-in reaches inventory');
      assert.equal(await probe(token), 404);
      assert.equal((await device(deviceId)).check_in_ts, first, 'within a minute nothing is written');

      await backdate(deviceId, 2 * 60_000);
      const stale = (await device(deviceId)).check_in_ts;
      assert.equal(await probe(token), 404);
      const moved = (await device(deviceId)).check_in_ts;
      assert.ok(moved && stale && moved > stale, 'a request after a minute moves the check-in');
      assert.equal(await systemCheckIn(deviceId), first, 'but inventory keeps its daily copy');

      await backdate(deviceId, 25 * 3600_000);
      assert.equal(await probe(token), 404);
      const daily = (await device(deviceId)).check_in_ts;
      assert.equal(await systemCheckIn(deviceId), daily, 'a day later inventory gets the new time');
      const shown = await t.app.inject({
        method: 'GET',
        url: `/api/management/v2/devauth/devices/${deviceId}`,
        headers: { authorization: `Bearer ${admin}` },
      });
      assert.equal(shown.json().check_in_time, daily);
    });

    it('writes check-ins behind the request, and before a device read would show one not yet written', async () => {
      const d = testDevice({ mac: nextMac() }, 'ed25519');
      const { token, deviceId } = await d.enroll(t.app, admin);
      const stored = async () =>
        (
          await t.services.store.db
            .selectFrom('devices')
            .select('check_in_ts')
            .where('id', '=', deviceId)
            .executeTakeFirstOrThrow()
        ).check_in_ts;
      await t.services.devices.stopCheckIns(); // no background flush in the middle of this test
      try {
        await backdate(deviceId, 2 * 60_000);
        const stale = await stored();
        assert.equal(await probe(token), 404);
        assert.equal(await stored(), stale, 'the request itself wrote nothing');
        const shown = await t.app.inject({
          method: 'GET',
          url: `/api/management/v2/devauth/devices/${deviceId}`,
          headers: { authorization: `Bearer ${admin}` },
        });
        const written = await stored();
        assert.ok(written && stale && written > stale, 'the read wrote the noted check-in first');
        assert.equal(shown.json().check_in_time, written);
      } finally {
        t.services.devices.startCheckIns();
      }
    });

    it('keeps the identity in inventory without letting it set the admission status', async () => {
      const d = testDevice({ mac: nextMac(), status: 'accepted' });
      await d.authenticate(t.app);
      const listed = await t.services.devices.list(t.tenant.id, { statuses: ['pending'] }, { page: 1, perPage: 500 });
      const mine = listed.devices.find((x) => x.identity_data.mac === d.identity.mac);
      assert.ok(mine);
      assert.deepEqual(mine.identity_data, d.identity, 'deviceauth shows the identity as sent');
      const stored = (await t.services.inventory.attributes(t.tenant.id).read([mine.id], ['identity'])).get(mine.id);
      assert.deepEqual(
        stored?.map((a) => a.name),
        ['mac'],
      );
      const { device: view } = await t.services.inventory.device(t.tenant.id, mine.id);
      const status = view.attributes.filter((a) => a.scope === 'identity' && a.name === 'status');
      assert.deepEqual(
        status.map((a) => a.value),
        ['pending'],
        'inventory shows the admission status',
      );
    });

    it('creates one device and one auth set when a new device sends several first requests at once', async () => {
      const d = testDevice({ mac: nextMac() }, 'ecdsa');
      const answers = await Promise.all(Array.from({ length: 6 }, () => d.authenticate(t.app)));
      assert.deepEqual(
        answers.map((a) => a.statusCode),
        Array(6).fill(401),
      );
      const rows = await t.services.store.db
        .selectFrom('devices')
        .innerJoin('auth_sets', 'auth_sets.device_id', 'devices.id')
        .select(['devices.id', 'auth_sets.id as set'])
        .where('devices.identity_json', '=', JSON.stringify({ mac: d.identity.mac }))
        .execute();
      assert.equal(rows.length, 1);
    });

    it('admits devices of other protocols by a named face, under the same admission API', async () => {
      const identity = { controllerId: `ddi-${nextMac()}` };
      const first = await t.services.devices.admitFace(t.tenant.id, identity, 'ddi:target-token');
      assert.equal(first.status, 'pending');
      assert.equal(first.faceStatus, 'pending');
      const again = await t.services.devices.admitFace(t.tenant.id, identity, 'ddi:target-token', 'accepted');
      assert.equal(again.deviceId, first.deviceId, 'the same identity is the same device');
      assert.equal(again.faceStatus, 'pending', 'the initial status applies to a new face only');

      const view = await t.services.devices.get(t.tenant.id, first.deviceId);
      assert.equal(view.auth_sets.length, 1);
      const res = await t.app.inject({
        method: 'PUT',
        url: `/api/management/v2/devauth/devices/${first.deviceId}/auth/${view.auth_sets[0].id}/status`,
        headers: { authorization: `Bearer ${admin}` },
        payload: { status: 'accepted' },
      });
      assert.equal(res.statusCode, 204);
      const accepted = await t.services.devices.admitFace(t.tenant.id, identity, 'ddi:target-token');
      assert.deepEqual([accepted.status, accepted.faceStatus], ['accepted', 'accepted']);

      const pre = await t.services.devices.admitFace(t.tenant.id, { thing: nextMac() }, 'kanto:mqtt', 'accepted');
      assert.deepEqual([pre.status, pre.faceStatus], ['accepted', 'accepted']);
      await assert.rejects(t.services.devices.admitFace(t.tenant.id, identity, '-----BEGIN PUBLIC KEY-----'));
    });
  });

  describe(`device tokens that expire (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await testApp(dialect, { deviceTokenTtl: 0 });
    });
    after(() => t.close());

    it('refuses an expired token and sweeps expired rows when the device gets a new one', async () => {
      const d = testDevice({ mac: nextMac() });
      const { token, deviceId } = await d.enroll(t.app, await adminToken(t));
      const res = await t.app.inject({
        method: 'GET',
        url: '/api/devices/v1/probe',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(res.statusCode, 401);
      for (let i = 0; i < 3; i++) assert.equal((await d.authenticate(t.app)).statusCode, 200);
      const rows = await t.services.store.db
        .selectFrom('device_tokens')
        .select('id')
        .where('device_id', '=', deviceId)
        .execute();
      assert.equal(rows.length, 1, 'only the newest (already expired) token row is left');
    });
  });
}
