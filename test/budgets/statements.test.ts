// Statement budgets of the device hot paths, on both dialects, counted with the store's statement log (a count is
// deterministic where a timing is not): a Mender idle poll with warm caches runs none; a repeat poll of a device
// with an assigned attempt at most 2 and writes nothing; a status report and a DDI progress feedback at most 6, in
// one transaction (a DDI feedback that is a whole deployment's first report 7: it also moves the deployment to
// inprogress); a DDI repeat poll at most 3; a Kanto progress feedback at most 6 too: where its device stands is
// remembered (src/protocols/kanto/standing.ts), which leaves room for its activity's replay guard, one more write
// than DDI's. A Mender device through a whole deployment (next and four reports) at most 13, on PostgreSQL 8.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KantoDeviceSimulator } from '../../src/agent/kanto/device.js';
import {
  createDesiredState,
  deploy,
  deviceStatus,
  eventually,
  kantoApp,
  registerThing,
  simulator,
  uniqueThing,
} from '../kanto/support.js';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import {
  addArtifact,
  assignedAttempt,
  createDeployment,
  ddiTarget,
  nextV2,
  report,
} from '../support/deployment-fixtures.js';
import { addDevice } from '../support/inventory-fixtures.js';

/**
 * Runs `work` and answers the statements the store sent meanwhile, less the app's own background work: the
 * check-in flush is paused (after writing what it has) and the revocation feed's polls are left out.
 */
async function counted(t: TestApp, work: () => Promise<unknown>): Promise<string[]> {
  await t.services.devices.stopCheckIns();
  t.services.store.trace(true);
  let texts: string[];
  try {
    await work();
  } finally {
    texts = t.services.store.trace(false);
    t.services.devices.startCheckIns();
  }
  return texts.filter((sql) => !/"revocations"/.test(sql));
}

const writes = (texts: string[]) => texts.filter((sql) => /^\s*(insert|update|delete)\b/i.test(sql));
const transactions = (texts: string[]) => texts.filter((sql) => /^\s*begin\b/i.test(sql)).length;
const show = (texts: string[]) => `\n  ${texts.join('\n  ')}`;

