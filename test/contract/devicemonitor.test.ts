// Contract scenario for devicemonitor, which has no public OpenAPI document: the seed's own example requests are
// accepted (204), and every answer is checked with Ajv against the shapes of @northern.tech/types 0.5.0
// (devicemonitor-schemas.ts); error answers against Mender's Error. The routes are listed in deviations.ts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import formats from 'ajv-formats';
import type { LightMyRequestResponse } from 'fastify';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { addDevice, type TestDevice } from '../support/inventory-fixtures.js';
import {
  alertListSchema,
  alertSchema,
  errorSchema,
  monitorConfigurationListSchema,
  monitorDeviceListSchema,
} from './devicemonitor-schemas.js';

const MGMT = '/api/management/v1/devicemonitor';
const DEVICE = '/api/devices/v1/devicemonitor';

const ajv = new Ajv({ strict: false, allErrors: true });
formats.default(ajv);

function conforms(schema: object, res: LightMyRequestResponse, status: number): unknown {
  assert.equal(res.statusCode, status, res.body);
  if (status === 204) {
    assert.equal(res.body, '');
    return undefined;
  }
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = res.json();
  const validate = ajv.compile(schema);
  assert.ok(validate(body), `${res.body.slice(0, 300)}\n${ajv.errorsText(validate.errors)}`);
  return body;
}

/** The seed's example alert, verbatim (seed 001, "Device monitor", POST /alert). */
const SEED_ALERT = {
  name: 'mender-connect systemd service',
  level: 'CRITICAL',
  timestamp: '2019-07-21T17:32:28Z',
  subject: {
    name: 'mender-connect',
    status: 'not-running',
    type: 'systemd.unit',
    details: {
      description: 'Description of an error.',
      lines_before: [
        { line_number: 1, data: 'Line 1 from a log file' },
        { line_number: 2, data: 'Line 2 from a log file' },
      ],
      line_matching: { line_number: 3, data: 'Line 3 from a log file' },
      lines_after: [
        { line_number: 4, data: 'Line 4 from a log file' },
        { line_number: 5, data: 'Line 5 from a log file' },
      ],
    },
  },
};

for (const dialect of dialects) {
  describe(`devicemonitor contract (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let device: TestDevice;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
      device = await addDevice(t);
    });
    after(() => t.close());

    const asDevice = (path: string, payload: unknown) =>
      t.app.inject({
        method: 'POST',
        url: `${DEVICE}/${path}`,
        headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      });
    const get = (url: string) => t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

    it("device: the seed's example alert and checks are accepted; a broken one is Mender's Error", async () => {
      assert.ok(ajv.validate(alertSchema, SEED_ALERT), 'the transcribed schema takes the seed example');
      conforms({}, await asDevice('alert', [SEED_ALERT]), 204);
      conforms({}, await asDevice('alert', [{ ...SEED_ALERT, level: 'OK', timestamp: '2019-07-21T18:00:00Z' }]), 204);
      conforms({}, await asDevice('config', [{ name: 'string', status: 'string', type: 'string' }]), 204);
      conforms(errorSchema, await asDevice('alert', [{ ...SEED_ALERT, level: 'UNKNOWN' }]), 400);
      conforms(errorSchema, await asDevice('config', [{ name: 'string' }]), 400);
    });

    it('management: alerts, latest alerts, checks and the fleet list in the published shapes', async () => {
      const checks = [
        { name: 'auth', status: 'enabled', type: 'log', log: { pattern: 'fail', path: '/var/log/auth.log' } },
        { name: 'nginx', status: 'enabled', type: 'service', service: { name: 'nginx', type: 'systemd' } },
        { name: 'usb', status: 'enabled', type: 'dbus', dbus: { name: 'usb', pattern: 'x', watch: 'type=signal' } },
      ];
      conforms({}, await asDevice('config', checks), 204);
      const alerts = conforms(alertListSchema, await get(`${MGMT}/devices/${device.id}/alerts`), 200) as unknown[];
      assert.equal(alerts.length, 2);
      assert.deepEqual(alerts[1], { ...SEED_ALERT, timestamp: '2019-07-21T17:32:28.000Z' }, 'the alert comes back');
      conforms(alertListSchema, await get(`${MGMT}/devices/${device.id}/alerts/latest?level_from=OK`), 200);
      assert.deepEqual(
        conforms(monitorConfigurationListSchema, await get(`${MGMT}/devices/${device.id}/config`), 200),
        checks,
      );
      conforms(monitorDeviceListSchema, await get(`${MGMT}/devices`), 200);
      conforms(errorSchema, await get(`${MGMT}/devices/${randomUUID()}/alerts`), 404);
      conforms(errorSchema, await get(`${MGMT}/devices/${device.id}/alerts?per_page=0`), 400);
    });
  });
}
