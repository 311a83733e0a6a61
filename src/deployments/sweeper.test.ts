// The background sweep on both dialects: under a lease only one of two processes runs it; a device silent too long
// while downloading or installing ends its attempt as a failure with the reason in its log (retries still apply);
// paused and fresh device deployments are left alone; a deployment whose devices are all done is finished even when
// the finish after its last device's event never ran.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../test/support/app.js';
import {
  addArtifact,
  createDeployment,
  managementCaller,
  nextV2,
  report,
  statistics,
} from '../../test/support/deployment-fixtures.js';
import { addDevice, type TestDevice } from '../../test/support/inventory-fixtures.js';
import { Leases } from '../store/leases.js';
import { DeploymentSweeper } from './sweeper.js';

const MGMT = '/api/management/v1/deployments/deployments';
const quiet = { warn() {}, error() {} };

for (const dialect of dialects) {
  describe(`deployment sweeper (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let uniq = 0;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());
    const mgmt = managementCaller(
      () => t,
      () => token,
    );

    const sweeper = (holder: string, timeout = 600) =>
      new DeploymentSweeper(
        t.services.store,
        t.services.deployments,
        new Leases(t.services.store, holder),
        { deploymentTimeout: timeout, sweepInterval: 30 },
        quiet,
      );

    /** Moves a device deployment's last change `seconds` into the past. */
    const backdate = (deploymentId: string, device: TestDevice, seconds: number) =>
      t.services.store.db
        .updateTable('device_deployments')
        .set({ updated_ts: new Date(Date.now() - seconds * 1000).toISOString() })
        .where('deployment_id', '=', deploymentId)
        .where('device_id', '=', device.id)
        .execute();

    async function started(status: string, retries = 0) {
      const artifact = await addArtifact(t, { name: `sweep-${++uniq}` });
      const device = await addDevice(t);
      const id = await createDeployment(t, token, {
        name: 'sweep',
        artifact_name: artifact.name,
        devices: [device.id],
        retries,
      });
      assert.equal((await nextV2(t, device, { device_type: 'qemu', artifact_name: 'old' })).statusCode, 200);
      assert.equal((await report(t, device, id, status)).statusCode, 204);
      return { id, device };
    }

    test('only the lease holder sweeps; a silent device ends in failure with the reason in its log', async () => {
      const silent = await started('downloading');
      const fresh = await started('installing');
      const paused = await started('pause_before_installing');
      await backdate(silent.id, silent.device, 3600);
      await backdate(paused.id, paused.device, 3600);

      const processes = [sweeper(`a-${uniq}`), sweeper(`b-${uniq}`)];
      const [a, b] = await Promise.all(processes.map((p) => p.sweepOnce()));
      await Promise.all(processes.map((p) => p.stop()));
      const ran = [a, b].filter((r) => r !== undefined);
      assert.equal(ran.length, 1, 'exactly one of the two processes holds the lease');
      assert.deepEqual(ran[0], { expired: 1, finished: 0 });

      assert.equal((await statistics(t, token, silent.id)).failure, 1);
      assert.equal((await statistics(t, token, fresh.id)).installing, 1, 'a recent report is not silence');
      assert.equal((await statistics(t, token, paused.id)).pause_before_installing, 1, 'a pause waits for people');
      const log = await mgmt('GET', `${MGMT}/${silent.id}/devices/${silent.device.id}/log`);
      assert.equal(log.statusCode, 200);
      assert.match(log.body, /no status report from the device for more than 600 s while downloading/);
      // As in Mender, only aborted and decommissioned are final: a device that comes back and reports success counts.
      assert.equal((await report(t, silent.device, silent.id, 'success')).statusCode, 204);
      assert.deepEqual(
        [(await statistics(t, token, silent.id)).success, (await statistics(t, token, silent.id)).failure],
        [1, 0],
      );
    });

    test('with retries left the device gets the deployment again; nothing is swept when the timeout is off', async () => {
      const retrying = await started('installing', 1);
      await backdate(retrying.id, retrying.device, 3600);
      const off = sweeper(`off-${uniq}`, 0);
      assert.deepEqual(await off.sweepOnce(), { expired: 0, finished: 0 });
      await off.stop();
      assert.equal((await statistics(t, token, retrying.id)).installing, 1);

      const on = sweeper(`on-${uniq}`);
      assert.deepEqual(await on.sweepOnce(), { expired: 1, finished: 0 });
      await on.stop();
      const stats = await statistics(t, token, retrying.id);
      assert.equal(stats.pending, 1, 'a retry sends the device back to pending');
      const again = await nextV2(t, retrying.device, { device_type: 'qemu', artifact_name: 'old' });
      assert.equal(again.statusCode, 200);
      assert.equal(again.json().id, retrying.id);
    });

    test('finishes a deployment whose last device is done when the finish after its event never ran', async () => {
      const cut = await started('installing');
      // The device's success committed and the process died before the deployment's finish (PostgreSQL runs it
      // after the event's commit, settle.ts `defers`): the store as it would be then.
      await t.services.store.db
        .updateTable('device_deployments')
        .set({ status: 'success', active: 0, finished_ts: new Date().toISOString() })
        .where('deployment_id', '=', cut.id)
        .execute();
      const stored = () =>
        t.services.store.db
          .selectFrom('deployments')
          .select(['status', 'finished_ts'])
          .where('id', '=', cut.id)
          .executeTakeFirstOrThrow();
      assert.equal((await stored()).finished_ts, null);
      const repair = sweeper(`repair-${uniq}`);
      assert.deepEqual(await repair.sweepOnce(), { expired: 0, finished: 1 });
      await repair.stop();
      const after = await stored();
      assert.equal(after.status, 'finished');
      assert.ok(after.finished_ts);
    });
  });
}
