// A report that goes straight to its update from the row this process remembers (attempt-cache.ts) answers as one
// that read the row first, whatever another process did to the attempt meanwhile: the update applies only to the
// row as remembered, and anything else is read again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../test/support/app.js';
import { assignedAttempt, report } from '../../test/support/deployment-fixtures.js';
import { DeviceAttempts } from './attempts.js';

for (const dialect of dialects) {
  describe(`reports from a remembered attempt (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let uniq = 0;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());

    const here = () => t.services.deployments.attempts;
    /** Another server process on the same database: its own cache, the same rows. */
    const elsewhere = () => new DeviceAttempts(t.services.store, here().targets);

    it('takes a step with one statement when the row is as remembered', async () => {
      const { id, device } = await assignedAttempt(t, token, `cache-${++uniq}`);
      assert.equal((await report(t, device, id, 'downloading')).statusCode, 204);
      const before = t.services.store.statements();
      assert.equal(
        await here().progress({ tenantId: t.tenant.id, deviceId: device.id, deploymentId: id }, 'installing'),
        'applied',
      );
      assert.equal(t.services.store.statements() - before, 1);
    });

    it('sees an attempt that ended and was retried elsewhere, though its status is the one remembered', async () => {
      // Remembered here: pending, attempt 1 (the poll). Elsewhere: downloading, then a failure retried as attempt 2,
      // pending again: only its updated_ts tells the row from the one remembered.
      const { id, device } = await assignedAttempt(t, token, `cache-${++uniq}`, { retries: 1 });
      const ref = { tenantId: t.tenant.id, deviceId: device.id, deploymentId: id };
      const other = elsewhere();
      assert.equal(await other.progress(ref, 'downloading'), 'applied');
      assert.equal(await other.end(ref, 'failure'), 'retrying');
      assert.equal(await here().progress({ ...ref, attempt: 1 }, 'downloading'), 'ended');
      assert.deepEqual(await here().state(ref), { kind: 'live', status: 'pending' });
      assert.equal(await here().progress({ ...ref, attempt: 2 }, 'downloading'), 'applied');
    });

    it('answers an attempt aborted elsewhere as aborted', async () => {
      const { id, device } = await assignedAttempt(t, token, `cache-${++uniq}`);
      assert.equal((await report(t, device, id, 'downloading')).statusCode, 204);
      await elsewhere().endForDevice(t.tenant.id, device.id, 'aborted');
      const res = await report(t, device, id, 'installing');
      assert.equal(res.statusCode, 409, res.body);
    });

    it('reads the row again for what it answers without a write (a step reported twice)', async () => {
      const { id, device } = await assignedAttempt(t, token, `cache-${++uniq}`);
      const ref = { tenantId: t.tenant.id, deviceId: device.id, deploymentId: id };
      assert.equal((await report(t, device, id, 'downloading')).statusCode, 204);
      assert.equal(await elsewhere().progress(ref, 'installing'), 'applied');
      // Remembered: downloading. The row says installing: the same step again changes nothing.
      assert.equal(await here().progress(ref, 'installing'), 'unchanged');
    });
  });
}
