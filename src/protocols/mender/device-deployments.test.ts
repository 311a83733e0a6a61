// The Mender device deployments API through inject, on both dialects: the full device flow with statistics and the
// derived deployment status at each step, already-installed, noartifact, failure with its log, retries, abort,
// control maps, phases, the failure-threshold pause, bad reports and tenant isolation.
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
import { addDevice, type TestDevice } from '../../../test/support/inventory-fixtures.js';

const MGMT = '/api/management/v1/deployments/deployments';
const DEV = '/api/devices/v1/deployments/device/deployments';
const provides = (artifactName = 'release-1', deviceType = 'qemu') => ({
  device_type: deviceType,
  artifact_name: artifactName,
});

for (const dialect of dialects) {
  describe(`device deployments (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let uniq = 0;
    const name = () => `app-${++uniq}`;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());

    const mgmt = managementCaller(
      () => t,
      () => token,
    );

    test('full flow: next → downloading → installing → rebooting → success, statistics agree at each step', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const device = await addDevice(t);
      const id = await createDeployment(t, token, { name: 'd', artifact_name: artifact.name, devices: [device.id] });
      assert.equal((await deployment(t, token, id)).status, 'pending');
      assert.equal((await statistics(t, token, id)).pending, 1);

      const next = await nextV2(t, device, provides());
      assert.equal(next.statusCode, 200);
      const body = next.json();
      assert.equal(body.id, id);
      assert.equal(body.artifact.artifact_name, artifact.name);
      assert.deepEqual(body.artifact.device_types_compatible, ['qemu']);
      assert.match(body.artifact.source.uri, /^http:\/\/localhost(:\d+)?\/api\/downloads\/v1\/.*signature=/);
      assert.ok(Date.parse(body.artifact.source.expire) > Date.now());
      assert.equal(body.update_control_map, undefined);

      for (const status of ['downloading', 'installing', 'rebooting']) {
        const res = await report(t, device, id, status);
        assert.equal(res.statusCode, 204, res.body);
        assert.equal(res.body, '');
        const stats = await statistics(t, token, id);
        assert.equal(stats[status], 1);
        assert.equal(stats.pending, 0);
        assert.equal((await deployment(t, token, id)).status, 'inprogress');
      }
      // The same status again changes nothing and still answers 204.
      assert.equal((await report(t, device, id, 'rebooting')).statusCode, 204);
      assert.equal((await report(t, device, id, 'success')).statusCode, 204);
      const stats = await statistics(t, token, id);
      assert.equal(stats.success, 1);
      assert.equal(stats.rebooting, 0);
      const shown = await deployment(t, token, id);
      assert.equal(shown.status, 'finished');
      assert.ok(shown.finished);
      assert.equal(shown.statistics.status.success, 1);
      // Nothing more to do.
      assert.equal((await nextV2(t, device, provides(artifact.name))).statusCode, 204);

      const devices = await mgmt('GET', `${MGMT}/${id}/devices/list?status=success`);
      assert.equal(devices.statusCode, 200);
      assert.equal(devices.headers['x-total-count'], '1');
      const [row] = devices.json();
      assert.equal(row.id, device.id);
      assert.equal(row.status, 'success');
      assert.equal(row.device_type, 'qemu');
      assert.equal(row.image.id, artifact.id);
      assert.ok(row.started && row.finished);

      const history = await mgmt('GET', `${MGMT}/devices/${device.id}`);
      assert.equal(history.statusCode, 200);
      assert.equal(history.json()[0].deployment.id, id);
      assert.equal(history.json()[0].device.status, 'success');
    });

    test('v1 GET and v1 POST next answer the same instructions', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const device = await addDevice(t);
      const id = await createDeployment(t, token, { name: 'd', artifact_name: artifact.name, devices: [device.id] });
      const get = await t.app.inject({
        method: 'GET',
        url: `${DEV}/next?artifact_name=release-1&device_type=qemu`,
        headers: { authorization: `Bearer ${device.token}` },
      });
      assert.equal(get.statusCode, 200);
      assert.equal(get.json().id, id);
      const post = await t.app.inject({
        method: 'POST',
        url: `${DEV}/next`,
        headers: { authorization: `Bearer ${device.token}` },
        payload: provides(),
      });
      assert.equal(post.statusCode, 200);
      assert.equal(post.json().artifact.id, artifact.id);
    });

    test('already-installed and noartifact finish the device with 204', async () => {
      const artifact = await addArtifact(t, { name: name(), deviceTypes: ['qemu'] });
      const same = await addDevice(t);
      const other = await addDevice(t);
      const id = await createDeployment(t, token, {
        name: 'd',
        artifact_name: artifact.name,
        devices: [same.id, other.id],
      });
      assert.equal((await nextV2(t, same, provides(artifact.name))).statusCode, 204);
      assert.equal((await nextV2(t, other, provides('release-1', 'raspberrypi'))).statusCode, 204);
      const stats = await statistics(t, token, id);
      assert.equal(stats['already-installed'], 1);
      assert.equal(stats.noartifact, 1);
      assert.equal(stats.pending, 0);
      assert.equal((await deployment(t, token, id)).status, 'finished');
    });

    test('failure: the log is retrievable as text', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const device = await addDevice(t);
      const id = await createDeployment(t, token, { name: 'd', artifact_name: artifact.name, devices: [device.id] });
      assert.equal((await nextV2(t, device, provides())).statusCode, 200);
      assert.equal((await report(t, device, id, 'installing')).statusCode, 204);
      const log = await t.app.inject({
        method: 'PUT',
        url: `${DEV}/${id}/log`,
        headers: { authorization: `Bearer ${device.token}` },
        payload: {
          messages: [
            { timestamp: '2024-01-01T10:00:00Z', level: 'info', message: 'installing' },
            { timestamp: '2024-01-01T10:00:01Z', level: 'error', message: 'disk full' },
          ],
        },
      });
      assert.equal(log.statusCode, 204, log.body);
      assert.equal((await report(t, device, id, 'failure')).statusCode, 204);
      assert.equal((await statistics(t, token, id)).failure, 1);
      assert.equal((await deployment(t, token, id)).status, 'finished');
      const text = await mgmt('GET', `${MGMT}/${id}/devices/${device.id}/log`);
      assert.equal(text.statusCode, 200);
      assert.match(String(text.headers['content-type']), /^text\/plain/);
      assert.equal(text.body, '2024-01-01T10:00:00Z info: installing\n2024-01-01T10:00:01Z error: disk full\n');
      const listed = (await mgmt('GET', `${MGMT}/${id}/devices`)).json();
      assert.equal(listed[0].log, true);
      // A log without messages is a 400 with Mender's error body.
      const bad = await t.app.inject({
        method: 'PUT',
        url: `${DEV}/${id}/log`,
        headers: { authorization: `Bearer ${device.token}` },
        payload: { messages: [] },
      });
      assert.equal(bad.statusCode, 400);
      assert.equal(typeof bad.json().error, 'string');
    });

    test('retries: a failure with retries left sends the device the same deployment again', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const device = await addDevice(t);
      const id = await createDeployment(t, token, {
        name: 'd',
        artifact_name: artifact.name,
        devices: [device.id],
        retries: 1,
      });
      assert.equal((await nextV2(t, device, provides())).statusCode, 200);
      assert.equal((await report(t, device, id, 'installing')).statusCode, 204);
      assert.equal((await report(t, device, id, 'failure')).statusCode, 204);
      let stats = await statistics(t, token, id);
      assert.equal(stats.failure, 0);
      assert.equal(stats.pending, 1);
      const again = await nextV2(t, device, provides());
      assert.equal(again.statusCode, 200);
      assert.equal(again.json().id, id);
      assert.equal((await report(t, device, id, 'failure')).statusCode, 204);
      stats = await statistics(t, token, id);
      assert.equal(stats.failure, 1);
      assert.equal((await deployment(t, token, id)).status, 'finished');
      const [row] = (await mgmt('GET', `${MGMT}/${id}/devices`)).json();
      assert.equal(row.attempts, 2);
    });

    test('abort: 409 on the next status report, 404 on update_control_map, nothing more to do', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const device = await addDevice(t);
      const id = await createDeployment(t, token, {
        name: 'd',
        artifact_name: artifact.name,
        devices: [device.id],
        update_control_map: { priority: 1, states: { ArtifactInstall_Enter: { action: 'pause' } } },
      });
      assert.equal((await nextV2(t, device, provides())).statusCode, 200);
      assert.equal((await report(t, device, id, 'downloading')).statusCode, 204);
      const map = await t.app.inject({
        method: 'GET',
        url: `/api/devices/v2/deployments/device/deployments/${id}/update_control_map`,
        headers: { authorization: `Bearer ${device.token}` },
      });
      assert.equal(map.statusCode, 200);
      assert.equal(map.json().update_control_map.id, id);

      assert.equal((await mgmt('PUT', `${MGMT}/${id}/status`, { status: 'aborted' })).statusCode, 204);
      const refused = await report(t, device, id, 'installing');
      assert.equal(refused.statusCode, 409);
      assert.equal(refused.json().error, 'Deployment aborted');
      const gone = await t.app.inject({
        method: 'GET',
        url: `/api/devices/v2/deployments/device/deployments/${id}/update_control_map`,
        headers: { authorization: `Bearer ${device.token}` },
      });
      assert.equal(gone.statusCode, 404);
      assert.equal((await nextV2(t, device, provides())).statusCode, 204);
      assert.equal((await statistics(t, token, id)).aborted, 1);
      assert.equal((await deployment(t, token, id)).status, 'finished');
      // A second abort: the deployment is already finished.
      assert.equal((await mgmt('PUT', `${MGMT}/${id}/status`, { status: 'aborted' })).statusCode, 422);
    });

    test('control map: PATCH then the device fetches it; a pause is counted in statistics', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const device = await addDevice(t);
      const id = await createDeployment(t, token, {
        name: 'd',
        artifact_name: artifact.name,
        devices: [device.id],
        update_control_map: { id: 'ignored', priority: 0, states: { ArtifactInstall_Enter: { action: 'pause' } } },
      });
      const next = await nextV2(t, device, provides());
      assert.deepEqual(next.json().update_control_map, {
        id,
        priority: 0,
        states: { ArtifactInstall_Enter: { action: 'pause' } },
      });
      // A device that does not say it supports maps gets none.
      const patched = await mgmt('PATCH', `${MGMT}/${id}`, {
        update_control_map: { priority: 2, states: { ArtifactInstall_Enter: { action: 'continue' } } },
      });
      assert.equal(patched.statusCode, 204, patched.body);
      assert.equal((await report(t, device, id, 'pause_before_installing')).statusCode, 204);
      assert.equal((await statistics(t, token, id)).pause_before_installing, 1);
      const map = await t.app.inject({
        method: 'GET',
        url: `/api/devices/v2/deployments/device/deployments/${id}/update_control_map`,
        headers: { authorization: `Bearer ${device.token}` },
      });
      assert.equal(map.statusCode, 200);
      assert.deepEqual(map.json(), {
        update_control_map: { id, priority: 2, states: { ArtifactInstall_Enter: { action: 'continue' } } },
      });
      // Unknown fields are refused (the client would reject the whole map).
      const bad = await mgmt('PATCH', `${MGMT}/${id}`, { update_control_map: { priority: 1, foo: 1 } });
      assert.equal(bad.statusCode, 400);
      // No map on the deployment: 409.
      const plain = await createDeployment(t, token, { name: 'p', artifact_name: artifact.name, devices: [device.id] });
      const conflict = await mgmt('PATCH', `${MGMT}/${plain}`, { update_control_map: { priority: 1 } });
      assert.equal(conflict.statusCode, 409);
    });

    test('phases: the second phase gets 204 before its start, the first phase installs', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const devices: TestDevice[] = [];
      for (let i = 0; i < 10; i++) devices.push(await addDevice(t));
      const future = new Date(Date.now() + 3600_000).toISOString();
      const id = await createDeployment(t, token, {
        name: 'phased',
        artifact_name: artifact.name,
        devices: devices.map((d) => d.id),
        phases: [{ batch_size: 30 }, { start_ts: future }],
      });
      const answers: number[] = [];
      for (const device of devices) answers.push((await nextV2(t, device, provides())).statusCode);
      assert.deepEqual(answers, [200, 200, 200, 204, 204, 204, 204, 204, 204, 204]);
      const shown = await deployment(t, token, id);
      assert.deepEqual(
        shown.phases.map((p: { batch_size: number; device_count: number }) => [p.batch_size, p.device_count]),
        [
          [30, 3],
          [70, 0],
        ],
      );
      // A phased deployment whose first phase lies in the future is "scheduled".
      const later = await createDeployment(t, token, {
        name: 'later',
        artifact_name: artifact.name,
        devices: devices.map((d) => d.id),
        phases: [{ batch_size: 50, start_ts: future }, { start_ts: new Date(Date.now() + 7200_000).toISOString() }],
      });
      assert.equal((await deployment(t, token, later)).status, 'scheduled');
      // Phases whose start is in the past are open: a fresh deployment with both phases started serves everyone.
      const others: TestDevice[] = [];
      for (let i = 0; i < 4; i++) others.push(await addDevice(t));
      await createDeployment(t, token, {
        name: 'open',
        artifact_name: artifact.name,
        devices: others.map((d) => d.id),
        phases: [
          { batch_size: 50, start_ts: new Date(Date.now() - 7200_000).toISOString() },
          { start_ts: new Date(Date.now() - 3600_000).toISOString() },
        ],
      });
      for (const device of others) assert.equal((await nextV2(t, device, provides())).statusCode, 200);
      // Invalid phases: 400.
      const bad = await mgmt('POST', MGMT, {
        name: 'bad',
        artifact_name: artifact.name,
        devices: others.map((d) => d.id),
        phases: [{ batch_size: 10 }, { batch_size: 10 }],
      });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.json().error, /start_ts is required/);
    });

    test('failure threshold: the rollout pauses, devices that did not start wait, resume lets them go', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const devices: TestDevice[] = [];
      for (let i = 0; i < 4; i++) devices.push(await addDevice(t));
      const id = await createDeployment(t, token, {
        name: 'safe',
        artifact_name: artifact.name,
        devices: devices.map((d) => d.id),
        phases: [{ batch_size: 50, failure_threshold: 0.4 }, { start_ts: new Date(Date.now() - 1000).toISOString() }],
      });
      assert.equal((await nextV2(t, devices[0], provides())).statusCode, 200);
      assert.equal((await nextV2(t, devices[1], provides())).statusCode, 200);
      assert.equal((await report(t, devices[0], id, 'failure')).statusCode, 204);
      // 1 failure of 2 devices exceeds 0.4: paused.
      assert.equal((await deployment(t, token, id)).paused, true);
      assert.equal((await nextV2(t, devices[2], provides())).statusCode, 204);
      // A device that already started carries on.
      assert.equal((await report(t, devices[1], id, 'success')).statusCode, 204);
      assert.equal((await mgmt('PUT', `${MGMT}/${id}/status`, { status: 'inprogress' })).statusCode, 204);
      assert.equal((await deployment(t, token, id)).paused, undefined);
      assert.equal((await nextV2(t, devices[2], provides())).statusCode, 200);
      // Resuming a deployment that is not paused: 422.
      assert.equal((await mgmt('PUT', `${MGMT}/${id}/status`, { status: 'inprogress' })).statusCode, 422);
    });

    test('bad reports, unknown deployments, devices not in the deployment', async () => {
      const artifact = await addArtifact(t, { name: name() });
      const device = await addDevice(t);
      const stranger = await addDevice(t);
      const id = await createDeployment(t, token, { name: 'd', artifact_name: artifact.name, devices: [device.id] });
      const unknown = await report(t, device, id, 'bogus');
      assert.equal(unknown.statusCode, 400);
      assert.equal(unknown.json().error, "invalid status for device 'bogus'");
      assert.ok(unknown.json().request_id);
      const serverOnly = await report(t, device, id, 'aborted');
      assert.equal(serverOnly.statusCode, 400);
      assert.equal(serverOnly.json().error, 'status: must be a valid value.');
      const notMine = await report(t, stranger, id, 'installing');
      assert.equal(notMine.statusCode, 404);
      assert.ok(notMine.json().error);
      const missing = await report(t, device, '00000000-0000-4000-8000-000000000000', 'installing');
      assert.equal(missing.statusCode, 404);
      const v2Bad = await t.app.inject({
        method: 'POST',
        url: '/api/devices/v2/deployments/device/deployments/next',
        headers: { authorization: `Bearer ${device.token}` },
        payload: { device_provides: { device_type: 'qemu' } },
      });
      assert.equal(v2Bad.statusCode, 400);
      // A device in the middle of an update that asks with different data: failure and 409.
      assert.equal((await nextV2(t, device, provides())).statusCode, 200);
      assert.equal((await report(t, device, id, 'installing')).statusCode, 204);
      const conflicting = await nextV2(t, device, provides('something-else'));
      assert.equal(conflicting.statusCode, 409);
      assert.equal((await statistics(t, token, id)).failure, 1);
    });

    test('tenant isolation: another tenant sees nothing and its devices get nothing', async () => {
      const other = await t.services.tenants.create(`other-${dialect}`, `other-${dialect}`);
      const artifact = await addArtifact(t, { name: name() });
      const device = await addDevice(t);
      const foreign = await addDevice(t, { tenantId: other.id });
      const id = await createDeployment(t, token, {
        name: 'd',
        artifact_name: artifact.name,
        devices: [device.id, foreign.id],
      });
      // The foreign device id is not a device of this tenant: it is not part of the deployment.
      assert.equal((await deployment(t, token, id)).device_count, 1);
      assert.equal((await nextV2(t, foreign, provides())).statusCode, 204);
      assert.equal((await report(t, foreign, id, 'installing')).statusCode, 404);
      const { userToken } = await import('../../../test/support/inventory-fixtures.js');
      const otherToken = await userToken(t, other.id);
      const show = await t.app.inject({
        method: 'GET',
        url: `${MGMT}/${id}`,
        headers: { authorization: `Bearer ${otherToken}` },
      });
      assert.equal(show.statusCode, 404);
      const list = await t.app.inject({ method: 'GET', url: MGMT, headers: { authorization: `Bearer ${otherToken}` } });
      assert.deepEqual(list.json(), []);
    });
  });
}