for (const dialect of dialects) {
  describe(`statement budgets of the device hot paths (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let uniq = 0;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());

    it('Mender: an idle poll runs no statement once caches are warm', async () => {
      const device = await addDevice(t);
      const provides = { device_type: 'qemu', artifact_name: 'release-1' };
      for (let i = 0; i < 2; i++) assert.equal((await nextV2(t, device, provides)).statusCode, 204);
      const texts = await counted(t, async () => {
        for (let i = 0; i < 5; i++) assert.equal((await nextV2(t, device, provides)).statusCode, 204);
      });
      assert.equal(texts.length, 0, show(texts));
    });

    it('Mender: idle polls that find the deployments generation expired share one read of it', async () => {
      const devices = await Promise.all([1, 2, 3, 4, 5].map(() => addDevice(t)));
      const provides = { device_type: 'qemu', artifact_name: 'release-1' };
      for (const device of devices) assert.equal((await nextV2(t, device, provides)).statusCode, 204);
      const texts = await counted(t, async () => {
        // As when the cached generation expires under load: every poll in flight needs it at once (on PostgreSQL they
        // overlap on the pool; SQLite answers each read before the next poll asks).
        t.services.deployments.attempts.generationChanged(t.tenant.id);
        const answers = await Promise.all(devices.map((device) => nextV2(t, device, provides)));
        assert.deepEqual(
          answers.map((a) => a.statusCode),
          devices.map(() => 204),
        );
      });
      assert.equal(texts.filter((sql) => /deployment_generations/.test(sql)).length, 1, show(texts));
    });

    it('Mender: a repeat poll with an assigned attempt runs at most 2 statements and writes nothing', async () => {
      const artifact = await addArtifact(t, { name: `budget-${++uniq}` });
      const device = await addDevice(t);
      await createDeployment(t, token, { name: 'budget', artifact_name: artifact.name, devices: [device.id] });
      const provides = { device_type: 'qemu', artifact_name: 'release-1' };
      assert.equal((await nextV2(t, device, provides)).statusCode, 200);
      const texts = await counted(t, async () => {
        assert.equal((await nextV2(t, device, provides)).statusCode, 200);
      });
      assert.ok(texts.length <= 2, show(texts));
      assert.deepEqual(writes(texts), []);
    });

    it('Mender: a status report runs at most 6 statements in at most one transaction, the last one too', async () => {
      const { id, device } = await assignedAttempt(t, token, `budget-${++uniq}`);
      for (const status of ['downloading', 'installing', 'rebooting', 'success']) {
        const texts = await counted(t, async () => {
          assert.equal((await report(t, device, id, status)).statusCode, 204);
        });
        assert.ok(texts.length <= 6, `${status}:${show(texts)}`);
        // A step that moves only the device's row is one statement, its own transaction; otherwise one transaction.
        assert.ok(transactions(texts) <= 1, `${status}:${show(texts)}`);
      }
    });

    it('Mender: a device through a deployment (next and four reports) runs at most 13 statements (PostgreSQL 8)', async () => {
      // The middle one of three devices: neither the deployment's first to start nor its last to finish.
      const artifact = await addArtifact(t, { name: `budget-${++uniq}` });
      const devices = [await addDevice(t), await addDevice(t), await addDevice(t)];
      const id = await createDeployment(t, token, {
        name: 'budget',
        artifact_name: artifact.name,
        devices: devices.map((d) => d.id),
      });
      const provides = { device_type: 'qemu', artifact_name: 'release-1' };
      const steps = ['downloading', 'installing', 'rebooting', 'success'];
      const flow = async (device: (typeof devices)[number]) => {
        assert.equal((await nextV2(t, device, provides)).statusCode, 200);
        for (const status of steps) assert.equal((await report(t, device, id, status)).statusCode, 204);
      };
      await flow(devices[0]);
      const texts = await counted(t, () => flow(devices[1]));
      await flow(devices[2]);
      assert.ok(texts.length <= (dialect === 'postgres' ? 8 : 13), show(texts));
    });

    describe('hawkBit DDI', () => {
      const ddi = (method: 'GET' | 'POST', controllerId: string, targetToken: string, path = '', payload?: object) =>
        t.app.inject({
          method,
          url: `/DEFAULT/controller/v1/${controllerId}${path}`,
          headers: { authorization: `TargetToken ${targetToken}` },
          ...(payload ? { payload } : {}),
        });

      it('a repeat poll runs at most 3 statements; a progress feedback at most 6 in one transaction', async () => {
        const artifact = await addArtifact(t, { name: `budget-${++uniq}`, deviceTypes: ['ddi-board'] });
        const controllerId = `budget-${uniq}-${dialect}`;
        const target = await ddiTarget(t, token, controllerId);
        await createDeployment(t, token, { name: 'budget', artifact_name: artifact.name, devices: [target.device_id] });
        const first = await ddi('GET', controllerId, target.token);
        const href = (first.json() as { _links: { deploymentBase?: { href: string } } })._links.deploymentBase?.href;
        const actionId = (/deploymentBase\/(\d+)/.exec(href ?? '') as RegExpExecArray)[1];
        const poll = await counted(t, async () => {
          assert.equal((await ddi('GET', controllerId, target.token)).statusCode, 200);
        });
        assert.ok(poll.length <= 3, show(poll));
        assert.deepEqual(writes(poll), []);
        // The first report of a whole deployment also moves it from pending to inprogress: one statement more.
        for (const [execution, budget] of [
          ['download', 7],
          ['proceeding', 6],
          ['scheduled', 6],
        ] as const) {
          const texts = await counted(t, async () => {
            const res = await ddi('POST', controllerId, target.token, `/deploymentBase/${actionId}/feedback`, {
              status: { execution, result: { finished: 'none' }, details: ['step'] },
            });
            assert.equal(res.statusCode, 200, res.body);
          });
          assert.ok(texts.length <= budget, `${execution}:${show(texts)}`);
          assert.equal(transactions(texts), 1, `${execution}:${show(texts)}`);
        }
      });
    });
  });

  describe(`statement budget of a Kanto progress feedback (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let url: string;
    let device: KantoDeviceSimulator | undefined;
    before(async () => {
      // No push loop: nothing but the message under test may touch the store while it is counted.
      ({ t, token, url } = await kantoApp(dialect, 'embedded', { kantoPushInterval: 0 }));
    });
    after(async () => {
      await device?.close();
      await t.close();
    });

    it('takes a feedback in at most 6 statements, one transaction', async () => {
      const thingId = uniqueThing('budget');
      const registered = await registerThing(t, token, thingId, 'kanto-budget');
      const artifact = await createDesiredState(t, token, `budget-${dialect}`, ['kanto-budget']);
      const deploymentId = await deploy(t, token, artifact.name, [registered.device_id]);
      // A device that acknowledges apply when it connects and then takes its time: the feedback under test is sent
      // by hand.
      device = simulator(t, 'embedded', url, { thingId, ...registered }, { phaseDelayMs: 120_000 });
      await device.connect();
      await eventually('the apply to be acknowledged', async () =>
        (await deviceStatus(t, token, deploymentId, registered.device_id)) === 'downloading' ? true : undefined,
      );
      const adapter = t.app.kanto.adapter;
      assert.ok(adapter);
      // The refresh sent at connect must be settled too (answered, or timed out and failed), or its end could
      // fall inside the count.
      await eventually('the refresh at connect to settle', async () => {
        const open = await t.services.store.db
          .selectFrom('kanto_activities')
          .select('id')
          .where('kind', '=', 'refresh')
          .where('status', 'in', ['sent', 'acknowledged', 'running'])
          .execute();
        return open.length === 0 ? true : undefined;
      });
      await adapter.settled();
      const activity = await t.services.store.db
        .selectFrom('kanto_activities')
        .selectAll()
        .where('deployment_id', '=', deploymentId)
        .executeTakeFirstOrThrow();
      const feedback = (status: string, at: number) => {
        const example = JSON.parse(
          readFileSync(join(import.meta.dirname, '../kanto/examples/feedback-3-running.event.json'), 'utf8'),
        );
        const [namespace, name] = thingId.split(':');
        example.topic = example.topic.replace(/^[^/]+\/[^/]+/, `${namespace}/${name}`);
        example.value.activityId = activity.id;
        example.value.timestamp = at;
        example.value.desiredStateFeedback.status = status;
        example.value.desiredStateFeedback.actions = [
          { component: { id: 'containers:x', version: '1' }, status: 'UPDATING', message: 'updating' },
        ];
        (adapter as unknown as { onMessage(topic: string, payload: Buffer): void }).onMessage(
          `event/${t.tenant.id}/${thingId}`,
          Buffer.from(JSON.stringify(example)),
        );
        return adapter.settled();
      };
      const texts = await counted(t, () => feedback('RUNNING', Date.now() + 60_000));
      assert.equal(await deviceStatus(t, token, deploymentId, registered.device_id), 'installing');
      assert.ok(texts.length <= 6, show(texts));
      assert.equal(transactions(texts), 1, show(texts));

      // Its standing was remembered, not read: an operator's rejection must still refuse its next feedback at once.
      const view = await t.services.devices.get(t.tenant.id, registered.device_id);
      await t.services.devices.setAuthSetStatus(t.tenant.id, registered.device_id, view.auth_sets[0].id, 'rejected');
      await feedback('COMPLETED', Date.now() + 120_000);
      assert.ok(
        t.app.kanto.adapter?.refusals.some((r) => r.reason.includes('rejected by an operator')),
        'the feedback after the rejection is refused',
      );
      assert.equal(await deviceStatus(t, token, deploymentId, registered.device_id), 'installing');
    });
  });
}
