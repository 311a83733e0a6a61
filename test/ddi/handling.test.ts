// Deployment handling through DDI, on both dialects: the options an operator gives a deployment (action_type soft,
// timeforced with force_time, downloadonly; maintenance_window) as deploymentBase's download/update/
// maintenanceWindow, to the letter of the DDI spec and hawkBit's rules; a download-only action ends when the target
// reports DOWNLOADED and never counts as installed; bad options are a 400 that creates nothing. The clock of the
// deployments domain is moved for the time-dependent parts (time-forced, maintenance windows) instead of waiting.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dialects } from '../support/app.js';
import { type DdiBench, ddiBench, feedback } from './support.js';

const D1 = '/api/management/v1/deployments/deployments';

for (const dialect of dialects)
  describe(`DDI deployment handling (${dialect})`, () => {
    let b: DdiBench;
    let clock: Date | undefined;
    before(async () => {
      b = await ddiBench(dialect);
      // The domain's clock, moved by the tests that need another time (real time otherwise).
      Object.defineProperty(b.t.services.deployments.attempts, 'clock', { value: () => clock ?? new Date() });
    });
    after(() => b.close());
    const deploymentBase = async (action: string) => {
      const res = await b.ddi('GET', `/deploymentBase/${action}`);
      assert.equal(res.statusCode, 200, res.body);
      const { chunks, ...handling } = res.json().deployment;
      assert.equal(chunks.length, 1);
      return handling;
    };
    const pollInstalled = async () =>
      /installedBase\/(\d+)/.exec((await b.ddi('GET', '')).json()._links.installedBase?.href ?? '')?.[1];
    const closeWith = async (action: string, execution: string, finished = 'none') =>
      assert.equal(
        (await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback(execution, finished))).statusCode,
        200,
      );

    it('forced by default; soft is attempt/attempt and shows in the deployment', async () => {
      const forced = await b.deploy('h-1');
      const a1 = (await b.pollLink('deploymentBase')) as string;
      assert.deepEqual(await deploymentBase(a1), { download: 'forced', update: 'forced' });
      assert.equal((await b.mgmt('GET', `${D1}/${forced}`)).json().action_type, undefined);
      await closeWith(a1, 'closed', 'success');
      const soft = await b.deploy('h-2', { action_type: 'soft' });
      assert.equal((await b.mgmt('GET', `${D1}/${soft}`)).json().action_type, 'soft');
      const a2 = (await b.pollLink('deploymentBase')) as string;
      assert.deepEqual(await deploymentBase(a2), { download: 'attempt', update: 'attempt' });
      await closeWith(a2, 'closed', 'success');
    });

    it('time-forced: soft until force_time, then forced', async () => {
      const forceTime = new Date(Date.now() + 86_400_000).toISOString();
      const id = await b.deploy('h-3', { action_type: 'timeforced', force_time: forceTime });
      const shown = (await b.mgmt('GET', `${D1}/${id}`)).json();
      assert.equal(shown.action_type, 'timeforced');
      assert.equal(shown.force_time, forceTime);
      const action = (await b.pollLink('deploymentBase')) as string;
      assert.deepEqual(await deploymentBase(action), { download: 'attempt', update: 'attempt' });
      clock = new Date(Date.parse(forceTime) + 1000);
      assert.deepEqual(await deploymentBase(action), { download: 'forced', update: 'forced' });
      clock = undefined;
      await closeWith(action, 'closed', 'success');
    });

    it('download-only: update skip; DOWNLOADED ends it as success, nothing installed', async () => {
      const before = (await b.mgmt('GET', '/api/ddi/v1/targets/dev-1')).json().artifact_name;
      const id = await b.deploy('h-4', { action_type: 'downloadonly' });
      const action = (await b.pollLink('deploymentBase')) as string;
      assert.deepEqual(await deploymentBase(action), { download: 'forced', update: 'skip' });
      // The target downloads the file, says so, and is done.
      const base = (await b.ddi('GET', `/deploymentBase/${action}`)).json();
      const href = new URL(base.deployment.chunks[0].artifacts[0]._links.download.href);
      const file = await b.ddi('GET', href.pathname.replace('/DEFAULT/controller/v1/dev-1', ''));
      assert.equal(file.statusCode, 200);
      assert.equal(file.body, 'swu h-4\n');
      await closeWith(action, 'download');
      assert.equal(await b.ddStatus(id), 'downloading');
      await closeWith(action, 'downloaded');
      assert.equal(await b.ddStatus(id), 'success');
      assert.equal(await b.pollLink('deploymentBase'), undefined);
      // Never installed: the target runs what it ran before, and the installedBase is not this action.
      assert.equal((await b.mgmt('GET', '/api/ddi/v1/targets/dev-1')).json().artifact_name, before);
      const devices = (await b.mgmt('GET', `${D1}/${id}/devices`)).json();
      assert.equal(devices[0].substate, 'downloaded (download only, not installed)');
      assert.notEqual(await pollInstalled(), action);
    });

    it("download-only closed with success (SWUpdate's answer to update skip) installs nothing either", async () => {
      const before = (await b.mgmt('GET', '/api/ddi/v1/targets/dev-1')).json().artifact_name;
      const id = await b.deploy('h-5', { action_type: 'downloadonly' });
      const action = (await b.pollLink('deploymentBase')) as string;
      await closeWith(action, 'closed', 'success');
      assert.equal(await b.ddStatus(id), 'success');
      assert.equal((await b.mgmt('GET', '/api/ddi/v1/targets/dev-1')).json().artifact_name, before);
    });

    it('a maintenance window: update skip until the window opens, then the action type', async () => {
      const maintenance_window = { schedule: '0 0 2 ? * *', duration: '01:00:00', timezone: '+00:00' };
      const id = await b.deploy('h-6', { maintenance_window });
      assert.deepEqual((await b.mgmt('GET', `${D1}/${id}`)).json().maintenance_window, maintenance_window);
      const action = (await b.pollLink('deploymentBase')) as string;
      clock = new Date('2030-01-01T01:59:00Z');
      assert.deepEqual(await deploymentBase(action), {
        download: 'forced',
        update: 'skip',
        maintenanceWindow: 'unavailable',
      });
      // The target downloads meanwhile; the install waits for the window.
      await closeWith(action, 'downloaded');
      assert.equal(await b.ddStatus(id), 'downloading');
      clock = new Date('2030-01-01T02:00:30Z');
      assert.deepEqual(await deploymentBase(action), {
        download: 'forced',
        update: 'forced',
        maintenanceWindow: 'available',
      });
      await closeWith(action, 'proceeding');
      await closeWith(action, 'closed', 'success');
      clock = undefined;
      assert.equal(await b.ddStatus(id), 'success');
      assert.equal((await b.mgmt('GET', '/api/ddi/v1/targets/dev-1')).json().artifact_name, 'h-6');
    });

    it('bad options are a 400 in Mender’s error shape and create nothing', async () => {
      const count = async () => (await b.mgmt('GET', `${D1}?per_page=500`)).json().length;
      const n = await count();
      for (const options of [
        { action_type: 'later' },
        { action_type: 'timeforced' },
        { action_type: 'soft', force_time: '2030-01-01T00:00:00Z' },
        { maintenance_window: { schedule: '0 2 * * *', duration: '01:00:00', timezone: 'Z' } },
        { maintenance_window: { schedule: '0 0 2 ? * *', duration: 'an hour', timezone: 'Z' } },
        { maintenance_window: { schedule: '0 0 2 ? * *', duration: '01:00:00', timezone: 'Europe/Berlin' } },
        { maintenance_window: [] },
      ]) {
        const res = await b.mgmt('POST', D1, { name: 'bad', artifact_name: 'h-1', devices: [b.deviceId], ...options });
        assert.equal(res.statusCode, 400, `${JSON.stringify(options)}: ${res.body}`);
        assert.equal(typeof res.json().error, 'string');
      }
      assert.equal(await count(), n);
    });
  });
