// The Mender deployments management API through inject, on both dialects: create for a device list, all devices,
// a group and a saved filter (dynamic: devices that match later join when they poll), lists with filters and
// paging headers, statistics lists, devices of a deployment, aborting a device's deployments, decommissioning,
// the artifacts' usage questions and configuration deployments.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../../test/support/app.js';
import {
  addArtifact,
  createDeployment,
  deployment,
  managementCaller,
  nextV2,
  report,
  statistics,
} from '../../../test/support/deployment-fixtures.js';
import { addDevice } from '../../../test/support/inventory-fixtures.js';

const MGMT = '/api/management/v1/deployments/deployments';
const MGMT2 = '/api/management/v2/deployments/deployments';
const qemu = { device_type: 'qemu', artifact_name: 'release-1' };

for (const dialect of dialects) {
  describe(`deployments management (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let uniq = 0;
    const name = () => `mgmt-${++uniq}`;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());

    const mgmt = managementCaller(
      () => t,
      () => token,
    );

    test('create: validation, 422 without artifacts, Location header', async () => {
      const device = await addDevice(t);
      const blank = await mgmt('POST', MGMT, { name: 'x', artifact_name: 'nothing', devices: [] });
      assert.equal(blank.statusCode, 400);
      assert.ok(blank.json().request_id);
      const noArtifact = await mgmt('POST', MGMT, { name: 'x', artifact_name: 'nothing', devices: [device.id] });
      assert.equal(noArtifact.statusCode, 422);
      const artifact = await addArtifact(t, { name: name() });
      const ok = await mgmt('POST', MGMT, { name: 'x', artifact_name: artifact.name, devices: [device.id] });
      assert.equal(ok.statusCode, 201);
      assert.match(String(ok.headers.location), new RegExp(`^${MGMT}/[0-9a-f-]{36}$`));
      const both = await mgmt('POST', MGMT, {
        name: 'x',
        artifact_name: artifact.name,
        devices: [device.id],
        all_devices: true,
      });
      assert.equal(both.statusCode, 400);
    });

    test('create for all devices and for a group resolves the devices at creation', async () => {
      const app = await testApp(dialect);
      try {
        const adminT = await adminToken(app);
        const a = await addDevice(app);
        const b = await addDevice(app);
        await addDevice(app, { status: 'pending' });
        await app.services.inventory.setDeviceGroup(app.tenant.id, a.id, { group: 'lab' });
        const artifact = await addArtifact(app, { name: 'grouped' });
        const all = await createDeployment(app, adminT, {
          name: 'all',
          artifact_name: artifact.name,
          all_devices: true,
        });
        assert.equal((await deployment(app, adminT, all)).device_count, 2);
        const group = await createDeployment(
          app,
          adminT,
          { name: 'g', artifact_name: artifact.name },
          `${MGMT}/group/lab`,
        );
        const shown = await deployment(app, adminT, group);
        assert.equal(shown.device_count, 1);
        assert.deepEqual(shown.groups, ['lab']);
        const ids = await app.app.inject({
          method: 'GET',
          url: `${MGMT}/${group}/device_list`,
          headers: { authorization: `Bearer ${adminT}` },
        });
        assert.deepEqual(ids.json(), [a.id]);
        const empty = await app.app.inject({
          method: 'POST',
          url: `${MGMT}/group/nobody`,
          headers: { authorization: `Bearer ${adminT}` },
          payload: { name: 'g', artifact_name: artifact.name },
        });
        assert.equal(empty.statusCode, 400);
        // b is in the all-devices deployment only; a gets the older one first.
        assert.equal((await nextV2(app, a, qemu)).json().id, all);
        assert.equal((await nextV2(app, b, qemu)).json().id, all);
      } finally {
        await app.close();
      }
    });

    test('create for a saved filter: dynamic, devices that match later join when they poll; max_devices', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const early = await addDevice(t);
      const tenantId = t.tenant.id;
      const filterName = `f-${uniq}`;
      const value = `blue-${uniq}`;
      await t.services.inventory.setAttributes(tenantId, early.id, 'inventory', [{ name: 'color', value }], 'merge');
      const filter = await t.services.inventory.createFilter(tenantId, {
        name: filterName,
        terms: [{ scope: 'inventory', attribute: 'color', type: '$eq', value }],
      });
      const id = await createDeployment(
        t,
        token,
        { name: 'dyn', artifact_name: artifact.name, filter_id: filter.id, max_devices: 2 },
        MGMT2,
      );
      let shown = await deployment(t, token, id);
      assert.equal(shown.dynamic, true);
      assert.equal(shown.initial_device_count, 1);
      assert.equal(shown.device_count, 0);
      assert.equal(shown.filter.id, filter.id);

      const late = await addDevice(t);
      const nonMatching = await addDevice(t);
      assert.equal((await nextV2(t, nonMatching, qemu)).statusCode, 204);
      await t.services.inventory.setAttributes(tenantId, late.id, 'inventory', [{ name: 'color', value }], 'merge');
      assert.equal((await nextV2(t, early, qemu)).json().id, id);
      assert.equal((await nextV2(t, late, qemu)).json().id, id);
      shown = await deployment(t, token, id);
      assert.equal(shown.device_count, 2);
      assert.equal(shown.status, 'pending');
      assert.equal((await report(t, early, id, 'success')).statusCode, 204);
      assert.equal((await deployment(t, token, id)).status, 'inprogress');
      assert.equal((await report(t, late, id, 'failure')).statusCode, 204);
      // max_devices finished devices: the dynamic deployment is finished; a third matching device gets nothing.
      assert.equal((await deployment(t, token, id)).status, 'finished');
      const third = await addDevice(t);
      await t.services.inventory.setAttributes(tenantId, third.id, 'inventory', [{ name: 'color', value }], 'merge');
      assert.equal((await nextV2(t, third, qemu)).statusCode, 204);

      const unknownFilter = await mgmt('POST', MGMT2, {
        name: 'x',
        artifact_name: artifact.name,
        filter_id: '00000000-0000-4000-8000-000000000000',
      });
      assert.equal(unknownFilter.statusCode, 400);
    });

    test('lists: status/type/search filters, sort, paging headers; v2 by id and name; statistics list', async () => {
      const app = await testApp(dialect);
      try {
        const adminT = await adminToken(app);
        const device = await addDevice(app);
        const artifact = await addArtifact(app, { name: 'listed' });
        const ids: string[] = [];
        for (const n of ['alpha', 'beta', 'gamma']) {
          ids.push(
            await createDeployment(app, adminT, { name: n, artifact_name: artifact.name, devices: [device.id] }),
          );
        }
        const get = (url: string) =>
          app.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${adminT}` } });
        const page1 = await get(`${MGMT}?per_page=2&page=1`);
        assert.equal(page1.statusCode, 200);
        assert.equal(page1.headers['x-total-count'], '3');
        assert.deepEqual(
          page1.json().map((d: { name: string }) => d.name),
          ['gamma', 'beta'],
        );
        assert.match(String(page1.headers.link), /rel="next"/);
        const asc = await get(`${MGMT}?sort=asc`);
        assert.deepEqual(
          asc.json().map((d: { name: string }) => d.name),
          ['alpha', 'beta', 'gamma'],
        );
        assert.deepEqual(
          (await get(`${MGMT}?search=AMM`)).json().map((d: { name: string }) => d.name),
          ['gamma'],
        );
        await app.app.inject({
          method: 'PUT',
          url: `${MGMT}/${ids[0]}/status`,
          headers: { authorization: `Bearer ${adminT}` },
          payload: { status: 'aborted' },
        });
        assert.deepEqual(
          (await get(`${MGMT}?status=finished`)).json().map((d: { name: string }) => d.name),
          ['alpha'],
        );
        assert.equal((await get(`${MGMT}?status=pending`)).json().length, 2);
        assert.equal((await get(`${MGMT}?type=configuration`)).json().length, 0);
        assert.equal((await get(`${MGMT}?status=bogus`)).statusCode, 400);
        const v2 = await get(`${MGMT2}?id=${ids[1]}&id=${ids[2]}&sort=asc`);
        assert.deepEqual(
          v2.json().map((d: { name: string }) => d.name),
          ['beta', 'gamma'],
        );
        assert.deepEqual(
          (await get(`${MGMT2}?name=beta`)).json().map((d: { id: string }) => d.id),
          [ids[1]],
        );
        const stats = await app.app.inject({
          method: 'POST',
          url: `${MGMT}/statistics/list`,
          headers: { authorization: `Bearer ${adminT}` },
          payload: { deployment_ids: [ids[0], ids[1]] },
        });
        assert.equal(stats.statusCode, 200);
        assert.deepEqual(
          stats
            .json()
            .map((s: { id: string; stats: Record<string, number> }) => [s.id, s.stats.aborted, s.stats.pending]),
          [
            [ids[0], 1, 0],
            [ids[1], 0, 1],
          ],
        );
        const empty = await app.app.inject({
          method: 'POST',
          url: `${MGMT}/statistics/list`,
          headers: { authorization: `Bearer ${adminT}` },
          payload: { deployment_ids: [] },
        });
        assert.equal(empty.statusCode, 400);
      } finally {
        await app.close();
      }
    });

    test('DELETE /deployments/devices/{id} aborts the device everywhere; decommissioning ends its deployments', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const device = await addDevice(t);
      const peer = await addDevice(t);
      const first = await createDeployment(t, token, {
        name: 'one',
        artifact_name: artifact.name,
        devices: [device.id, peer.id],
      });
      const second = await createDeployment(t, token, {
        name: 'two',
        artifact_name: artifact.name,
        devices: [device.id],
      });
      assert.equal((await mgmt('DELETE', `${MGMT}/devices/${device.id}`)).statusCode, 204);
      assert.equal((await statistics(t, token, first)).aborted, 1);
      assert.equal((await statistics(t, token, first)).pending, 1);
      assert.equal((await statistics(t, token, second)).aborted, 1);
      assert.equal((await deployment(t, token, first)).status, 'inprogress');
      // Its only device is done (aborted): the second deployment is finished.
      assert.equal((await deployment(t, token, second)).status, 'finished');
      assert.equal((await nextV2(t, device, qemu)).statusCode, 204);

      await t.services.deployments.decommissionDevice(t.tenant.id, peer.id);
      assert.equal((await statistics(t, token, first)).decommissioned, 1);
      assert.equal((await statistics(t, token, first)).pending, 0);
      assert.equal((await report(t, peer, first, 'installing')).statusCode, 409);
      const history = await mgmt('GET', `${MGMT}/devices/${device.id}?status=aborted`);
      assert.deepEqual(
        history
          .json()
          .map((h: { deployment: { id: string } }) => h.deployment.id)
          .sort(),
        [first, second].sort(),
      );
    });

    test('DELETE /deployments/devices/{id}/history: finished rows leave the history, running deployments come again', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const device = await addDevice(t);
      const peer = await addDevice(t);
      const running = await createDeployment(t, token, {
        name: 'running',
        artifact_name: artifact.name,
        devices: [device.id, peer.id],
      });
      assert.equal((await nextV2(t, device, qemu)).json().id, running);
      assert.equal((await report(t, device, running, 'failure')).statusCode, 204);
      const done = await createDeployment(t, token, {
        name: 'done',
        artifact_name: artifact.name,
        devices: [device.id],
      });
      // The device already runs the artifact: already-installed finishes the second deployment.
      assert.equal((await nextV2(t, device, { ...qemu, artifact_name: artifact.name })).statusCode, 204);
      assert.equal((await deployment(t, token, done)).status, 'finished');
      assert.equal((await nextV2(t, device, qemu)).statusCode, 204, 'a failed device gets nothing more');
      assert.equal((await mgmt('GET', `${MGMT}/devices/${device.id}`)).json().length, 2);

      assert.equal((await mgmt('DELETE', `${MGMT}/devices/${device.id}/history`)).statusCode, 204);
      const history = (await mgmt('GET', `${MGMT}/devices/${device.id}`)).json() as {
        deployment: { id: string };
        device: { status: string };
      }[];
      assert.deepEqual(
        history.map((h) => [h.deployment.id, h.device.status]),
        [[running, 'pending']],
      );
      assert.equal((await statistics(t, token, done))['already-installed'], 1, 'statistics keep what happened');
      assert.deepEqual(
        [(await statistics(t, token, running)).failure, (await statistics(t, token, running)).pending],
        [0, 2],
      );
      const again = await nextV2(t, device, qemu);
      assert.equal(again.statusCode, 200);
      assert.equal(again.json().id, running);
      // A device without history, or unknown: nothing to reset, still 204 (the spec has no 404).
      assert.equal((await mgmt('DELETE', `${MGMT}/devices/${peer.id}/history`)).statusCode, 204);
      assert.equal((await mgmt('DELETE', `${MGMT}/devices/no-such-device/history`)).statusCode, 204);
    });

    test('artifact usage: active deployments block deletion; use is remembered', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const unused = await addArtifact(t, { name: name() });
      const device = await addDevice(t);
      const id = await createDeployment(t, token, { name: 'u', artifact_name: artifact.name, devices: [device.id] });
      const usage = t.services.deployments;
      assert.deepEqual(await usage.activeDeploymentsUsing(t.tenant.id, [artifact.id]), [id]);
      assert.deepEqual(await usage.activeDeploymentsUsing(t.tenant.id, [unused.id]), []);
      assert.equal(await usage.everUsed(t.tenant.id, artifact.id), true);
      assert.equal(await usage.everUsed(t.tenant.id, unused.id), false);
      await mgmt('PUT', `${MGMT}/${id}/status`, { status: 'aborted' });
      assert.deepEqual(await usage.activeDeploymentsUsing(t.tenant.id, [artifact.id]), []);
      assert.equal(await usage.everUsed(t.tenant.id, artifact.id), true);
    });

    test('configuration deployment: instructions with a signed link serving a mender-configure artifact', async () => {
      const device = await addDevice(t);
      const id = await t.services.deployments.createConfigurationDeployment(t.tenant.id, device.id, { mode: 'eco' });
      const next = await nextV2(t, device, qemu);
      assert.equal(next.statusCode, 200);
      const body = next.json();
      assert.equal(body.id, id);
      assert.deepEqual(body.artifact.device_types_compatible, ['qemu']);
      const url = new URL(body.artifact.source.uri);
      assert.equal(url.pathname, `/api/devices/v1/deployments/download/configuration/${id}/qemu/${device.id}`);
      // The route is open in the guard (no device token); a device token is sent here only until the guard knows it.
      const download = await t.app.inject({
        method: 'GET',
        url: `${url.pathname}${url.search}`,
        headers: { authorization: `Bearer ${device.token}` },
      });
      assert.equal(download.statusCode, 200, download.body);
      assert.ok(download.rawPayload.length > 0);
      const tampered = new URLSearchParams(url.search);
      tampered.set('tenant_id', 'someone-else');
      const refused = await t.app.inject({
        method: 'GET',
        url: `${url.pathname}?${tampered.toString()}`,
        headers: { authorization: `Bearer ${device.token}` },
      });
      assert.equal(refused.statusCode, 403);
      assert.equal((await report(t, device, id, 'success')).statusCode, 204);
      const shown = await deployment(t, token, id);
      assert.equal(shown.type, 'configuration');
      assert.equal(shown.configuration, '{"mode":"eco"}');
      assert.equal(shown.status, 'finished');
    });
  });
}
