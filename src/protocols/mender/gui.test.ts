// The management API as Mender's own web GUI uses it (mendersoftware/gui at eb5a0813, the 2024 standalone
// release): each test sends the GUI's exact request, as its source builds it, and checks what the GUI relies on.
// Both dialects; the links are checked with a public URL, behind a trusted proxy and with no proxy trusted.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../../test/support/app.js';
import {
  addArtifact,
  createDeployment,
  ddiTarget,
  managementCaller,
  nextV2,
  report,
} from '../../../test/support/deployment-fixtures.js';
import { addDevice } from '../../../test/support/inventory-fixtures.js';
import { jwtCookieOf } from '../../auth/guard.js';

const D1 = '/api/management/v1/deployments';
const D2 = '/api/management/v2/deployments';
const IOT = '/api/management/v1/iot-manager';
const qemu = { device_type: 'qemu', artifact_name: 'factory' };

for (const dialect of dialects) {
  describe(`the management API as Mender's web GUI uses it (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let uniq = 0;
    const name = () => `gui-${++uniq}`;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());
    const mgmt = managementCaller(
      () => t,
      () => token,
    );

    test('1. a group or filter deployment with "all_devices": false is created; a device list or true is not', async () => {
      const group = name();
      const device = await addDevice(t);
      await t.services.inventory.setDeviceGroup(t.tenant.id, device.id, { group });
      const artifact = await addArtifact(t, { name: name() });
      // createdeployment.js onScheduleSubmitClick → deploymentActions.js createDeployment: `devices`, `filter_id`,
      // `phases`, `autogenerate_delta` and `update_control_map` are undefined and JSON drops them.
      const gui = { artifact_name: artifact.name, all_devices: false, group, name: group, force_installation: false };
      const created = await mgmt('POST', `${D1}/deployments/group/${group}`, gui);
      assert.equal(created.statusCode, 201, created.body);
      const shown = await mgmt('GET', `${D1}/deployments/${String(created.headers.location).split('/').pop()}`);
      assert.deepEqual([shown.json().device_count, shown.json().groups], [1, [group]]);
      assert.equal((await mgmt('POST', `${D1}/deployments/group/${group}`, { ...gui, devices: [] })).statusCode, 201);

      for (const conflict of [{ all_devices: true }, { devices: [device.id] }]) {
        const refused = await mgmt('POST', `${D1}/deployments/group/${group}`, { ...gui, ...conflict });
        assert.equal(refused.statusCode, 400, JSON.stringify(conflict));
        assert.match(refused.json().error, /neither list of devices nor all_devices flag set/);
        assert.ok(refused.json().request_id);
      }
      const typed = await mgmt('POST', `${D1}/deployments/group/${group}`, { ...gui, all_devices: 'no' });
      assert.equal(typed.statusCode, 400);

      // A dynamic group: the same body with `filter_id` goes to v2 (all_devices is false there too).
      const filter = await mgmt('POST', '/api/management/v2/inventory/filters', {
        name: name(),
        terms: [{ scope: 'system', attribute: 'group', type: '$eq', value: group }],
      });
      assert.equal(filter.statusCode, 201, filter.body);
      const filterId = String(filter.headers.location).split('/').pop();
      const dynamic = await mgmt('POST', `${D2}/deployments`, {
        artifact_name: artifact.name,
        filter_id: filterId,
        all_devices: false,
        name: 'dynamic',
        force_installation: false,
      });
      assert.equal(dynamic.statusCode, 201, dynamic.body);
      const both = await mgmt('POST', `${D2}/deployments`, {
        artifact_name: artifact.name,
        filter_id: filterId,
        name: 'x',
        all_devices: true,
      });
      assert.equal(both.statusCode, 400);
    });

    test('3. iot-manager: no integrations, creating one refused with the reason, ids unknown', async () => {
      // organizationActions.js getIntegrations, on every full page load.
      const list = await mgmt('GET', `${IOT}/integrations`);
      assert.equal(list.statusCode, 200);
      assert.deepEqual(list.json(), []);
      // createIntegration posts { provider, credentials, ...remainder }.
      const create = await mgmt('POST', `${IOT}/integrations`, {
        provider: 'webhook',
        credentials: { type: 'http', http: { url: 'https://hooks.example.com/mender', secret: '' } },
        description: 'ci',
      });
      assert.equal(create.statusCode, 501);
      assert.match(create.json().error, /no IoT integrations/);
      assert.ok(create.json().request_id);
      assert.equal((await mgmt('GET', `${IOT}/integrations`)).json().length, 0, 'nothing half-written');
      const notJson = await t.app.inject({
        method: 'POST',
        url: `${IOT}/integrations`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: '[1,2',
      });
      assert.equal(notJson.statusCode, 400);
      assert.equal((await mgmt('POST', `${IOT}/integrations`, [1])).statusCode, 400);

      const someId = '0b6ab7a4-6ae1-4e1a-9a43-2b2bcd5ac2ff';
      assert.equal((await mgmt('GET', `${IOT}/integrations/${someId}`)).statusCode, 404);
      assert.equal((await mgmt('GET', `${IOT}/integrations/not-a-uuid`)).statusCode, 400);
      assert.equal((await mgmt('DELETE', `${IOT}/integrations/${someId}`)).statusCode, 404);
      assert.equal((await mgmt('PUT', `${IOT}/integrations/${someId}/credentials`, {})).statusCode, 404);
      const device = await addDevice(t);
      const state = await mgmt('GET', `${IOT}/devices/${device.id}/state`);
      assert.deepEqual([state.statusCode, state.json()], [200, {}]);
      assert.equal((await mgmt('GET', `${IOT}/devices/${someId}/state`)).statusCode, 404);
      assert.equal((await mgmt('GET', `${IOT}/devices/${device.id}/state/${someId}`)).statusCode, 404);
      assert.equal((await mgmt('PUT', `${IOT}/devices/${device.id}/state/x`, { desired: {} })).statusCode, 400);
      // getWebhookEvents
      const events = await mgmt('GET', `${IOT}/events?page=1&per_page=20`);
      assert.deepEqual([events.statusCode, events.json()], [200, []]);
      assert.equal((await mgmt('GET', `${IOT}/events?page=0&per_page=20`)).statusCode, 400);
      // Still behind the user guard.
      assert.equal((await t.app.inject({ method: 'GET', url: `${IOT}/integrations` })).statusCode, 401);
    });

    test('4. X-Total-Count on a device deployment history, and on every paged list the GUI counts', async () => {
      const device = await addDevice(t);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const artifact = await addArtifact(t, { name: name() });
        ids.push(
          await createDeployment(t, token, { name: artifact.name, artifact_name: artifact.name, devices: [device.id] }),
        );
        assert.equal((await nextV2(t, device, qemu)).statusCode, 200);
        if (i < 2) assert.equal((await report(t, device, ids[i], 'success')).statusCode, 204);
        else assert.equal((await report(t, device, ids[i], 'downloading')).statusCode, 204);
      }
      // deploymentActions.js getDeviceDeployments, unfiltered and with the "in progress" group as repeated keys.
      const all = await mgmt('GET', `${D1}/deployments/devices/${device.id}?page=1&per_page=2`);
      assert.equal(all.statusCode, 200, all.body);
      assert.equal(all.headers['x-total-count'], '3');
      assert.equal(all.json().length, 2);
      const second = await mgmt('GET', `${D1}/deployments/devices/${device.id}?page=2&per_page=2`);
      assert.deepEqual([second.headers['x-total-count'], second.json().length], ['3', 1]);
      const inProgress = await mgmt(
        'GET',
        `${D1}/deployments/devices/${device.id}?page=1&per_page=10&status=downloading&status=installing&status=rebooting`,
      );
      assert.equal(inProgress.statusCode, 200, inProgress.body);
      assert.equal(inProgress.headers['x-total-count'], '1');
      assert.equal(inProgress.json()[0].deployment.id, ids[2]);
      const successes = await mgmt('GET', `${D1}/deployments/devices/${device.id}?page=1&per_page=10&status=success`);
      assert.equal(successes.headers['x-total-count'], '2');
      assert.equal((await mgmt('GET', `${D1}/deployments/devices/${device.id}?page=NaN&per_page=10`)).statusCode, 400);

      // The other lists whose X-Total-Count the GUI reads (deploymentActions.js, deviceActions.js), as it asks.
      const lists = [
        mgmt('GET', `${D1}/deployments?status=finished&per_page=20&page=1&sort=desc`),
        mgmt('GET', `${D1}/deployments/${ids[2]}/devices/list?deployment_id=${ids[2]}&page=1&per_page=20`),
        mgmt('POST', '/api/management/v2/inventory/filters/search', {
          page: 1,
          per_page: 20,
          filters: [{ scope: 'identity', attribute: 'status', type: '$eq', value: 'accepted' }],
          sort: [],
          attributes: [{ scope: 'identity', attribute: 'status' }],
        }),
        mgmt('GET', `${D1}/artifacts/list?page=1&per_page=20`),
        mgmt('GET', `${D1}/deployments/releases/list?page=1&per_page=20`),
        mgmt('GET', `${D2}/deployments/releases?page=1&per_page=20`),
      ];
      for (const res of await Promise.all(lists)) {
        assert.equal(res.statusCode, 200, res.body);
        assert.match(String(res.headers['x-total-count']), /^\d+$/, `X-Total-Count on ${res.raw.req.url}`);
      }
    });

    test('5. the JWT cookie authenticates where a browser can set no header; a header, when sent, decides', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const cookie = `cookieconsent_status=dismissed; JWT=${token}; _ga=GA1.1`;
      const me = await t.app.inject({ method: 'GET', url: '/api/management/v1/useradm/users/me', headers: { cookie } });
      assert.equal(me.statusCode, 200, me.body);
      assert.equal(me.json().email, 'admin@example.com');
      // A release download: the browser follows the link with the cookie only.
      const download = await t.app.inject({
        method: 'GET',
        url: `${D1}/artifacts/${artifact.id}/download`,
        headers: { cookie },
      });
      assert.equal(download.statusCode, 200, download.body);
      const refused = async (headers: Record<string, string>) =>
        (await t.app.inject({ method: 'GET', url: '/api/management/v1/useradm/users/me', headers })).statusCode;
      assert.equal(await refused({ cookie: 'JWT=not.a.token' }), 401);
      assert.equal(await refused({ cookie: 'JWT=' }), 401);
      assert.equal(await refused({ cookie: `jwt=${token}` }), 401, 'the name is case-sensitive');
      // Mender reads the cookie only without an Authorization header.
      assert.equal(await refused({ cookie, authorization: 'Bearer not.a.token' }), 401);
      assert.equal(await refused({ cookie, authorization: 'Basic eDp5' }), 401);
      // A device token in the cookie is still a device token.
      const device = await addDevice(t);
      assert.equal(await refused({ cookie: `JWT=${device.token}` }), 403);

      assert.equal(jwtCookieOf(undefined), undefined);
      assert.equal(jwtCookieOf('a=1; b=2'), undefined);
      assert.equal(jwtCookieOf(`a=1;JWT=${token};b=2`), token);
    });

    test('6. limits/max_devices: -1 while unlimited, the number once set', async () => {
      const app = await testApp(dialect);
      try {
        const admin = await adminToken(app);
        const limit = () =>
          app.app.inject({
            method: 'GET',
            url: '/api/management/v2/devauth/limits/max_devices',
            headers: { authorization: `Bearer ${admin}` },
          });
        assert.deepEqual((await limit()).json(), { limit: -1 });
        await app.services.tenants.setMaxDevices(app.tenant.id, 5);
        assert.deepEqual((await limit()).json(), { limit: 5 });
      } finally {
        await app.close();
      }
    });

    test('7. $ltne: offline devices are those that checked in before the threshold or never', async () => {
      const app = await testApp(dialect);
      try {
        const admin = await adminToken(app);
        const [early, late, never] = [await addDevice(app), await addDevice(app), await addDevice(app)];
        const checkIn = (id: string, value: string) =>
          app.services.inventory.setAttributes(
            app.tenant.id,
            id,
            'system',
            [{ name: 'check_in_time', value }],
            'merge',
          );
        await checkIn(early.id, '2026-12-01T08:00:00.000Z');
        await checkIn(late.id, '2026-12-06T08:00:00.000Z');
        // deviceConstants.js DEVICE_ISSUE_OPTIONS.offline through deviceActions.js getDevicesByStatus.
        const search = await app.app.inject({
          method: 'POST',
          url: '/api/management/v2/inventory/filters/search',
          headers: { authorization: `Bearer ${admin}` },
          payload: {
            page: 1,
            per_page: 20,
            filters: [
              { scope: 'identity', attribute: 'status', type: '$eq', value: 'accepted' },
              { scope: 'system', attribute: 'check_in_time', type: '$ltne', value: '2026-12-05T08:00:00.000Z' },
            ],
            sort: [],
            attributes: [{ scope: 'system', attribute: 'check_in_time' }],
          },
        });
        assert.equal(search.statusCode, 200, search.body);
        assert.deepEqual(
          search
            .json()
            .map((d: { id: string }) => d.id)
            .sort(),
          [early.id, never.id].sort(),
        );
        assert.equal(search.headers['x-total-count'], '2');
        assert.ok(!search.json().some((d: { id: string }) => d.id === late.id));
      } finally {
        await app.close();
      }
    });

    test('7. tenantadm/user/tenant: the open edition tenant, without plan, trial or addons', async () => {
      // organizationActions.js getUserOrganization
      const res = await mgmt('GET', '/api/management/v1/tenantadm/user/tenant');
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), {
        id: t.tenant.id,
        name: t.tenant.name,
        tenant_token: t.tenant.tenant_token,
        status: 'active',
      });
      assert.equal(
        (await t.app.inject({ method: 'GET', url: '/api/management/v1/tenantadm/user/tenant' })).statusCode,
        401,
      );
    });
  });

  describe(`2. links the server hands out (${dialect})`, () => {
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'updates.example.com:8443' };

    /** The artifact download link, a device's download link, a DDI link and a direct-upload link, from `t`. */
    async function links(t: TestApp, headers: Record<string, string>) {
      const admin = await adminToken(t);
      const mgmt = (method: 'GET' | 'POST', url: string) =>
        t.app.inject({ method, url, headers: { authorization: `Bearer ${admin}`, ...headers } });
      const artifact = await addArtifact(t, { name: 'linked' });
      const device = await addDevice(t);
      await createDeployment(t, admin, { name: 'l', artifact_name: artifact.name, devices: [device.id] });
      const next = await t.app.inject({
        method: 'POST',
        url: '/api/devices/v2/deployments/device/deployments/next',
        headers: { authorization: `Bearer ${device.token}`, ...headers },
        payload: { device_provides: qemu, update_control_map: true },
      });
      assert.equal(next.statusCode, 200, next.body);
      const target = await ddiTarget(t, admin, 'linked-1');
      const poll = await t.app.inject({
        method: 'GET',
        url: '/DEFAULT/controller/v1/linked-1',
        headers: { authorization: `TargetToken ${target.token}`, ...headers },
      });
      assert.equal(poll.statusCode, 200, poll.body);
      return {
        download: (await mgmt('GET', `${D1}/artifacts/${artifact.id}/download`)).json().uri as string,
        device: next.json().artifact.source.uri as string,
        ddi: poll.json()._links.configData.href as string,
        upload: (await mgmt('POST', `${D1}/artifacts/directupload`)).json().uri as string,
      };
    }

    test('FLOTILLA_PUBLIC_URL starts every link, whatever the request says', async () => {
      const t = await testApp(dialect, { publicUrl: 'https://fleet.example.com/flotilla' });
      try {
        for (const [kind, uri] of Object.entries(await links(t, forwarded))) {
          assert.ok(uri.startsWith('https://fleet.example.com/flotilla/'), `${kind}: ${uri}`);
        }
      } finally {
        await t.close();
      }
    });

    test('behind a trusted proxy (loopback by default) the links take X-Forwarded-Proto and -Host', async () => {
      const t = await testApp(dialect);
      try {
        const got = await links(t, forwarded);
        assert.match(got.download, /^https:\/\/updates\.example\.com:8443\/api\/downloads\//);
        assert.match(got.device, /^https:\/\/updates\.example\.com:8443\/api\/downloads\//);
        assert.equal(got.ddi, 'https://updates.example.com:8443/DEFAULT/controller/v1/linked-1/configData');
        assert.match(got.upload, /^https:\/\/updates\.example\.com:8443\/api\/uploads\//);
      } finally {
        await t.close();
      }
    });

    test('from a peer that is not trusted, the forwarded headers are ignored', async () => {
      const t = await testApp(dialect, { trustProxy: false });
      try {
        for (const [kind, uri] of Object.entries(await links(t, forwarded))) {
          assert.ok(uri.startsWith('http://localhost:80/'), `${kind}: ${uri}`);
        }
      } finally {
        await t.close();
      }
    });
  });
}
