// Contract scenario for deviceconnect's management REST routes: status, check-update, send-inventory, download and
// upload refusals, each response checked against deviceconnect-management-v1.yml. The websockets themselves are
// tested in test/deviceconnect/ and, with the real programs, in test/e2e/mender-connect.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openSocket } from '../deviceconnect/support.js';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { addDevice, type TestDevice } from '../support/inventory-fixtures.js';
import { multipart } from '../support/multipart.js';
import { type Call, caller } from './client.js';

const M = '/api/management/v1/deviceconnect';
const UNKNOWN = '00000000-0000-4000-8000-000000000000';

for (const dialect of dialects) {
  describe(`deviceconnect contract (${dialect})`, () => {
    let t: TestApp;
    let admin: Call;
    let device: TestDevice;

    before(async () => {
      t = await testApp(dialect);
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      admin = caller(t, await adminToken(t));
      device = await addDevice(t);
    });
    after(() => t.close());

    it('device status: 200 ConnectionState, 404 unknown, 401 without a token, 403 for a device token', async () => {
      const res = await admin('GET', `${M}/devices/${device.id}`, { expect: 200 });
      assert.equal(res.json().status, 'disconnected');
      await admin('GET', `${M}/devices/${UNKNOWN}`, { expect: 404 });
      await caller(t)('GET', `${M}/devices/${device.id}`, { expect: 401 });
      await caller(t, device.token)('GET', `${M}/devices/${device.id}`, { expect: 403 });
    });

    it('commands and file transfer to a disconnected device: 404; bad requests: 400', async () => {
      for (const command of ['check-update', 'send-inventory']) {
        await admin('POST', `${M}/devices/${device.id}/${command}`, { expect: 404 });
        await admin('POST', `${M}/devices/${UNKNOWN}/${command}`, { expect: 404 });
      }
      await admin('GET', `${M}/devices/${device.id}/download?path=/etc/hostname`, { expect: 404 });
      await admin('GET', `${M}/devices/${device.id}/download`, { invalidRequest: true, expect: 400 });
      const body = multipart({ path: '/tmp/x' }, { field: 'file', filename: 'x', content: Buffer.from('x') });
      await admin('PUT', `${M}/devices/${device.id}/upload`, {
        payload: body.payload,
        headers: body.headers,
        expect: 404,
      });
    });

    it('commands to a connected device: 202', async () => {
      const address = t.app.server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const dev = await openSocket(`ws://127.0.0.1:${port}/api/devices/v1/deviceconnect/connect`, {
        authorization: `Bearer ${device.token}`,
      });
      try {
        while ((await admin('GET', `${M}/devices/${device.id}`)).json().status !== 'connected');
        await admin('POST', `${M}/devices/${device.id}/check-update`, { expect: 202 });
        await admin('POST', `${M}/devices/${device.id}/send-inventory`, { expect: 202 });
        assert.deepEqual(
          (await Promise.all([dev.inbox.take(), dev.inbox.take()])).map((m) => m.msg.typ),
          ['check-update', 'send-inventory'],
        );
      } finally {
        dev.socket.close();
        await dev.closed;
      }
    });

    it("the tenant's switches (Flotilla's own route)", async () => {
      const res = await admin('GET', `${M}/settings`, { undocumented: true, expect: 200 });
      assert.deepEqual(res.json(), { terminal: true, file_transfer: true, port_forward: true });
      await admin('PUT', `${M}/settings`, {
        undocumented: true,
        payload: { terminal: true, file_transfer: false, port_forward: true },
        expect: 204,
      });
      assert.equal((await admin('GET', `${M}/settings`, { undocumented: true })).json().file_transfer, false);
    });
  });
}
