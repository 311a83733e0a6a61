// A steady-state device poll runs no SQL on the authentication side: the JWT is remembered, token liveness comes
// from memory, and the check-in is written behind. Counted over the statements that touch the tables behind
// authentication (tokens, devices, auth sets, users, tenants); the deployments side of /next still runs its own
// statements (its caches are another change), so the total is reported, not asserted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { testDevice } from '../support/device.js';
import { authStatements, recordStatements } from './support.js';

const NEXT = '/api/devices/v2/deployments/device/deployments/next';
const POLLS = 25;

for (const dialect of dialects) {
  describe(`statements of a steady-state poll (${dialect})`, () => {
    let t: TestApp;
    let admin: string;
    before(async () => {
      t = await testApp(dialect);
      admin = await adminToken(t);
    });
    after(() => t.close());

    it(`runs no statement on the auth side over ${POLLS} polls after a warm-up poll`, async (ctx) => {
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
      assert.equal(await poll(), 204, 'warm-up');
      // The background check-in flush is a statement on `devices` every few seconds: stopped (after writing what
      // it has) so that everything counted below is the polls' own.
      await t.services.devices.stopCheckIns();
      const recorder = recordStatements(t.services.store.db);
      try {
        for (let i = 0; i < POLLS; i++) assert.equal(await poll(), 204);
      } finally {
        recorder.stop();
      }
      t.services.devices.startCheckIns();
      assert.deepEqual(authStatements(recorder.statements), [], 'no statement on the auth side');
      const perPoll = recorder.statements.filter((s) => !/"revocations"/.test(s)).length / POLLS;
      ctx.diagnostic(`${perPoll} statements per poll, all on the deployments side`);

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
      const recorder = recordStatements(t.services.store.db);
      try {
        for (let i = 0; i < 5; i++) assert.deepEqual((await limits()).json(), { limit: -1 });
      } finally {
        recorder.stop();
      }
      assert.deepEqual(authStatements(recorder.statements), []);
    });
  });
}
