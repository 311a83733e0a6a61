// The hawkBit DDI controller API and the DDI management routes through inject, on both dialects: polling, the
// deployment as an action with chunks and hashes, downloads with Range and .MD5SUM, feedback onto the deployment
// state machine, cancellation after an abort, configData into inventory, and the hostile cases (wrong token,
// unknown tenant, another tenant's controllerId, malformed feedback) that must change nothing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DdiService } from '../../src/protocols/hawkbit/service.js';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { createDeployment, statistics } from '../support/deployment-fixtures.js';

const PAYLOAD = Buffer.from(Array.from({ length: 3000 }, (_, i) => `line ${i}\n`).join(''));
const hex = (algo: string, data: Buffer) => createHash(algo).update(data).digest('hex');

for (const dialect of dialects) {
  describe(`hawkBit DDI API (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let targetToken: string;
    let deviceId: string;
    const mgmt = (
      method: 'GET' | 'PUT' | 'POST' | 'DELETE',
      url: string,
      payload?: unknown,
      headers: Record<string, string> = {},
    ) =>
      t.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${token}`, ...headers },
        ...(payload !== undefined ? { payload: payload as string } : {}),
      });
    const ddi = (
      method: 'GET' | 'PUT' | 'POST',
      path: string,
      options: {
        auth?: string;
        payload?: unknown;
        headers?: Record<string, string>;
        tenant?: string;
        id?: string;
      } = {},
    ) =>
      t.app.inject({
        method,
        url: `/${options.tenant ?? 'DEFAULT'}/controller/v1/${options.id ?? 'dev-1'}${path}`,
        headers: {
          ...(options.auth === '' ? {} : { authorization: options.auth ?? `TargetToken ${targetToken}` }),
          ...(options.headers ?? {}),
        },
        ...(options.payload !== undefined ? { payload: options.payload as object } : {}),
      });
    const upload = (version: string, deviceTypes = 'ddi-board') =>
      mgmt('POST', `/api/ddi/v1/artifacts?filename=update.swu&version=${version}&device_type=${deviceTypes}`, PAYLOAD, {
        'content-type': 'application/octet-stream',
      });
    const ddStatus = async (deploymentId: string) =>
      (
        await t.services.store.db
          .selectFrom('device_deployments')
          .select('status')
          .where('deployment_id', '=', deploymentId)
          .where('device_id', '=', deviceId)
          .executeTakeFirstOrThrow()
      ).status;
    const closed = { status: { execution: 'closed', result: { finished: 'success' }, details: ['done'] } };

    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());

    it('uploads a raw .swu as an artifact; refuses a bad file name, no version, no device type', async () => {
      const res = await upload('swu-1');
      assert.equal(res.statusCode, 201, res.body);
      const artifact = res.json();
      assert.equal(artifact.name, 'swu-1');
      assert.deepEqual(artifact.device_types_compatible, ['ddi-board']);
      assert.equal(artifact.updates[0].type_info.type, 'swupdate');
      assert.equal(artifact.updates[0].files[0].name, 'update.swu');
      assert.equal(artifact.updates[0].files[0].checksum, hex('sha256', PAYLOAD));
      const headers = { 'content-type': 'application/octet-stream' };
      for (const query of [
        'filename=../x&version=a&device_type=b',
        'filename=a.swu&device_type=b',
        'filename=a.swu&version=a',
      ]) {
        const bad = await mgmt('POST', `/api/ddi/v1/artifacts?${query}`, PAYLOAD, headers);
        assert.equal(bad.statusCode, 400, `${query}: ${bad.body}`);
      }
    });

    it('pre-creates a target with a token (accepted device); refuses duplicates and bad bodies', async () => {
      const res = await mgmt('POST', '/api/ddi/v1/targets', {
        controller_id: 'dev-1',
        device_type: 'ddi-board',
      });
      assert.equal(res.statusCode, 201, res.body);
      ({ token: targetToken, device_id: deviceId } = res.json());
      assert.ok(targetToken.length >= 16);
      assert.equal((await t.services.devices.get(t.tenant.id, deviceId)).status, 'accepted');
      assert.equal((await mgmt('POST', '/api/ddi/v1/targets', { controller_id: 'dev-1' })).statusCode, 409);
      assert.equal((await mgmt('POST', '/api/ddi/v1/targets', { controller_id: 'a/b' })).statusCode, 400);
      assert.equal((await mgmt('POST', '/api/ddi/v1/targets', { controller_id: 'x', token: 'short' })).statusCode, 400);
      const shown = await mgmt('GET', '/api/ddi/v1/targets/dev-1');
      assert.equal(shown.json().device_type, 'ddi-board');
      assert.equal((await mgmt('GET', '/api/ddi/v1/targets/nobody')).statusCode, 404);
    });

    it('polls with the target token: sleep and configData, nothing to deploy', async () => {
      const res = await ddi('GET', '');
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), {
        config: { polling: { sleep: '00:05:00' } },
        _links: { configData: { href: 'http://localhost:80/DEFAULT/controller/v1/dev-1/configData' } },
      });
      // The default tenant also answers to its id.
      assert.equal((await ddi('GET', '', { tenant: t.tenant.id })).statusCode, 200);
    });

    it('refuses a wrong token, a gateway token when none is set, no header, an unknown tenant: 401', async () => {
      assert.equal((await ddi('GET', '', { auth: 'TargetToken wrong-token' })).statusCode, 401);
      assert.equal((await ddi('GET', '', { auth: `Bearer ${targetToken}` })).statusCode, 401);
      assert.equal((await ddi('GET', '', { auth: `GatewayToken ${targetToken}` })).statusCode, 401);
      assert.equal((await ddi('GET', '', { auth: '' })).statusCode, 401);
      assert.equal((await ddi('GET', '', { tenant: 'NOSUCH' })).statusCode, 401);
      assert.equal((await ddi('GET', '', { id: 'dev-2' })).statusCode, 401);
    });

    it("refuses another tenant's controllerId and token; that tenant's own path works", async () => {
      const other = await t.services.tenants.create('other', 'OTHER');
      const created = await new DdiService(t.services).createTarget(other.id, {
        controller_id: 'dev-o',
        token: 'other-token-1',
      });
      assert.equal((await ddi('GET', '', { id: 'dev-o', auth: 'TargetToken other-token-1' })).statusCode, 401);
      assert.equal((await ddi('GET', '', { tenant: 'OTHER', auth: `TargetToken ${targetToken}` })).statusCode, 401);
      assert.equal(
        (await ddi('GET', '', { tenant: 'OTHER', id: 'dev-o', auth: 'TargetToken other-token-1' })).statusCode,
        200,
      );
      assert.equal(
        (await ddi('GET', '', { tenant: other.id, id: 'dev-o', auth: 'TargetToken other-token-1' })).statusCode,
        200,
      );
      assert.ok(created.device_id !== deviceId);
    });

    it('configData lands in inventory and sets the device type; malformed configData is a 400', async () => {
      const bad = await ddi('PUT', '/configData', { payload: { data: { a: 1 } } });
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json().errorCode, 'hawkbit.server.error.rest.body.notReadable');
      assert.equal((await ddi('PUT', '/configData', { payload: { data: {}, mode: 'sideways' } })).statusCode, 400);
      const res = await ddi('PUT', '/configData', {
        payload: { mode: 'merge', data: { hwRevision: '2', device_type: 'ddi-board' } },
      });
      assert.equal(res.statusCode, 200, res.body);
      const { device } = await t.services.inventory.device(t.tenant.id, deviceId);
      const inventory = Object.fromEntries(
        device.attributes
          .filter((a: { scope: string }) => a.scope === 'inventory')
          .map((a: { name: string; value: unknown }) => [a.name, a.value]),
      );
      assert.equal(inventory.hwRevision, '2');
      assert.equal(inventory.device_type, 'ddi-board');
      assert.equal(inventory.artifact_name, 'none');
      assert.equal((await ddi('GET', '')).json()._links.configData, undefined);
    });

    let deploymentId: string;
    let actionId: string;
    let downloadUrl: string;
    let moduleUrl: string;

    it('a deployment becomes an action: deploymentBase with chunks, sizes and hashes', async () => {
      deploymentId = await createDeployment(t, token, { name: 'd1', artifact_name: 'swu-1', devices: [deviceId] });
      const poll = (await ddi('GET', '')).json();
      const link = poll._links.deploymentBase.href as string;
      assert.match(link, /^http:\/\/localhost:80\/DEFAULT\/controller\/v1\/dev-1\/deploymentBase\/\d+\?c=\d+$/);
      actionId = /deploymentBase\/(\d+)/.exec(link)?.[1] as string;
      // The same action on the next poll.
      assert.equal((await ddi('GET', '')).json()._links.deploymentBase.href, link);
      const res = await ddi('GET', `/deploymentBase/${actionId}`);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.id, actionId);
      assert.equal(body.deployment.download, 'forced');
      assert.equal(body.deployment.update, 'forced');
      assert.equal(body.deployment.chunks.length, 1);
      const chunk = body.deployment.chunks[0];
      assert.equal(chunk.version, 'swu-1');
      assert.equal(chunk.name, 'swupdate');
      const [file] = chunk.artifacts;
      assert.equal(file.filename, 'update.swu');
      assert.equal(file.size, PAYLOAD.length);
      assert.deepEqual(file.hashes, {
        sha1: hex('sha1', PAYLOAD),
        md5: hex('md5', PAYLOAD),
        sha256: hex('sha256', PAYLOAD),
      });
      downloadUrl = new URL(file._links['download-http'].href).pathname;
      assert.equal(new URL(file._links['md5sum-http'].href).pathname, `${downloadUrl}.MD5SUM`);
      moduleUrl = downloadUrl.replace(/\/update\.swu$/, '');
      assert.equal(await ddStatus(deploymentId), 'pending');
    });

    it('another action id, or a non-numeric one, is not found', async () => {
      const res = await ddi('GET', `/deploymentBase/${Number(actionId) + 1000}`);
      assert.equal(res.statusCode, 404);
      assert.equal(res.json().errorCode, 'hawkbit.server.error.repo.entitiyNotFound');
      assert.equal((await ddi('GET', '/deploymentBase/abc')).statusCode, 404);
    });

    it('lists the software module artifacts and downloads a file whole, by Range, and its .MD5SUM', async () => {
      const auth = { authorization: `TargetToken ${targetToken}` };
      const list = await t.app.inject({ method: 'GET', url: moduleUrl, headers: auth });
      assert.equal(list.statusCode, 200, list.body);
      assert.equal(list.json()[0].filename, 'update.swu');
      const whole = await t.app.inject({ method: 'GET', url: downloadUrl, headers: auth });
      assert.equal(whole.statusCode, 200);
      assert.ok(whole.rawPayload.equals(PAYLOAD));
      assert.equal(whole.headers['accept-ranges'], 'bytes');
      const part = await t.app.inject({
        method: 'GET',
        url: downloadUrl,
        headers: { ...auth, range: 'bytes=100-199' },
      });
      assert.equal(part.statusCode, 206);
      assert.equal(part.headers['content-range'], `bytes 100-199/${PAYLOAD.length}`);
      assert.ok(part.rawPayload.equals(PAYLOAD.subarray(100, 200)));
      const tail = await t.app.inject({ method: 'GET', url: downloadUrl, headers: { ...auth, range: 'bytes=-10' } });
      assert.ok(tail.rawPayload.equals(PAYLOAD.subarray(PAYLOAD.length - 10)));
      const beyond = await t.app.inject({
        method: 'GET',
        url: downloadUrl,
        headers: { ...auth, range: `bytes=${PAYLOAD.length}-` },
      });
      assert.equal(beyond.statusCode, 416);
      // hawkBit refuses a header that is not a byte range with 416 and the size (its FileStreamingUtil).
      for (const range of ['bytes=a-b', 'bytes=-', 'items=0-1']) {
        const malformed = await t.app.inject({ method: 'GET', url: downloadUrl, headers: { ...auth, range } });
        assert.equal(malformed.statusCode, 416, range);
        assert.equal(malformed.headers['content-range'], `bytes */${PAYLOAD.length}`);
      }
      const md5 = await t.app.inject({ method: 'GET', url: `${downloadUrl}.MD5SUM`, headers: auth });
      assert.equal(md5.body, `${hex('md5', PAYLOAD)}  update.swu\n`);
      assert.equal(
        (await t.app.inject({ method: 'GET', url: `${moduleUrl}/other.swu`, headers: auth })).statusCode,
        404,
      );
      assert.equal((await t.app.inject({ method: 'GET', url: downloadUrl })).statusCode, 401);
    });

    it('malformed feedback is a 400 and changes nothing', async () => {
      for (const payload of [
        { status: { execution: 'finished', result: { finished: 'success' } } },
        { status: { execution: 'closed', result: { finished: 'great' } } },
        { status: { execution: 'closed' } },
        { id: '999999', ...closed },
        [],
      ]) {
        const res = await ddi('POST', `/deploymentBase/${actionId}/feedback`, { payload });
        assert.equal(res.statusCode, 400, JSON.stringify(payload));
      }
      const notJson = await ddi('POST', `/deploymentBase/${actionId}/feedback`, {
        payload: '{"status":',
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(notJson.statusCode, 400);
      assert.equal(
        (await ddi('POST', `/deploymentBase/${actionId}/feedback`, { payload: closed, auth: 'TargetToken nope' }))
          .statusCode,
        401,
      );
      assert.equal(
        (await ddi('POST', `/deploymentBase/${Number(actionId) + 1000}/feedback`, { payload: closed })).statusCode,
        404,
      );
      assert.equal(await ddStatus(deploymentId), 'pending');
    });

    it('feedback walks the state machine; closed/success finishes it and records artifact_name', async () => {
      const step = async (execution: string, expected: string) => {
        const res = await ddi('POST', `/deploymentBase/${actionId}/feedback`, {
          payload: { status: { execution, result: { finished: 'none' }, details: [`${execution} now`] } },
        });
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(await ddStatus(deploymentId), expected);
      };
      await step('download', 'downloading');
      await step('downloaded', 'downloading');
      await step('scheduled', 'downloading');
      await step('proceeding', 'installing');
      const res = await ddi('POST', `/deploymentBase/${actionId}/feedback`, { payload: { id: actionId, ...closed } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(await ddStatus(deploymentId), 'success');
      assert.equal((await statistics(t, token, deploymentId)).success, 1);
      const log = await t.services.deployments.logText(t.tenant.id, deploymentId, deviceId);
      assert.match(log, /proceeding\/none: proceeding now/);
      assert.match(log, /closed\/success: done/);
      const shown = await mgmt('GET', '/api/ddi/v1/targets/dev-1');
      assert.equal(shown.json().artifact_name, 'swu-1');
      // The action is over: more feedback is 410 Gone, the poll offers installedBase instead.
      assert.equal((await ddi('POST', `/deploymentBase/${actionId}/feedback`, { payload: closed })).statusCode, 410);
      const poll = (await ddi('GET', '')).json();
      assert.equal(poll._links.deploymentBase, undefined);
      assert.match(poll._links.installedBase.href, new RegExp(`/installedBase/${actionId}$`));
      const installed = await ddi('GET', `/installedBase/${actionId}`);
      assert.equal(installed.statusCode, 200);
      assert.equal(installed.json().deployment.chunks[0].version, 'swu-1');
    });

    it('deploymentBase with actionHistory: the status and the log, newest first', async () => {
      const res = await ddi('GET', `/deploymentBase/${actionId}?actionHistory=2`);
      assert.equal(res.statusCode, 200, res.body);
      const { actionHistory } = res.json();
      assert.equal(actionHistory.status, 'FINISHED');
      assert.equal(actionHistory.messages.length, 2);
      assert.match(actionHistory.messages[0], /closed\/success: done/);
      assert.match(actionHistory.messages[1], /proceeding\/none/);
      assert.ok(
        (await ddi('GET', `/deploymentBase/${actionId}?actionHistory=-1`)).json().actionHistory.messages.length >= 5,
      );
      assert.equal((await ddi('GET', `/deploymentBase/${actionId}`)).json().actionHistory, undefined);
      assert.equal((await ddi('GET', `/deploymentBase/${actionId}?actionHistory=lots`)).statusCode, 400);
    });

    it('confirmation: auto-confirm is on by default, no action waits, malformed confirmation feedback is a 400', async () => {
      const base = await ddi('GET', '/confirmationBase');
      assert.equal(base.statusCode, 200);
      assert.equal(base.json().autoConfirm.active, true);
      assert.equal((await ddi('GET', '/confirmationBase', { auth: 'TargetToken nope' })).statusCode, 401);
      assert.equal(
        (await ddi('POST', '/confirmationBase/activateAutoConfirm', { payload: { initiator: 'me' } })).statusCode,
        200,
      );
      assert.equal((await ddi('POST', '/confirmationBase/deactivateAutoConfirm', { payload: {} })).statusCode, 409);
      assert.equal((await ddi('GET', `/confirmationBase/${actionId}`)).statusCode, 404);
      assert.equal(
        (await ddi('POST', `/confirmationBase/${actionId}/feedback`, { payload: { confirmation: 'maybe' } }))
          .statusCode,
        400,
      );
      assert.equal(
        (await ddi('POST', `/confirmationBase/${actionId}/feedback`, { payload: { confirmation: 'confirmed' } }))
          .statusCode,
        410,
      );
      assert.equal(
        (
          await ddi('POST', `/confirmationBase/${Number(actionId) + 1000}/feedback`, {
            payload: { confirmation: 'confirmed' },
          })
        ).statusCode,
        404,
      );
    });

    it('PUT installedBase sets what the target runs; a malformed one is a 400 and changes nothing', async () => {
      assert.equal((await ddi('PUT', '/installedBase', { payload: { name: 'x' } })).statusCode, 400);
      assert.equal((await mgmt('GET', '/api/ddi/v1/targets/dev-1')).json().artifact_name, 'swu-1');
      assert.equal(
        (await ddi('PUT', '/installedBase', { payload: { name: 'linux', version: 'swu-1b' } })).statusCode,
        200,
      );
      assert.equal((await mgmt('GET', '/api/ddi/v1/targets/dev-1')).json().artifact_name, 'swu-1b');
      const { device } = await t.services.inventory.device(t.tenant.id, deviceId);
      assert.equal(device.attributes.find((a: { name: string }) => a.name === 'artifact_name')?.value, 'swu-1b');
    });

    it('an aborted deployment offers cancelAction; the acknowledgement closes it', async () => {
      assert.equal((await upload('swu-2')).statusCode, 201);
      const id = await createDeployment(t, token, { name: 'd2', artifact_name: 'swu-2', devices: [deviceId] });
      const link = (await ddi('GET', '')).json()._links.deploymentBase.href as string;
      const action = /deploymentBase\/(\d+)/.exec(link)?.[1] as string;
      assert.notEqual(action, actionId);
      assert.equal((await ddi('GET', `/cancelAction/${action}`)).statusCode, 404);
      const abort = await mgmt('PUT', `/api/management/v1/deployments/deployments/${id}/status`, { status: 'aborted' });
      assert.equal(abort.statusCode, 204, abort.body);
      // Feedback sent before the device polls again is refused, and the cancellation is still offered after it.
      const late = { status: { execution: 'proceeding', result: { finished: 'none' } } };
      assert.equal((await ddi('POST', `/deploymentBase/${action}/feedback`, { payload: late })).statusCode, 410);
      const poll = (await ddi('GET', '')).json();
      assert.equal(poll._links.deploymentBase, undefined);
      assert.match(poll._links.cancelAction.href, new RegExp(`/cancelAction/${action}$`));
      const cancel = await ddi('GET', `/cancelAction/${action}`);
      assert.deepEqual(cancel.json(), { id: action, cancelAction: { stopId: action } });
      // Deployment feedback on a cancelled action is gone; malformed cancel feedback is a 400.
      assert.equal((await ddi('POST', `/deploymentBase/${action}/feedback`, { payload: closed })).statusCode, 410);
      assert.equal(
        (await ddi('POST', `/cancelAction/${action}/feedback`, { payload: { status: {} } })).statusCode,
        400,
      );
      assert.equal((await ddi('GET', '')).json()._links.cancelAction.href, poll._links.cancelAction.href);
      const ack = await ddi('POST', `/cancelAction/${action}/feedback`, { payload: closed });
      assert.equal(ack.statusCode, 200, ack.body);
      const after = (await ddi('GET', '')).json();
      assert.equal(after._links.cancelAction, undefined);
      assert.equal(after._links.deploymentBase, undefined);
      assert.equal((await ddi('POST', `/cancelAction/${action}/feedback`, { payload: closed })).statusCode, 410);
      assert.equal(await ddStatus(id), 'aborted');
    });

    it('gateway token registers unknown targets as pending (or accepted when the tenant says so)', async () => {
      const set = await mgmt('PUT', '/api/ddi/v1/settings', {
        gateway_token: 'gateway-secret',
        polling_sleep: 2,
      });
      assert.equal(set.statusCode, 200, set.body);
      assert.deepEqual(set.json(), {
        gateway_token_set: true,
        anonymous: false,
        auto_accept: false,
        auto_confirm: true,
        default_device_type: 'ddi',
        polling_sleep: 2,
      });
      assert.equal((await mgmt('PUT', '/api/ddi/v1/settings', { polling_sleep: 0 })).statusCode, 400);
      assert.equal((await mgmt('PUT', '/api/ddi/v1/settings', { anonymous: 'yes' })).statusCode, 400);
      const res = await ddi('GET', '', { id: 'gw-1', auth: 'GatewayToken gateway-secret' });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().config.polling.sleep, '00:00:02');
      const target = (await mgmt('GET', '/api/ddi/v1/targets/gw-1')).json();
      assert.equal((await t.services.devices.get(t.tenant.id, target.device_id)).status, 'pending');
      assert.equal((await ddi('GET', '', { id: 'gw-2', auth: 'GatewayToken wrong' })).statusCode, 401);
      await mgmt('PUT', '/api/ddi/v1/settings', { auto_accept: true });
      await ddi('GET', '', { id: 'gw-2', auth: 'GatewayToken gateway-secret' });
      const accepted = (await mgmt('GET', '/api/ddi/v1/targets/gw-2')).json();
      assert.equal((await t.services.devices.get(t.tenant.id, accepted.device_id)).status, 'accepted');
    });

    it('a failed attempt with retries left becomes a new action for the retry', async () => {
      assert.equal((await upload('swu-3')).statusCode, 201);
      const id = await createDeployment(t, token, {
        name: 'd3',
        artifact_name: 'swu-3',
        devices: [deviceId],
        retries: 1,
      });
      const actionOf = async () =>
        /deploymentBase\/(\d+)/.exec((await ddi('GET', '')).json()._links.deploymentBase?.href ?? '')?.[1];
      const first = await actionOf();
      assert.ok(first);
      const failure = { status: { execution: 'closed', result: { finished: 'failure' }, details: ['disk full'] } };
      assert.equal((await ddi('POST', `/deploymentBase/${first}/feedback`, { payload: failure })).statusCode, 200);
      assert.equal(await ddStatus(id), 'pending');
      const second = await actionOf();
      assert.ok(second && second !== first, `${first} then ${second}`);
      assert.equal((await ddi('POST', `/deploymentBase/${second}/feedback`, { payload: failure })).statusCode, 200);
      assert.equal(await ddStatus(id), 'failure');
      assert.equal(await actionOf(), undefined);
      assert.equal((await statistics(t, token, id)).failure, 1);
    });

    it('a decommissioned target loses its token', async () => {
      const created = await mgmt('POST', '/api/ddi/v1/targets', { controller_id: 'gone-1', token: 'gone-token-1' });
      const auth = 'TargetToken gone-token-1';
      assert.equal((await ddi('GET', '', { id: 'gone-1', auth })).statusCode, 200);
      const del = await mgmt('DELETE', `/api/management/v2/devauth/devices/${created.json().device_id}`);
      assert.equal(del.statusCode, 204, del.body);
      assert.equal((await mgmt('GET', '/api/ddi/v1/targets/gone-1')).statusCode, 404);
      // The controller id is free again: an operator can create it anew; the old token is dead.
      assert.equal((await mgmt('POST', '/api/ddi/v1/targets', { controller_id: 'gone-1' })).statusCode, 201);
      assert.equal((await ddi('GET', '', { id: 'gone-1', auth })).statusCode, 401);
    });

    it('anonymous polls only once the operator switches anonymous mode on', async () => {
      assert.equal((await ddi('GET', '', { id: 'anon-1', auth: '' })).statusCode, 401);
      await mgmt('PUT', '/api/ddi/v1/settings', { anonymous: true });
      assert.equal((await ddi('GET', '', { id: 'anon-1', auth: '' })).statusCode, 200);
      // A target with a token still needs it (anonymous mode does not open pre-created targets' actions to all).
      assert.equal((await ddi('GET', '', { auth: 'TargetToken nope' })).statusCode, 401);
      assert.equal((await ddi('GET', '', { auth: '' })).statusCode, 401);
      assert.equal((await t.app.inject({ method: 'GET', url: '/api/ddi/v1/settings' })).statusCode, 401);
    });
  });
}
