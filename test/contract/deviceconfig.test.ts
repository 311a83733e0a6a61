// Contract scenario for deviceconfig (devices v1, management v1): every response checked against
// deviceconfig-devices-v1.yml / deviceconfig-management-v1.yml (the 404 of the management PUT is in deviations.ts).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { specsMissing } from '../support/contract.js';
import { addDevice, type TestDevice } from '../support/inventory-fixtures.js';
import { type Call, caller } from './client.js';

const MGMT = '/api/management/v1/deviceconfig/configurations/device';
const DEVICE = '/api/devices/v1/deviceconfig/configuration';

for (const dialect of dialects) {
  describe(`deviceconfig contract (${dialect})`, { skip: specsMissing }, () => {
    let t: TestApp;
    let admin: Call;
    let device: TestDevice;
    let asDevice: Call;

    before(async () => {
      t = await testApp(dialect);
      admin = caller(t, await adminToken(t));
      device = await addDevice(t);
      await t.services.store.transaction((trx) => t.services.configuration.provision(t.tenant.id, device.id, trx));
      asDevice = caller(t, device.token);
    });
    after(() => t.close());

    it('management: set, get, 400 for a non-string value, 404 for an unknown device', async () => {
      await admin('PUT', `${MGMT}/${device.id}`, { payload: { mode: 'eco' }, expect: 204 });
      const got = (await admin('GET', `${MGMT}/${device.id}`, { expect: 200 })).json();
      assert.deepEqual(got.configured, { mode: 'eco' });
      await admin('PUT', `${MGMT}/${device.id}`, { payload: { mode: 1 }, invalidRequest: true, expect: 400 });
      await admin('GET', `${MGMT}/${randomUUID()}`, { expect: 404 });
      await admin('PUT', `${MGMT}/${randomUUID()}`, { payload: { a: 'b' }, expect: 404 });
    });

    it('device: get the configured map, report, 400 for a bad report', async () => {
      assert.deepEqual((await asDevice('GET', DEVICE, { expect: 200 })).json(), { mode: 'eco' });
      await asDevice('PUT', DEVICE, { payload: { mode: 'eco' }, expect: 204 });
      await asDevice('PUT', DEVICE, { payload: { mode: ['eco'] }, invalidRequest: true, expect: 400 });
      const got = (await admin('GET', `${MGMT}/${device.id}`, { expect: 200 })).json();
      assert.deepEqual(got.reported, { mode: 'eco' });
    });

    it('deploy: 200 with the deployment id, 400 for bad retries, 404 for an unknown device', async () => {
      const res = await admin('POST', `${MGMT}/${device.id}/deploy`, { payload: { retries: 0 }, expect: 200 });
      assert.match(res.json().deployment_id, /^[0-9a-f-]{36}$/);
      const got = (await admin('GET', `${MGMT}/${device.id}`, { expect: 200 })).json();
      assert.equal(got.deployment_id, res.json().deployment_id);
      await admin('POST', `${MGMT}/${device.id}/deploy`, {
        payload: { retries: -1 },
        invalidRequest: true,
        expect: 400,
      });
      await admin('POST', `${MGMT}/${randomUUID()}/deploy`, { payload: {}, expect: 404 });
    });
  });
}
