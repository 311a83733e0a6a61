// End to end with the real SWUpdate in suricatta/hawkBit mode (dry-run: it installs nothing), on SQLite and on
// PostgreSQL, against the real `flotilla serve`:
// - a signed `.swu` uploaded as a raw artifact is deployed to a pre-created DDI target; SWUpdate polls, gets the
//   action, downloads the file (checking its sha1/sha256 against deploymentBase), verifies the signature, "installs"
//   it and reports progress; restarted with `-c 2` (as after the reboot into the new image) it closes the action with
//   success. The deployment shows the device as `success`, and inventory the new artifact_name.
// - an operator aborts a deployment before the client downloads anything: SWUpdate is offered cancelAction and
//   acknowledges it, without downloading.
// - an operator aborts while SWUpdate waits to close an installed action; the target refuses the cancellation
//   (REJECTED, sent as the spec's device would: SWUpdate's own cancel reply is always closed/success), so the action
//   goes on, and SWUpdate restarted with `-c 2` closes it: success, with the warning in the device's log.
// - a download-only deployment (deploymentBase `update: skip`): SWUpdate downloads nothing and closes the action
//   with "Skipped Update."; the attempt ends success and the target still runs what it ran (never installed).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  buildSwu,
  makeKit,
  requireSwupdate,
  type SwuKit,
  type SwupdateClient,
  startSwupdate,
} from '../support/swupdate.js';
import { callApi, type FlotillaServer, startFlotilla } from './flotilla-server.js';
import { waitFor } from './process.js';

const D1 = '/api/management/v1/deployments';
const DEVICE_TYPE = 'swu-board';

const dialects = (process.env.FLOTILLA_TEST_DIALECTS ?? 'sqlite,postgres')
  .split(',')
  .filter((d): d is 'sqlite' | 'postgres' => d === 'sqlite' || d === 'postgres');

