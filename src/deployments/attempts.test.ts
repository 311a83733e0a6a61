// The attempt state machine on both dialects: a device event is one transaction (a failure injected at its end
// leaves nothing half-written, and the same event again goes through), and a retry, an operator's abort and a
// decommissioning are one answer from the domain that a Mender device and a hawkBit DDI target both see.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../test/support/app.js';
import {
  addArtifact,
  assignedAttempt,
  createDeployment,
  ddiTarget,
  nextV2,
  report,
} from '../../test/support/deployment-fixtures.js';
import { addDevice } from '../../test/support/inventory-fixtures.js';

const MGMT = '/api/management/v1/deployments/deployments';

class Injected extends Error {}

for (const dialect of dialects) {
  describe(`attempt state machine (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let uniq = 0;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());

    const attempts = () => t.services.deployments.attempts;
    const row = (deploymentId: string, deviceId: string) =>
      t.services.store.db
        .selectFrom('device_deployments')
        .selectAll()
        .where('deployment_id', '=', deploymentId)
        .where('device_id', '=', deviceId)
        .executeTakeFirstOrThrow();
    const deploymentRow = (id: string) =>
      t.services.store.db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const logLines = (deploymentId: string, deviceId: string) =>
      t.services.store.db
        .selectFrom('deployment_log_lines')
        .select('message')
        .where('deployment_id', '=', deploymentId)
        .where('device_id', '=', deviceId)
        .execute();

    it('rolls a report back whole when it fails before commit, and takes the same report again', async () => {
      const { id, device } = await assignedAttempt(t, token, `crash-${++uniq}`);
      const ref = { tenantId: t.tenant.id, deviceId: device.id, deploymentId: id, attempt: 1 };
      const line = { timestamp: new Date().toISOString(), level: 'info', message: 'started' };
      for (const step of ['downloading', 'success'] as const) {
        const before = await row(id, device.id);
        await assert.rejects(
          attempts().report(ref, step, {
            log: [line],
            alongside: async () => {
              throw new Injected('the process died here');
            },
          }),
          Injected,
        );
        // Nothing of the event is left: the attempt, its log and the deployment are as they were.
        const after = await row(id, device.id);
        assert.equal(after.status, before.status);
        assert.equal(after.updated_ts, before.updated_ts);
        assert.equal((await logLines(id, device.id)).length, step === 'downloading' ? 0 : 1);
        assert.equal((await deploymentRow(id)).finished_ts, null);
        // The next event continues from there.
        assert.equal(await attempts().report(ref, step, { log: [line] }), 'applied');
        assert.equal((await row(id, device.id)).status, step);
      }
      const finished = await deploymentRow(id);
      assert.equal(finished.status, 'finished');
      assert.ok(finished.finished_ts);
    });

    it('a failed server-side line with the failing report is one event: both or neither', async () => {
      const { id, device } = await assignedAttempt(t, token, `crash-${++uniq}`, { retries: 1 });
      const ref = { tenantId: t.tenant.id, deviceId: device.id, deploymentId: id, attempt: 1 };
      assert.equal(await attempts().progress(ref, 'installing'), 'applied');
      const log = [{ timestamp: new Date().toISOString(), level: 'error', message: 'flash failed' }];
      await assert.rejects(
        attempts().end(ref, 'failure', { log, alongside: () => Promise.reject(new Injected('crash')) }),
        Injected,
      );
      assert.equal((await row(id, device.id)).attempts, 1);
      assert.equal((await logLines(id, device.id)).length, 0);
      assert.equal(await attempts().end(ref, 'failure', { log }), 'retrying');
      const retried = await row(id, device.id);
      assert.equal(retried.attempts, 2);
      assert.equal(retried.status, 'pending');
      assert.deepEqual(await logLines(id, device.id), [{ message: 'flash failed' }]);
      // A late report for the first attempt is refused: that attempt is over.
      assert.equal(await attempts().progress(ref, 'rebooting'), 'ended');
      assert.deepEqual(await attempts().state(ref), { kind: 'ended', status: 'failure' });
    });

    it('with onlyForward, a step behind the current one changes nothing (out-of-order feedback)', async () => {
      const { id, device } = await assignedAttempt(t, token, `order-${++uniq}`);
      const ref = { tenantId: t.tenant.id, deviceId: device.id, deploymentId: id, attempt: 1 };
      assert.equal(await attempts().progress(ref, 'installing', { onlyForward: true }), 'applied');
      assert.equal(await attempts().progress(ref, 'downloading', { onlyForward: true }), 'unchanged');
      assert.equal((await row(id, device.id)).status, 'installing');
      // Without it (Mender), the device may go back.
      assert.equal(await attempts().progress(ref, 'downloading'), 'applied');
      assert.equal((await row(id, device.id)).status, 'downloading');
    });

    it('finishes the deployment when its last devices report at the same moment', async () => {
      for (let round = 0; round < 5; round++) {
        const artifact = await addArtifact(t, { name: `race-${++uniq}` });
        const devices = await Promise.all([addDevice(t), addDevice(t), addDevice(t), addDevice(t)]);
        const id = await createDeployment(t, token, {
          name: 'race',
          artifact_name: artifact.name,
          devices: devices.map((d) => d.id),
        });
        for (const device of devices) {
          assert.equal((await nextV2(t, device, { device_type: 'qemu', artifact_name: 'old' })).statusCode, 200);
        }
        const answers = await Promise.all(devices.map((device) => report(t, device, id, 'success')));
        assert.deepEqual(
          answers.map((a) => a.statusCode),
          devices.map(() => 204),
        );
        const finished = await deploymentRow(id);
        assert.equal(finished.status, 'finished', `round ${round}`);
      }
    });

    describe('one answer for every protocol', () => {
      const ddiCall = (
        method: 'GET' | 'POST',
        controllerId: string,
        targetToken: string,
        path = '',
        payload?: object,
      ) =>
        t.app.inject({
          method,
          url: `/DEFAULT/controller/v1/${controllerId}${path}`,
          headers: { authorization: `TargetToken ${targetToken}` },
          ...(payload ? { payload } : {}),
        });
      const feedback = (execution: string, finished: string) => ({
        status: { execution, result: { finished }, details: [] },
      });

      async function mixed(retries = 0) {
        const artifact = await addArtifact(t, { name: `mixed-${++uniq}`, deviceTypes: ['qemu', 'ddi-board'] });
        const mender = await addDevice(t);
        const controllerId = `ddi-${uniq}-${dialect}`;
        const target = await ddiTarget(t, token, controllerId);
        const id = await createDeployment(t, token, {
          name: 'mixed',
          artifact_name: artifact.name,
          devices: [mender.id, target.device_id],
          retries,
        });
        assert.equal((await nextV2(t, mender, { device_type: 'qemu', artifact_name: 'old' })).statusCode, 200);
        const poll = await ddiCall('GET', controllerId, target.token);
        const actionHref = (poll.json() as { _links: { deploymentBase?: { href: string } } })._links.deploymentBase
          ?.href;
        assert.ok(actionHref, poll.body);
        const actionId = (/deploymentBase\/(\d+)/.exec(actionHref) as RegExpExecArray)[1];
        const state = (deviceId: string, attempt?: number) =>
          attempts().state({ tenantId: t.tenant.id, deviceId, deploymentId: id, attempt });
        return { id, mender, controllerId, target, actionId, state };
      }

      it('a failure with retries left: both devices get the deployment again as a new attempt', async () => {
        const m = await mixed(1);
        assert.equal((await report(t, m.mender, m.id, 'failure')).statusCode, 204);
        const fb = await ddiCall('POST', m.controllerId, m.target.token, `/deploymentBase/${m.actionId}/feedback`, {
          ...feedback('closed', 'failure'),
        });
        assert.equal(fb.statusCode, 200, fb.body);
        for (const deviceId of [m.mender.id, m.target.device_id]) {
          assert.deepEqual(await m.state(deviceId, 1), { kind: 'ended', status: 'failure' });
          assert.deepEqual(await m.state(deviceId, 2), { kind: 'live', status: 'pending' });
        }
        // Mender: the deployment again; DDI: a new action for the new attempt, the old one closed.
        const again = await nextV2(t, m.mender, { device_type: 'qemu', artifact_name: 'old' });
        assert.equal(again.statusCode, 200);
        assert.equal((again.json() as { id: string }).id, m.id);
        const poll = await ddiCall('GET', m.controllerId, m.target.token);
        const href = (poll.json() as { _links: { deploymentBase?: { href: string } } })._links.deploymentBase?.href;
        assert.ok(href && !href.includes(`/deploymentBase/${m.actionId}?`), poll.body);
        assert.match(href, /\?c=2$/);
        const old = await ddiCall('POST', m.controllerId, m.target.token, `/deploymentBase/${m.actionId}/feedback`, {
          ...feedback('proceeding', 'none'),
        });
        assert.equal(old.statusCode, 410);
      });

      it("an operator's abort: Mender reports are refused (409), the DDI target is asked to cancel", async () => {
        const m = await mixed();
        const abort = await t.app.inject({
          method: 'PUT',
          url: `${MGMT}/${m.id}/status`,
          headers: { authorization: `Bearer ${token}` },
          payload: { status: 'aborted' },
        });
        assert.equal(abort.statusCode, 204, abort.body);
        for (const deviceId of [m.mender.id, m.target.device_id]) {
          assert.deepEqual(await m.state(deviceId), { kind: 'aborted' });
        }
        const refused = await report(t, m.mender, m.id, 'installing');
        assert.equal(refused.statusCode, 409);
        assert.match(refused.body, /Deployment aborted/);
        assert.equal((await nextV2(t, m.mender, { device_type: 'qemu', artifact_name: 'old' })).statusCode, 204);
        const poll = await ddiCall('GET', m.controllerId, m.target.token);
        const links = (poll.json() as { _links: Record<string, unknown> })._links;
        assert.ok(links.cancelAction, poll.body);
        assert.equal(links.deploymentBase, undefined);
        const progress = await ddiCall(
          'POST',
          m.controllerId,
          m.target.token,
          `/deploymentBase/${m.actionId}/feedback`,
          {
            ...feedback('proceeding', 'none'),
          },
        );
        assert.equal(progress.statusCode, 410);
      });

      it('decommissioning: the attempts end as decommissioned and neither device is served any more', async () => {
        const m = await mixed();
        for (const deviceId of [m.mender.id, m.target.device_id]) {
          const res = await t.app.inject({
            method: 'DELETE',
            url: `/api/management/v2/devauth/devices/${deviceId}`,
            headers: { authorization: `Bearer ${token}` },
          });
          assert.equal(res.statusCode, 204, res.body);
          assert.deepEqual(await m.state(deviceId), { kind: 'decommissioned' });
        }
        assert.equal((await report(t, m.mender, m.id, 'installing')).statusCode, 401);
        assert.equal((await ddiCall('GET', m.controllerId, m.target.token)).statusCode, 401);
        const stats = await t.app.inject({
          method: 'GET',
          url: `${MGMT}/${m.id}/statistics`,
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal((stats.json() as { decommissioned: number }).decommissioned, 2);
      });
    });
  });
}
