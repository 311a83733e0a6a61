// Kanto management routes through inject, on both dialects, without a broker: desired states become artifacts
// (validated, hostile input refused in the API's error shape), things are registered as preauthorized devices in
// the ordinary device list, and what needs a broker says so.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { call, compositeApp, KANTO, uniqueThing } from './support.js';

for (const dialect of dialects) {
  describe(`Kanto management routes (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());

    it('stores a desired state as a kanto-desired-state artifact and shows it back', async () => {
      const res = await call(t, token, 'POST', `${KANTO}/desired-states`, {
        name: 'composite-app',
        version: '1.0',
        description: 'influxdb and hello-world',
        device_types_compatible: ['kanto-gw'],
        desired_state: compositeApp,
      });
      assert.equal(res.statusCode, 201, res.body);
      const artifact = res.json();
      assert.equal(artifact.name, 'composite-app-1.0');
      assert.deepEqual(artifact.device_types_compatible, ['kanto-gw']);
      assert.equal(artifact.updates[0].type_info.type, 'kanto-desired-state');
      assert.equal(res.headers.location, `/api/management/v1/deployments/artifacts/${artifact.id}`);
      const listed = await call(t, token, 'GET', '/api/management/v1/deployments/artifacts');
      assert.ok(
        (listed.json() as { id: string }[]).some((a) => a.id === artifact.id),
        'an ordinary artifact',
      );
      const shown = await call(t, token, 'GET', `${KANTO}/desired-states/${artifact.id}`);
      assert.equal(shown.statusCode, 200);
      assert.deepEqual(shown.json(), {
        id: artifact.id,
        artifact_name: 'composite-app-1.0',
        name: 'composite-app',
        version: '1.0',
        description: 'influxdb and hello-world',
        desired_state: compositeApp,
      });
      const again = await call(t, token, 'POST', `${KANTO}/desired-states`, {
        name: 'composite-app',
        version: '1.0',
        device_types_compatible: ['kanto-gw'],
        desired_state: compositeApp,
      });
      assert.equal(again.statusCode, 409, 'the same name and version twice');
    });

    it('refuses hostile desired states with 400 in the API error shape, storing nothing', async () => {
      const before = (await call(t, token, 'GET', '/api/management/v1/deployments/artifacts')).json().length;
      const bodies: [unknown, RegExp][] = [
        [[], /JSON object/],
        [{ version: '1', device_types_compatible: ['k'], desired_state: compositeApp }, /name/],
        [{ name: '../etc', version: '1', device_types_compatible: ['k'], desired_state: compositeApp }, /name/],
        [{ name: 'a', version: '1', device_types_compatible: 'k', desired_state: compositeApp }, /device_types/],
        [{ name: 'a', version: '1', device_types_compatible: ['k'], desired_state: 'x' }, /desired_state/],
        [
          {
            name: 'a',
            version: '1',
            device_types_compatible: ['k'],
            desired_state: { domains: [{ id: 'c', components: [{ id: 'x' }] }] },
          },
          /version/,
        ],
        [
          {
            name: 'a',
            version: '1',
            device_types_compatible: ['k'],
            desired_state: { domains: [{ id: 'c', extra: 1 }] },
          },
          /unknown field/,
        ],
      ];
      for (const [body, reason] of bodies) {
        const res = await call(t, token, 'POST', `${KANTO}/desired-states`, body);
        assert.equal(res.statusCode, 400, res.body);
        assert.match(res.json().error, reason);
        assert.equal(typeof res.json().request_id, 'string');
      }
      const bad = await t.app.inject({
        method: 'POST',
        url: `${KANTO}/desired-states`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: '{"name":',
      });
      assert.equal(bad.statusCode, 400);
      assert.equal((await call(t, token, 'GET', '/api/management/v1/deployments/artifacts')).json().length, before);
      const anonymous = await t.app.inject({ method: 'POST', url: `${KANTO}/desired-states`, payload: {} });
      assert.equal(anonymous.statusCode, 401);
      const missing = await call(t, token, 'GET', `${KANTO}/desired-states/00000000-0000-0000-0000-000000000000`);
      assert.equal(missing.statusCode, 404);
    });

    it('registers a thing as a preauthorized device in the ordinary device list', async () => {
      const thingId = uniqueThing();
      const res = await call(t, token, 'POST', `${KANTO}/devices`, { thing_id: thingId, device_type: 'kanto-gw' });
      assert.equal(res.statusCode, 201, res.body);
      const device = res.json();
      assert.equal(device.username, `${thingId}@${t.tenant.id}`);
      assert.ok(device.password.length >= 20, 'a generated password, shown once');
      const listed = await call(t, token, 'GET', `/api/management/v2/devauth/devices?id=${device.device_id}`);
      const [view] = listed.json();
      assert.equal(view.status, 'preauthorized');
      assert.deepEqual(view.identity_data, { thing_id: thingId });
      assert.equal(view.auth_sets[0].pubkey, 'kanto:mqtt');
      const shown = await call(t, token, 'GET', `${KANTO}/devices/${device.device_id}`);
      assert.equal(shown.json().device_type, 'kanto-gw');
      assert.equal(shown.json().has_password, true);
      assert.equal(shown.json().password, undefined, 'never shown again');
      const again = await call(t, token, 'POST', `${KANTO}/devices`, {
        thing_id: thingId,
        password: 'a-long-enough-secret',
      });
      assert.equal(again.json().device_id, device.device_id, 'the same device');
      assert.equal(again.json().password, undefined);
      assert.equal(again.json().device_type, 'kanto-gw', 'kept');
    });

    it('refuses bad registrations and answers 409 for refresh without a broker', async () => {
      for (const body of [
        { thing_id: 'no-namespace-colon' },
        { thing_id: 'ns:a/b' },
        { thing_id: 'ns:a#' },
        { thing_id: 42 },
        { thing_id: uniqueThing(), password: 'short' },
        { thing_id: uniqueThing(), device_type: '' },
      ]) {
        const res = await call(t, token, 'POST', `${KANTO}/devices`, body);
        assert.equal(res.statusCode, 400, JSON.stringify(body));
      }
      const notObject = await t.app.inject({
        method: 'POST',
        url: `${KANTO}/devices`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: '"text"',
      });
      assert.equal(notObject.statusCode, 400);
      const unknown = await call(t, token, 'GET', `${KANTO}/devices/00000000-0000-0000-0000-000000000000`);
      assert.equal(unknown.statusCode, 404);
      const thing = (await call(t, token, 'POST', `${KANTO}/devices`, { thing_id: uniqueThing() })).json();
      const refresh = await call(t, token, 'POST', `${KANTO}/devices/${thing.device_id}/refresh`);
      assert.equal(refresh.statusCode, 409);
      assert.match(refresh.json().error, /Kanto is not running/);
    });
  });
}