for (const dialect of dialects)
  describe(`the real SWUpdate over hawkBit DDI (${dialect})`, () => {
    let server: FlotillaServer | undefined;
    let kit: SwuKit | undefined;
    let client: SwupdateClient | undefined;
    let token = '';
    let failed = false;
    let deviceId = '';
    const controllerId = `swu-${dialect}`;
    const targetToken = `target-token-${dialect}-0123456789`;
    const api = (method: string, path: string, body?: unknown) => callApi(server!.url, token, method, path, body);

    const step = (name: string, body: () => Promise<void>) =>
      it(name, async () => {
        assert.ok(!failed, 'an earlier step failed');
        try {
          await body();
        } catch (error) {
          failed = true;
          if (server) process.stderr.write(`--- flotilla log ---\n${server.logTail()}\n`);
          if (client) process.stderr.write(`--- swupdate log ---\n${client.logTail(60)}\n`);
          throw error;
        }
      });

    const stopClient = async () => {
      await client?.stop();
      client = undefined;
    };

    const uploadSwu = async (version: string) => {
      const res = await fetch(
        `${server!.url}/api/ddi/v1/artifacts?filename=update.swu&version=${version}&device_type=${DEVICE_TYPE}`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
          body: new Uint8Array(buildSwu(kit!, version)),
        },
      );
      assert.equal(res.status, 201, await res.clone().text());
    };

    const deviceStatus = async (deploymentId: string) => {
      const res = await api('GET', `${D1}/deployments/${deploymentId}/devices`);
      assert.equal(res.status, 200);
      return (res.json as { id: string; status: string }[]).find((d) => d.id === deviceId)?.status;
    };
    const deviceLog = async (deploymentId: string) => {
      const res = await api('GET', `${D1}/deployments/${deploymentId}/devices/${deviceId}/log`);
      return res.status === 200 ? String(res.json) : '';
    };
    const deploy = async (name: string, artifactName: string, options: object = {}) => {
      const res = await api('POST', `${D1}/deployments`, {
        name,
        artifact_name: artifactName,
        devices: [deviceId],
        ...options,
      });
      assert.equal(res.status, 201, JSON.stringify(res.json));
      return String(res.headers.get('location')).split('/').pop() as string;
    };

    before(async () => {
      requireSwupdate();
      kit = makeKit();
      server = await startFlotilla(dialect);
      const login = await fetch(`${server.url}/api/management/v1/useradm/auth/login`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${server.adminEmail}:${server.adminPassword}`).toString('base64')}`,
        },
      });
      token = await login.text();
      assert.equal(login.status, 200);
    });

    after(async () => {
      await stopClient();
      await server?.stop();
      kit?.cleanup();
    });

    step('an operator pre-creates the DDI target and uploads a signed .swu', async () => {
      assert.equal((await api('PUT', '/api/ddi/v1/settings', { polling_sleep: 1 })).status, 200);
      const created = await api('POST', '/api/ddi/v1/targets', {
        controller_id: controllerId,
        token: targetToken,
        device_type: DEVICE_TYPE,
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      deviceId = created.json.device_id;
      await uploadSwu('swu-e2e-1');
    });

    let deploymentId = '';
    step('SWUpdate polls, downloads and verifies the .swu, and reports its progress', async () => {
      deploymentId = await deploy('swupdate e2e', 'swu-e2e-1');
      client = startSwupdate(kit!, { serverUrl: server!.url, controllerId, targetToken });
      // Dry-run never closes the action by itself: it reports every chunk installed, then waits.
      await waitFor('SWUpdate to report all chunks installed', async () =>
        (await deviceLog(deploymentId)).includes('All Chunks Installed') ? true : undefined,
      );
      assert.equal(await deviceStatus(deploymentId), 'installing');
      const log = client.log();
      assert.match(log, /softwaremodules\/\d+\/artifacts\/update\.swu/);
      assert.match(log, /Verified OK/);
      assert.match(log, /SWUPDATE successful/);
    });

    step('restarted with -c 2 it closes the action: the deployment shows success', async () => {
      await stopClient();
      client = startSwupdate(kit!, { serverUrl: server!.url, controllerId, targetToken, confirm: 2 });
      const status = await waitFor('the device deployment to end', async () => {
        const s = await deviceStatus(deploymentId);
        return s === 'success' || s === 'failure' ? s : undefined;
      });
      assert.equal(status, 'success');
      const deployment = await api('GET', `${D1}/deployments/${deploymentId}`);
      assert.equal(deployment.json.status, 'finished');
      const stats = await api('GET', `${D1}/deployments/${deploymentId}/statistics`);
      assert.equal(stats.json.success, 1);
      const target = await api('GET', `/api/ddi/v1/targets/${controllerId}`);
      assert.equal(target.json.artifact_name, 'swu-e2e-1');
      const device = await api('GET', `/api/management/v1/inventory/devices/${deviceId}`);
      const artifactName = (device.json.attributes as { name: string; value: unknown }[]).find(
        (a) => a.name === 'artifact_name',
      );
      assert.equal(artifactName?.value, 'swu-e2e-1');
      await stopClient();
    });

    step('aborted before the download: SWUpdate acknowledges the cancellation and downloads nothing', async () => {
      await uploadSwu('swu-e2e-2');
      const id = await deploy('swupdate e2e abort', 'swu-e2e-2');
      // The device's action exists (its poll saw it) before the operator aborts.
      const poll = await fetch(`${server!.url}/DEFAULT/controller/v1/${controllerId}`, {
        headers: { authorization: `TargetToken ${targetToken}`, accept: 'application/json' },
      });
      const links = (await poll.json())._links;
      assert.ok(links.deploymentBase, JSON.stringify(links));
      assert.equal((await api('PUT', `${D1}/deployments/${id}/status`, { status: 'aborted' })).status, 204);
      client = startSwupdate(kit!, { serverUrl: server!.url, controllerId, targetToken });
      await waitFor('SWUpdate to acknowledge the cancellation', async () =>
        (await deviceLog(id)).includes('ddi cancel feedback closed/success') ? true : undefined,
      );
      assert.match(client.log(), /Cancel action available/);
      assert.doesNotMatch(client.log(), /softwaremodules/);
      assert.equal(await deviceStatus(id), 'aborted');
      const after = await fetch(`${server!.url}/DEFAULT/controller/v1/${controllerId}`, {
        headers: { authorization: `TargetToken ${targetToken}` },
      });
      const afterLinks = (await after.json())._links;
      assert.equal(afterLinks.cancelAction, undefined);
      assert.equal(afterLinks.deploymentBase, undefined);
    });

    step('a rejected cancellation: the action goes on and SWUpdate closes it with success', async () => {
      await stopClient();
      await uploadSwu('swu-e2e-3');
      const id = await deploy('swupdate e2e rejected cancel', 'swu-e2e-3');
      client = startSwupdate(kit!, { serverUrl: server!.url, controllerId, targetToken });
      await waitFor('SWUpdate to report all chunks installed', async () =>
        (await deviceLog(id)).includes('All Chunks Installed') ? true : undefined,
      );
      await stopClient();
      assert.equal((await api('PUT', `${D1}/deployments/${id}/status`, { status: 'aborted' })).status, 204);
      const ddi = (path: string, init: RequestInit = {}) =>
        fetch(`${server!.url}/DEFAULT/controller/v1/${controllerId}${path}`, {
          ...init,
          headers: { authorization: `TargetToken ${targetToken}`, 'content-type': 'application/json' },
        });
      const cancel = (await (await ddi('')).json())._links.cancelAction?.href as string;
      assert.ok(cancel, 'the cancellation is offered');
      const actionId = cancel.split('/').pop();
      const rejected = await ddi(`/cancelAction/${actionId}/feedback`, {
        method: 'POST',
        body: JSON.stringify({
          id: actionId,
          status: {
            execution: 'rejected',
            result: { finished: 'none' },
            details: ['update installed, reboot pending'],
          },
        }),
      });
      assert.equal(rejected.status, 200, await rejected.text());
      assert.equal(await deviceStatus(id), 'installing');
      client = startSwupdate(kit!, { serverUrl: server!.url, controllerId, targetToken, confirm: 2 });
      const status = await waitFor('the device deployment to end', async () => {
        const s = await deviceStatus(id);
        return s === 'success' || s === 'failure' ? s : undefined;
      });
      assert.equal(status, 'success');
      assert.match(
        await deviceLog(id),
        /warning: ddi cancel feedback rejected\/none: update installed, reboot pending/,
      );
      const target = await api('GET', `/api/ddi/v1/targets/${controllerId}`);
      assert.equal(target.json.artifact_name, 'swu-e2e-3');
      await stopClient();
    });

    step('download-only: SWUpdate skips the update as told, downloads nothing, installs nothing', async () => {
      await stopClient();
      await uploadSwu('swu-e2e-4');
      const id = await deploy('swupdate e2e download only', 'swu-e2e-4', { action_type: 'downloadonly' });
      client = startSwupdate(kit!, { serverUrl: server!.url, controllerId, targetToken });
      const status = await waitFor('the device deployment to end', async () => {
        const s = await deviceStatus(id);
        return s === 'success' || s === 'failure' ? s : undefined;
      });
      assert.equal(status, 'success');
      assert.match(await deviceLog(id), /closed\/success( 0\/0)?: Skipped Update\./);
      assert.doesNotMatch(client.log(), /softwaremodules/);
      const target = await api('GET', `/api/ddi/v1/targets/${controllerId}`);
      assert.equal(target.json.artifact_name, 'swu-e2e-3');
      await stopClient();
    });
  });
