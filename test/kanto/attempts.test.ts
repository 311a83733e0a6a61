// A Kanto device sees a retry and a decommissioning as the deployments domain decides them, the same answers a
// Mender device and a DDI target get (src/deployments/attempts.test.ts): a failed attempt with retries left is
// applied again as the next attempt; a decommissioned device's attempt ends and the thing is let go. (An
// operator's abort: test/kanto/adapter.test.ts.) Embedded broker, both SQL dialects.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KantoDeviceSimulator } from '../../src/agent/kanto/device.js';
import { dialects, type TestApp } from '../support/app.js';
import {
  call,
  createDesiredState,
  DEPLOYMENTS,
  deviceStatus,
  eventually,
  KANTO,
  kantoApp,
  registerThing,
  simulator,
  uniqueThing,
} from './support.js';

for (const dialect of dialects) {
  describe(`Kanto attempts as the domain decides them (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let url: string;
    const devices: KantoDeviceSimulator[] = [];
    before(async () => {
      ({ t, token, url } = await kantoApp(dialect, 'embedded'));
    });
    after(async () => {
      for (const d of devices) await d.close();
      await t.close();
    });

    async function connected(deviceType: string, options = {}) {
      const thingId = uniqueThing('attempts');
      const registered = await registerThing(t, token, thingId, deviceType);
      const device = simulator(t, 'embedded', url, { thingId, ...registered }, options);
      devices.push(device);
      await device.connect();
      await eventually('the device to be accepted', async () =>
        (await t.services.devices.get(t.tenant.id, registered.device_id)).status === 'accepted' ? true : undefined,
      );
      return { device, deviceId: registered.device_id, thingId };
    }
    const state = (deploymentId: string, deviceId: string, attempt?: number) =>
      t.services.deployments.attempts.state({ tenantId: t.tenant.id, deviceId, deploymentId, attempt });
    const applies = (deploymentId: string) =>
      t.services.store.db
        .selectFrom('kanto_activities')
        .select(['attempt', 'status'])
        .where('deployment_id', '=', deploymentId)
        .where('kind', '=', 'apply')
        .orderBy('attempt')
        .execute();

    it('a failure with retries left is applied again as the next attempt, as for every protocol', async () => {
      const type = `kanto-retry-${dialect}`;
      const desired = await createDesiredState(t, token, `retry-${dialect}`, [type]);
      const { deviceId } = await connected(type, {
        failComponent: { id: 'containers:influxdb', phase: 'download', message: 'failed to pull image' },
      });
      const created = await call(t, token, 'POST', DEPLOYMENTS, {
        name: 'retry',
        artifact_name: desired.name,
        devices: [deviceId],
        retries: 1,
      });
      assert.equal(created.statusCode, 201, created.body);
      const deploymentId = String(created.headers.location).split('/').pop() as string;
      await eventually('the second attempt to fail too', async () =>
        (await deviceStatus(t, token, deploymentId, deviceId)) === 'failure' ? true : undefined,
      );
      // Two applies, one per attempt; the domain says the first ended in failure and the second is the last.
      assert.deepEqual(
        (await applies(deploymentId)).map((a) => a.attempt),
        [1, 2],
      );
      assert.deepEqual(await state(deploymentId, deviceId, 1), { kind: 'ended', status: 'failure' });
      assert.deepEqual(await state(deploymentId, deviceId, 2), { kind: 'ended', status: 'failure' });
      const stats = await call(t, token, 'GET', `${DEPLOYMENTS}/${deploymentId}/statistics`);
      assert.equal((stats.json() as { failure: number }).failure, 1);
    });

    it('decommissioning ends the attempt, lets the thing go and refuses what it still sends', async () => {
      const type = `kanto-decommission-${dialect}`;
      const desired = await createDesiredState(t, token, `decommission-${dialect}`, [type]);
      // A device that acknowledges apply and then takes its time.
      const { device, deviceId, thingId } = await connected(type, { phaseDelayMs: 60_000 });
      const created = await call(t, token, 'POST', DEPLOYMENTS, {
        name: 'decommission',
        artifact_name: desired.name,
        devices: [deviceId],
      });
      const deploymentId = String(created.headers.location).split('/').pop() as string;
      await eventually('the apply to be acknowledged', async () =>
        (await deviceStatus(t, token, deploymentId, deviceId)) === 'downloading' ? true : undefined,
      );
      const gone = await t.app.inject({
        method: 'DELETE',
        url: `/api/management/v2/devauth/devices/${deviceId}`,
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(gone.statusCode, 204, gone.body);
      assert.deepEqual(await state(deploymentId, deviceId), { kind: 'decommissioned' });
      assert.equal((await call(t, token, 'GET', `${KANTO}/devices/${deviceId}`)).statusCode, 404);
      // What the device still publishes changes nothing and is refused as from an unknown thing.
      const adapter = t.app.kanto.adapter;
      assert.ok(adapter);
      await device.reportCurrentState('after-decommissioning');
      await eventually('the message to be refused', async () =>
        adapter.refusals.some((r) => r.topic.includes(thingId) && /unknown device/.test(r.reason)) ? true : undefined,
      );
      assert.deepEqual(await state(deploymentId, deviceId), { kind: 'decommissioned' });
      assert.equal(await deviceStatus(t, token, deploymentId, deviceId), 'decommissioned');
    });
  });
}
