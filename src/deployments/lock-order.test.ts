// PostgreSQL lock order of a deployment's row and its devices' rows. A finishing device's update locks the
// deployment's row first (settle.ts), then its own; a raced status report took its device's row first (lockAttempt)
// and then, finishing the device, the deployment's: two transactions in those orders deadlocked, which three server
// processes taking one device's Kanto events at once hit within seconds. Every order is now deployment first.
// Driven step by step on two connections: the second transaction is seen waiting (pg_stat_activity) before the
// first goes on, so the interleaving is the one that deadlocked, every run.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { adminToken, dialects, type TestApp, testApp } from '../../test/support/app.js';
import { addArtifact, createDeployment, nextV2 } from '../../test/support/deployment-fixtures.js';
import { addDevice } from '../../test/support/inventory-fixtures.js';
import { DeploymentStore } from './store.js';

const describePg = dialects.includes('postgres') ? describe : describe.skip;

describePg('device deployment lock order (postgres)', () => {
  let t: TestApp;
  before(async () => {
    t = await testApp('postgres');
  });
  after(() => t.close());

  it('a raced report holding its device row and a finishing device of the same deployment do not deadlock', async () => {
    const token = await adminToken(t);
    const artifact = await addArtifact(t, { name: 'lock-order' });
    const device = await addDevice(t);
    const id = await createDeployment(t, token, { name: 'd', artifact_name: artifact.name, devices: [device.id] });
    const provides = { device_type: 'qemu', artifact_name: 'release-1' };
    assert.equal((await nextV2(t, device, provides)).statusCode, 200);
    const { store } = t.services;
    const tenantId = t.tenant.id;
    const row = await new DeploymentStore(store.db, tenantId).deviceDeployment(id, device.id);
    assert.ok(row);

    // First: the raced report's transaction locks the attempt, and holds on.
    let goOn!: () => void;
    const held = new Promise<void>((resolve) => {
      goOn = resolve;
    });
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const first = store.transaction(async (trx) => {
      const sqlStore = new DeploymentStore(trx, tenantId);
      await sqlStore.lockAttempt(id, device.id);
      locked();
      await held;
      // Finishing the device: takes the deployment's row with the device's.
      return sqlStore.updateDeviceDeployment(
        row.id,
        row.status,
        { status: 'success', active: 0 },
        { deploymentId: id },
      );
    });
    await lockTaken;
    // Second: another finishing update of the same device (the same event taken by another process).
    const second = store.transaction((trx) =>
      new DeploymentStore(trx, tenantId).updateDeviceDeployment(
        row.id,
        row.status,
        { status: 'failure', active: 0 },
        {
          deploymentId: id,
        },
      ),
    );
    // Wait until the second waits for a lock the first holds, then let the first go on.
    for (;;) {
      const waiting = await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity
         where datname = current_database() and wait_event_type = 'Lock' and query like '%device_deployments%'`.execute(
        store.db,
      );
      if (Number(waiting.rows[0].n) > 0) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    goOn();
    const results = await Promise.allSettled([first, second]);
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value : String((r.reason as Error).message))),
      // The first finishes the device; the second finds it no longer in the status it read, and changes nothing.
      [true, false],
    );
  });
});
