// Kanto devices that behave as the real update manager and its connector do (research/kanto-transcripts): no 204
// behind a suite-connector in generic mode, feedback far apart (one RUNNING a minute), the connector's command
// subscription coming up after the connection, answers on the update manager examples' topic form, and owner
// consent asked before a phase. Embedded broker (which knows subscriptions), both SQL dialects.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KantoDeviceOptions, KantoDeviceSimulator } from '../../src/agent/kanto/device.js';
import { dialects, type TestApp } from '../support/app.js';
import {
  call,
  createDesiredState,
  deploy,
  deviceLog,
  deviceStatus,
  eventually,
  inventory,
  KANTO,
  kantoApp,
  registerThing,
  simulator,
  uniqueThing,
} from './support.js';

const APPLY = '/features/UpdateManager/inbox/messages/apply';
const REFRESH = '/features/UpdateManager/inbox/messages/refresh';

for (const dialect of dialects) {
  describe(`Kanto devices as the real update manager behaves (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let url: string;
    const devices: KantoDeviceSimulator[] = [];
    before(async () => {
      // 0.5 s per command attempt, 2 attempts: a device that takes seconds between messages outlives both.
      ({ t, token, url } = await kantoApp(dialect, 'embedded'));
    });
    after(async () => {
      for (const d of devices) await d.close();
      await t.close();
    });

    async function connected(deviceType: string, options: Partial<KantoDeviceOptions> = {}) {
      const thingId = uniqueThing('um');
      const registered = await registerThing(t, token, thingId, deviceType);
      const device = simulator(t, 'embedded', url, { thingId, ...registered }, options);
      devices.push(device);
      await device.connect();
      await eventually('the device to be accepted', async () =>
        (await t.services.devices.get(t.tenant.id, registered.device_id)).status === 'accepted' ? true : undefined,
      );
      return { device, deviceId: registered.device_id, thingId };
    }
    const commandsOf = (device: KantoDeviceSimulator, path: string) =>
      device.commands.filter((c) => c.envelope.path === path);
    const refusalsOf = (thingId: string) =>
      (t.app.kanto.adapter?.refusals ?? []).filter((r) => r.topic.includes(thingId));
    const success = (deploymentId: string, deviceId: string) =>
      eventually(
        'success',
        async () => ((await deviceStatus(t, token, deploymentId, deviceId)) === 'success' ? true : undefined),
        600,
      );

    it('settles apply on the first feedback when no 204 comes, and never sends it again', async () => {
      const type = `kanto-um-quiet-${dialect}`;
      const state = await createDesiredState(t, token, `um-quiet-${dialect}`, [type]);
      // No answers at all, and 1.5 s between phases with no RUNNING in between: three command timeouts pass.
      const { device, deviceId, thingId } = await connected(type, {
        answers: 'none',
        reportEachPhase: false,
        phaseDelayMs: 1500,
      });
      const deploymentId = await deploy(t, token, state.name, [deviceId]);
      await success(deploymentId, deviceId);
      assert.equal(commandsOf(device, APPLY).length, 1, 'apply was sent once');
      assert.match(await deviceLog(t, token, deploymentId, deviceId), /desired state COMPLETED/);
      assert.deepEqual(refusalsOf(thingId), []);
    });

    it('sends the refresh on connect once the command subscription exists, and takes its current state', async () => {
      const type = `kanto-um-late-${dialect}`;
      const { device, deviceId } = await connected(type, { answers: 'none', subscribeDelayMs: 1200 });
      await eventually('the refresh reached the device', async () =>
        commandsOf(device, REFRESH).length > 0 ? true : undefined,
      );
      const refresh = commandsOf(device, REFRESH)[0];
      const activityId = (refresh.envelope.value as { activityId: string }).activityId;
      const row = await eventually('the refresh settled by the current state', async () => {
        const r = await t.services.store.db
          .selectFrom('kanto_activities')
          .select('status')
          .where('id', '=', activityId)
          .executeTakeFirst();
        return r?.status === 'completed' ? r : undefined;
      });
      assert.equal(row.status, 'completed');
      // Past both command attempts: the current state settled it, so it went out once.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assert.equal(commandsOf(device, REFRESH).length, 1, 'refresh was sent once');
      assert.ok((await inventory(t, deviceId))['kanto.sw.device-update-manager']);
      const view = await call(t, token, 'GET', `${KANTO}/devices/${deviceId}`);
      assert.equal(view.json().connector_connected, true);
    });

    it('takes answers on the topic form of the update manager examples (command//<thing>/res//apply)', async () => {
      const type = `kanto-um-seed-${dialect}`;
      const state = await createDesiredState(t, token, `um-seed-${dialect}`, [type]);
      const { device, deviceId, thingId } = await connected(type, { answers: 'seed' });
      const deploymentId = await deploy(t, token, state.name, [deviceId]);
      await success(deploymentId, deviceId);
      assert.ok(device.responses.some((r) => r.topic === `command//${thingId}/res//apply`));
      assert.deepEqual(refusalsOf(thingId), [], 'no answer was refused');
      assert.equal(commandsOf(device, APPLY).length, 1);
    });

    it('asks the owner: waits for the operator, and goes on when approved', async () => {
      const type = `kanto-um-consent-${dialect}`;
      const state = await createDesiredState(t, token, `um-consent-${dialect}`, [type]);
      const { device, deviceId } = await connected(type, { ownerConsent: ['download'] });
      const asked = new Promise((resolve) => device.once('consent', resolve));
      const deploymentId = await deploy(t, token, state.name, [deviceId]);
      await asked;
      const waiting = await eventually('the request recorded', async () => {
        const res = await call(t, token, 'GET', `${KANTO}/deployments/${deploymentId}/consent`);
        const body = res.json();
        return body.requests?.length ? body : undefined;
      });
      assert.equal(waiting.decision, null);
      assert.deepEqual(
        waiting.requests.map((r: { device_id: string; command: string; answer: null }) => [
          r.device_id,
          r.command,
          r.answer,
        ]),
        [[deviceId, 'DOWNLOAD', null]],
      );
      assert.equal(await deviceStatus(t, token, deploymentId, deviceId), 'downloading', 'it waits');
      const decided = await call(t, token, 'PUT', `${KANTO}/deployments/${deploymentId}/consent`, {
        decision: 'approved',
      });
      assert.equal(decided.statusCode, 200, decided.body);
      await success(deploymentId, deviceId);
      assert.match(await deviceLog(t, token, deploymentId, deviceId), /asks its owner's consent before DOWNLOAD/);
      const after = (await call(t, token, 'GET', `${KANTO}/deployments/${deploymentId}/consent`)).json();
      assert.equal(after.decision, 'approved');
      assert.equal(after.requests[0].answer, 'approved');
    });

    it('a denial ends the attempt in failure; a decision made up front answers at once', async () => {
      const type = `kanto-um-deny-${dialect}`;
      const state = await createDesiredState(t, token, `um-deny-${dialect}`, [type]);
      const { device, deviceId } = await connected(type, { ownerConsent: ['update'] });
      const deploymentId = await deploy(t, token, state.name, [deviceId]);
      // Decided before the device asks: the deployment says what the owner answers.
      const decided = await call(t, token, 'PUT', `${KANTO}/deployments/${deploymentId}/consent`, {
        decision: 'denied',
      });
      assert.equal(decided.statusCode, 200, decided.body);
      await eventually(
        'failure',
        async () => ((await deviceStatus(t, token, deploymentId, deviceId)) === 'failure' ? true : undefined),
        600,
      );
      assert.match(await deviceLog(t, token, deploymentId, deviceId), /owner denied the update before UPDATE/);
      assert.deepEqual(device.components, [], 'nothing was installed');
    });

    it('refuses bad consent decisions and unknown deployments', async () => {
      const bad = await call(t, token, 'PUT', `${KANTO}/deployments/whatever/consent`, { decision: 'maybe' });
      assert.equal(bad.statusCode, 400);
      const unknown = await call(t, token, 'PUT', `${KANTO}/deployments/00000000-0000-4000-8000-000000000000/consent`, {
        decision: 'approved',
      });
      assert.equal(unknown.statusCode, 404);
    });
  });
}
