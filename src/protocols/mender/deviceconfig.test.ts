// Mender deviceconfig through inject, on both dialects: records made on acceptance and removed on decommission,
// configured vs reported maps, the validation limits (400 in Mender's error shape, nothing written), deploying as a
// configuration deployment and the artifact the device then downloads, read back by the real mender-artifact.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../../test/support/app.js';
import { deployment, managementCaller, nextV2, report } from '../../../test/support/deployment-fixtures.js';
import { addDevice, type TestDevice } from '../../../test/support/inventory-fixtures.js';
import { menderArtifactRead } from '../../../test/support/mender-artifact.js';

const MGMT = '/api/management/v1/deviceconfig/configurations/device';
const DEVICE = '/api/devices/v1/deviceconfig/configuration';

for (const dialect of dialects) {
  describe(`deviceconfig (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());

    const mgmt = managementCaller(
      () => t,
      () => token,
    );
    const asDevice = (device: TestDevice, method: 'GET' | 'PUT', payload?: unknown) =>
      t.app.inject({
        method,
        url: DEVICE,
        headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
        ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
      });

    /** A device accepted by an operator through the device admission API, as in production. */
    async function acceptedDevice(): Promise<TestDevice> {
      const device = await addDevice(t, { status: 'pending' });
      const shown = await mgmt('GET', `/api/management/v2/devauth/devices/${device.id}`);
      const authSet = shown.json().auth_sets[0].id;
      const accepted = await mgmt('PUT', `/api/management/v2/devauth/devices/${device.id}/auth/${authSet}/status`, {
        status: 'accepted',
      });
      assert.equal(accepted.statusCode, 204, accepted.body);
      return device;
    }

    async function deploymentCount(): Promise<number> {
      const rows = await t.services.store.db
        .selectFrom('deployments')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(rows.n);
    }

    test('acceptance makes the record, decommissioning removes it', async () => {
      const pending = await addDevice(t, { status: 'pending' });
      assert.equal((await mgmt('GET', `${MGMT}/${pending.id}`)).statusCode, 404, 'not known before acceptance');
      const device = await acceptedDevice();
      const got = await mgmt('GET', `${MGMT}/${device.id}`);
      assert.equal(got.statusCode, 200, got.body);
      const body = got.json();
      assert.deepEqual(Object.keys(body).sort(), ['configured', 'id', 'reported', 'updated_ts']);
      assert.equal(body.id, device.id);
      assert.deepEqual([body.configured, body.reported], [{}, {}]);
      assert.ok(!Number.isNaN(Date.parse(body.updated_ts)));
      assert.deepEqual((await asDevice(device, 'GET')).json(), {});

      const decommissioned = await mgmt('DELETE', `/api/management/v2/devauth/devices/${device.id}`);
      assert.equal(decommissioned.statusCode, 204, decommissioned.body);
      const gone = await mgmt('GET', `${MGMT}/${device.id}`);
      assert.equal(gone.statusCode, 404);
      assert.ok(gone.json().error && gone.json().request_id, "Mender's error shape");
      const rows = await t.services.store.db
        .selectFrom('device_configurations')
        .selectAll()
        .where('device_id', '=', device.id)
        .execute();
      assert.equal(rows.length, 0);
    });

    test('configured by the operator, read by the device, reported back, shown side by side', async () => {
      const device = await acceptedDevice();
      const set = await mgmt('PUT', `${MGMT}/${device.id}`, { timezone: 'UTC', hostname: 'pump-7' });
      assert.equal(set.statusCode, 204, set.body);
      const read = await asDevice(device, 'GET');
      assert.equal(read.statusCode, 200);
      assert.deepEqual(read.json(), { timezone: 'UTC', hostname: 'pump-7' });
      const reported = await asDevice(device, 'PUT', { timezone: 'UTC' });
      assert.equal(reported.statusCode, 204, reported.body);
      const shown = (await mgmt('GET', `${MGMT}/${device.id}`)).json();
      assert.deepEqual(shown.configured, { timezone: 'UTC', hostname: 'pump-7' });
      assert.deepEqual(shown.reported, { timezone: 'UTC' });
      assert.ok(!Number.isNaN(Date.parse(shown.reported_ts)));
      // A PUT replaces the whole map.
      assert.equal((await mgmt('PUT', `${MGMT}/${device.id}`, { a: '' })).statusCode, 204);
      assert.deepEqual((await mgmt('GET', `${MGMT}/${device.id}`)).json().configured, { a: '' });
    });

    test('bad configurations are 400 with nothing written; the limits themselves pass', async () => {
      const device = await acceptedDevice();
      await mgmt('PUT', `${MGMT}/${device.id}`, { keep: 'me' });
      const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, 'v']));
      const long = 'x'.repeat(4097);
      const bad: [string, string][] = [
        ['{"n":1}', 'invalid type: float64'],
        ['{"b":true}', 'invalid type: bool'],
        ['{"o":{"value":"x"}}', 'invalid type'],
        ['{"l":["x"]}', 'invalid type'],
        ['{"z":null}', 'invalid type'],
        ['["a"]', 'object'],
        ['"text"', 'object'],
        ['{"a":', ''],
        ['{"":"empty key"}', 'blank'],
        [JSON.stringify(many), 'too many configuration attributes, maximum is 100'],
        [JSON.stringify({ [long]: 'v' }), 'no more than 4096'],
        [JSON.stringify({ k: long }), 'no more than 4096'],
      ];
      for (const [payload, message] of bad) {
        for (const [who, call] of [
          [
            'management',
            () =>
              t.app.inject({
                method: 'PUT',
                url: `${MGMT}/${device.id}`,
                headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
                payload,
              }),
          ],
          [
            'device',
            () =>
              t.app.inject({
                method: 'PUT',
                url: DEVICE,
                headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
                payload,
              }),
          ],
        ] as const) {
          const res = await call();
          assert.equal(res.statusCode, 400, `${who} ${payload.slice(0, 40)}: ${res.body}`);
          assert.match(res.json().error, new RegExp(message), payload.slice(0, 40));
          assert.ok(res.json().request_id);
        }
      }
      const after = (await mgmt('GET', `${MGMT}/${device.id}`)).json();
      assert.deepEqual(after.configured, { keep: 'me' });
      assert.deepEqual(after.reported, {});
      assert.equal(after.reported_ts, undefined);

      const hundred = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v'.repeat(4096)]));
      hundred['k'.repeat(4096)] = 'edge';
      delete hundred.k0;
      assert.equal((await mgmt('PUT', `${MGMT}/${device.id}`, hundred)).statusCode, 204);
      assert.equal(Object.keys((await mgmt('GET', `${MGMT}/${device.id}`)).json().configured).length, 100);
    });

    test("a change hook runs in the change's transaction: when it fails, nothing of the change is written", async () => {
      const device = await acceptedDevice();
      await mgmt('PUT', `${MGMT}/${device.id}`, { before: 'yes' });
      const seen: string[] = [];
      let fail = true;
      t.services.configuration.onChange(async (change, trx) => {
        // What an audit entry would do: write in the same transaction, here a row the test can look for.
        await trx
          .selectFrom('device_configurations')
          .select('device_id')
          .where('device_id', '=', change.deviceId)
          .execute();
        seen.push(`${change.action}:${change.actor.kind}:${JSON.stringify(change.configuration)}`);
        if (fail) throw new Error('the audit log is full');
      });
      const before = await deploymentCount();
      assert.equal((await mgmt('PUT', `${MGMT}/${device.id}`, { after: 'no' })).statusCode, 500);
      assert.equal((await mgmt('POST', `${MGMT}/${device.id}/deploy`, {})).statusCode, 500);
      const shown = (await mgmt('GET', `${MGMT}/${device.id}`)).json();
      assert.deepEqual(shown.configured, { before: 'yes' }, 'the set rolled back');
      assert.equal(shown.deployment_id, undefined, 'the deploy rolled back');
      assert.equal(await deploymentCount(), before, 'no deployment either');
      fail = false;
      assert.equal((await mgmt('POST', `${MGMT}/${device.id}/deploy`, {})).statusCode, 200);
      assert.deepEqual(seen, [
        'set_configuration:user:{"after":"no"}',
        'deploy_configuration:user:{"before":"yes"}',
        'deploy_configuration:user:{"before":"yes"}',
      ]);
    });

    test('unknown devices and the wrong kind of token', async () => {
      const nobody = '00000000-0000-4000-8000-000000000000';
      assert.equal((await mgmt('GET', `${MGMT}/${nobody}`)).statusCode, 404);
      assert.equal((await mgmt('PUT', `${MGMT}/${nobody}`, { a: 'b' })).statusCode, 404);
      assert.equal((await mgmt('POST', `${MGMT}/${nobody}/deploy`, {})).statusCode, 404);
      const device = await acceptedDevice();
      const asUser = await t.app.inject({ method: 'GET', url: DEVICE, headers: { authorization: `Bearer ${token}` } });
      assert.equal(asUser.statusCode, 403);
      const asDev = await t.app.inject({
        method: 'GET',
        url: `${MGMT}/${device.id}`,
        headers: { authorization: `Bearer ${device.token}` },
      });
      assert.equal(asDev.statusCode, 403);
      // A device accepted before the configuration service knew it (no record): its GET is 404, as Mender's.
      const unprovisioned = await addDevice(t);
      assert.equal((await asDevice(unprovisioned, 'GET')).statusCode, 404);
    });

    test('deploy: a configuration deployment of the configured map; the device downloads a mender-configure artifact', async () => {
      const device = await acceptedDevice();
      await mgmt('PUT', `${MGMT}/${device.id}`, { mode: 'eco', 'ntp.server': 'pool.ntp.org' });
      const before = await deploymentCount();
      for (const body of [{ retries: -1 }, { retries: 'two' }, { update_control_map: { priority: 'x' } }, []]) {
        const refused = await mgmt('POST', `${MGMT}/${device.id}/deploy`, body as object);
        assert.equal(refused.statusCode, 400, `${JSON.stringify(body)}: ${refused.body}`);
      }
      assert.equal(await deploymentCount(), before, 'no deployment from a refused request');
      assert.equal((await mgmt('GET', `${MGMT}/${device.id}`)).json().deployment_id, undefined);

      const res = await mgmt('POST', `${MGMT}/${device.id}/deploy`, { retries: 1 });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(Object.keys(res.json()), ['deployment_id']);
      const id = res.json().deployment_id as string;
      assert.equal((await mgmt('GET', `${MGMT}/${device.id}`)).json().deployment_id, id);
      const shown = await deployment(t, token, id);
      assert.equal(shown.type, 'configuration');
      assert.equal(shown.artifact_name, `configuration-${id}`);
      assert.deepEqual(JSON.parse(shown.configuration), { mode: 'eco', 'ntp.server': 'pool.ntp.org' });

      const next = await nextV2(t, device, { device_type: 'pump', artifact_name: 'factory' });
      assert.equal(next.statusCode, 200, next.body);
      const uri = new URL(next.json().artifact.source.uri);
      const download = await t.app.inject({ method: 'GET', url: `${uri.pathname}${uri.search}` });
      assert.equal(download.statusCode, 200, download.body);
      assert.equal(download.headers['content-type'], 'application/vnd.mender-artifact');
      // mender-client refuses a download of unknown size, and resumes one with Range.
      assert.equal(download.headers['content-length'], String(download.rawPayload.length));
      const resumed = await t.app.inject({
        method: 'GET',
        url: `${uri.pathname}${uri.search}`,
        headers: { range: 'bytes=1000-' },
      });
      assert.equal(resumed.statusCode, 206);
      assert.equal(
        resumed.headers['content-range'],
        `bytes 1000-${download.rawPayload.length - 1}/${download.rawPayload.length}`,
      );
      assert.ok(resumed.rawPayload.equals(download.rawPayload.subarray(1000)), 'the same bytes on every request');
      const work = mkdtempSync(join(tmpdir(), 'flotilla-cfg-'));
      try {
        const file = join(work, 'cfg.mender');
        writeFileSync(file, download.rawPayload);
        const read = menderArtifactRead(file);
        assert.equal(read.name, `configuration-${id}`);
        assert.deepEqual(read.deviceTypes, ['pump']);
        assert.equal(read.updates.length, 1);
        const [update] = read.updates;
        assert.equal(update.type, 'mender-configure');
        assert.deepEqual(update.provides, { 'data-partition.mender-configure.version': `configuration-${id}` });
        assert.deepEqual(update.clearsProvides, ['data-partition.mender-configure.*']);
        assert.deepEqual(update.files, []);
        assert.deepEqual(update.metaData, { mode: 'eco', 'ntp.server': 'pool.ntp.org' });
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
      // The rest is an ordinary deployment: the device's failure is retried once, then success finishes it.
      assert.equal((await report(t, device, id, 'failure')).statusCode, 204);
      const again = await nextV2(t, device, { device_type: 'pump', artifact_name: 'factory' });
      assert.equal(again.statusCode, 200, 'retries: 1 gives a second attempt');
      assert.equal((await report(t, device, id, 'success')).statusCode, 204);
      assert.equal((await deployment(t, token, id)).status, 'finished');
    });
  });
}
