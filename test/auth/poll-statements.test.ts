// A steady-state device poll runs no SQL: the JWT is remembered, token liveness comes from memory, the check-in is
// written behind, and the deployments side knows the tenant has nothing open. Traced through the store; the only
// statements left out are the revocation feed's own background polls. The auth side is also checked on its own
// (statements touching tokens, devices, auth sets, users, tenants), which holds whatever /next itself needs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { testDevice } from '../support/device.js';
import { authStatements } from './support.js';

const NEXT = '/api/devices/v2/deployments/device/deployments/next';
const POLLS = 25;

for (const dialect of dialects) {
  describe(`statements of a steady-state poll (${dialect})`, () => {
    let t: TestApp;
    let admin: string;
    let statements: string[] = [];
    before(async () => {
      t = await testApp(dialect);
      admin = await adminToken(t);
    });
    after(() => t.close());

    it(`runs no statement over ${POLLS} polls after a warm-up poll`, async () => {
      const { token, deviceId } = await testDevice({ mac: `0a:00:00:00:00:01` }, 'ed25519').enroll(t.app, admin);
      const poll = async () =>
        (
          await t.app.inject({
            method: 'POST',
            url: NEXT,
            headers: { authorization: `Bearer ${token}` },
            payload: { device_provides: { device_type: 'qemux86-64', artifact_name: 'release-1' } },
          })
        ).statusCode;
      t.services.store.trace(true);
      try {
        assert.equal(await poll(), 204, 'warm-up');
      } finally {
        statements = t.services.store.trace(false);
      }
      assert.ok(authStatements(statements).length > 0, 'the cold poll reads the token, and the trace shows it');
      // The background check-in flush is a statement on `devices` every few seconds: stopped (after writing what
      // it has) so that everything counted below is the polls' own.
      await t.services.devices.stopCheckIns();
      t.services.store.trace(true);
      try {
        for (let i = 0; i < POLLS; i++) assert.equal(await poll(), 204);
      } finally {
        statements = t.services.store.trace(false);
      }
      t.services.devices.startCheckIns();
      assert.deepEqual(authStatements(statements), [], 'no statement on the auth side');
      assert.deepEqual(
        statements.filter((s) => !/"revocations"/.test(s)),
        [],
        'no statement at all',
      );

      // The polls were check-ins all the same: written on the next flush (a minute after the last one).
      await t.services.store.db
        .updateTable('devices')
        .set({ check_in_ts: '2020-01-01T00:00:00.000Z' })
        .where('id', '=', deviceId)
        .execute();
      assert.equal(await poll(), 204);
      await t.services.devices.flushCheckIns();
      const row = await t.services.store.db
        .selectFrom('devices')
        .select('check_in_ts')
        .where('id', '=', deviceId)
        .executeTakeFirstOrThrow();
      assert.ok(row.check_in_ts && Date.now() - Date.parse(row.check_in_ts) < 60_000, `check-in ${row.check_in_ts}`);
    });

    it('runs no statement on user tokens or tenants for a warm management request', async () => {
      const limits = async () =>
        await t.app.inject({
          method: 'GET',
          url: '/api/management/v2/devauth/limits/max_devices',
          headers: { authorization: `Bearer ${admin}` },
        });
      assert.equal((await limits()).statusCode, 200, 'warm-up');
      t.services.store.trace(true);
      try {
        for (let i = 0; i < 5; i++) assert.deepEqual((await limits()).json(), { limit: -1 });
      } finally {
        statements = t.services.store.trace(false);
      }
      assert.deepEqual(authStatements(statements), []);
    });
  });
}
