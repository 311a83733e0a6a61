// End to end, issue 15: two tenants made by the operator API of a real `flotilla serve`, each with a real
// mender-client 3.4, the real SWUpdate (both SWUpdates poll the same controller id, under their own tenant's DDI
// path) and a simulated Kanto device on the embedded broker. Each tenant sees only its own devices, deployments
// and logs; the other's credentials are refused; alpha's deployments reach all of alpha's devices while bravo's
// devices, polling all along with the same device types, get nothing; an upload past bravo's storage limit is
// refused and leaves nothing behind. Both dialects: about half a minute each.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import { KantoDeviceSimulator } from '../../src/agent/kanto/device.js';
import { compositeApp } from '../kanto/support.js';
import { type MenderFleet, requireMender, startMenderClients } from '../support/mender-client.js';
import { multipart } from '../support/multipart.js';
import {
  buildSwu,
  makeKit,
  requireSwupdate,
  type SwuKit,
  type SwupdateClient,
  startSwupdate,
} from '../support/swupdate.js';
import { callApi, type FlotillaServer, freePort, startFlotilla } from './flotilla-server.js';
import { AbortWait, stepper, waitFor } from './process.js';

const D1 = '/api/management/v1/deployments';
const DEVAUTH = '/api/management/v2/devauth';
const DDI_TYPE = 'swu-board';
const KANTO_TYPE = 'kanto-board';
const CONTROLLER = 'gateway-1';
const OPERATOR_TOKEN = `operator-${randomBytes(12).toString('hex')}`;

interface Tenant {
  name: string;
  id: string;
  tenantToken: string;
  token: string;
  fleet?: MenderFleet;
  swupdate?: SwupdateClient;
  kanto?: KantoDeviceSimulator;
  targetToken: string;
  menderId: string;
  ddiId: string;
  kantoId: string;
  kantoUser: { authId: string; password: string };
}

const dialects = (process.env.FLOTILLA_TEST_DIALECTS ?? 'sqlite,postgres')
  .split(',')
  .filter((d): d is 'sqlite' | 'postgres' => d === 'sqlite' || d === 'postgres');

for (const dialect of dialects)
  describe(`two tenants on one server, each with a real mender-client, SWUpdate and a Kanto device (${dialect})`, () => {
    let server: FlotillaServer | undefined;
    let kit: SwuKit | undefined;
    let mqttUrl = '';
    let destDir = '';
    const tenants: Tenant[] = [];
    const api = (tenant: Tenant, method: string, path: string, body?: unknown) =>
      callApi(server!.url, tenant.token, method, path, body);

    const step = stepper(() =>
      [
        server ? `--- flotilla log ---\n${server.logTail()}` : '',
        ...tenants.flatMap((t) => [
          t.fleet ? `--- ${t.name} ---\n${t.fleet.logTails()}` : '',
          t.swupdate ? `--- ${t.name} swupdate ---\n${t.swupdate.logTail(40)}` : '',
        ]),
      ].join('\n'),
    );

    async function createTenant(name: string): Promise<Tenant> {
      const email = `admin@${name}.example`;
      const password = `pw-${randomBytes(8).toString('hex')}`;
      const created = await callApi(server!.url, OPERATOR_TOKEN, 'POST', '/api/admin/v1/tenants', {
        name,
        admin_email: email,
        admin_password: password,
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      const login = await fetch(`${server!.url}/api/management/v1/useradm/auth/login`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}` },
      });
      assert.equal(login.status, 200);
      return {
        name,
        id: created.json.tenant.id,
        tenantToken: created.json.tenant.tenant_token,
        token: await login.text(),
        targetToken: `${name}-target-${randomBytes(8).toString('hex')}`,
        menderId: '',
        ddiId: '',
        kantoId: '',
        kantoUser: { authId: '', password: '' },
      };
    }

    before(async () => {
      requireMender();
      requireSwupdate();
      kit = makeKit();
      destDir = mkdtempSync(join(tmpdir(), 'flotilla-e2e-tenants-'));
      const mqttPort = await freePort();
      mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;
      server = await startFlotilla(dialect, {
        env: {
          FLOTILLA_ADMIN_TOKEN: OPERATOR_TOKEN,
          FLOTILLA_MQTT_PORT: String(mqttPort),
          FLOTILLA_KANTO_PUSH_INTERVAL: '1',
        },
      });
      tenants.push(await createTenant('alpha'), await createTenant('bravo'));
    });

    after(async () => {
      for (const t of tenants) {
        await t.swupdate?.stop();
        await t.fleet?.stop();
        await t.kanto?.close();
      }
      await server?.stop();
      kit?.cleanup();
      if (destDir) rmSync(destDir, { recursive: true, force: true });
    });

    step('each tenant admits its own Mender client, SWUpdate target and Kanto thing, and sees only those', async () => {
      for (const t of tenants) {
        // Same device type, same controller id in both tenants: only the tenant tells them apart.
        t.fleet = await startMenderClients({ serverUrl: server!.url, tenantToken: t.tenantToken, count: 1 });
        assert.equal((await api(t, 'PUT', '/api/ddi/v1/settings', { polling_sleep: 1 })).status, 200);
        const target = await api(t, 'POST', '/api/ddi/v1/targets', {
          controller_id: CONTROLLER,
          token: t.targetToken,
          device_type: DDI_TYPE,
        });
        assert.equal(target.status, 201, JSON.stringify(target.json));
        t.ddiId = target.json.device_id;
        t.swupdate = startSwupdate(kit!, {
          serverUrl: server!.url,
          tenant: t.name.toUpperCase(),
          controllerId: CONTROLLER,
          targetToken: t.targetToken,
        });
        const thingId = `flotilla.e2e:${t.name}-${randomBytes(3).toString('hex')}`;
        const thing = await api(t, 'POST', '/api/kanto/v1/devices', { thing_id: thingId, device_type: KANTO_TYPE });
        assert.equal(thing.status, 201, JSON.stringify(thing.json));
        t.kantoId = thing.json.device_id;
        t.kantoUser = { authId: thing.json.auth_id, password: thing.json.password };
        t.kanto = new KantoDeviceSimulator({
          url: mqttUrl,
          tenantId: t.id,
          thingId,
          topics: 'hono',
          username: `${thing.json.auth_id}@${t.name.toUpperCase()}`,
          password: thing.json.password,
        });
        await t.kanto.connect();
      }
      for (const t of tenants) {
        const pending = await waitFor(`${t.name}'s Mender client to ask for admission`, async () => {
          const list = (await api(t, 'GET', `${DEVAUTH}/devices?status=pending`)).json as {
            id: string;
            auth_sets: { id: string }[];
          }[];
          return list.length === 1 ? list[0] : undefined;
        });
        const accepted = await api(
          t,
          'PUT',
          `${DEVAUTH}/devices/${pending.id}/auth/${pending.auth_sets[0].id}/status`,
          {
            status: 'accepted',
          },
        );
        assert.equal(accepted.status, 204);
        t.menderId = pending.id;
      }
      for (const t of tenants) {
        await waitFor(`${t.name}'s Mender client to report its inventory`, async () => {
          t.fleet!.clients[0].signal('SIGUSR2');
          const res = await api(t, 'GET', `/api/management/v1/inventory/devices/${t.menderId}`);
          return (
            ((res.json?.attributes ?? []) as { name: string }[]).some((a) => a.name === 'device_type') || undefined
          );
        });
        const listed = (await api(t, 'GET', `${DEVAUTH}/devices?per_page=500`)).json as {
          id: string;
          status: string;
        }[];
        assert.deepEqual(
          listed.map((d) => d.id).sort(),
          [t.menderId, t.ddiId, t.kantoId].sort(),
          `${t.name} sees its three devices and no other`,
        );
        assert.ok(listed.every((d) => d.status === 'accepted'));
      }
    });

    step("alpha's deployments reach alpha's devices; bravo's devices poll all along and get nothing", async () => {
      const [alpha, bravo] = tenants;
      const release = 'tenants-e2e-1';
      const body = multipart(
        {
          name: release,
          device_types_compatible: `${alpha.fleet!.deviceType},${DDI_TYPE}`,
          type: 'single_file',
          args: JSON.stringify({ dest_dir: destDir, filename: 'update.swu' }),
        },
        { field: 'file', filename: 'update.swu', content: buildSwu(kit!, release) },
      );
      const generated = await fetch(`${server!.url}${D1}/artifacts/generate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alpha.token}`, ...body.headers },
        body: new Uint8Array(body.payload),
      });
      assert.equal(generated.status, 201, await generated.text());
      const bravoSwuFrom = bravo.swupdate!.log().length;
      const bravoMenderFrom = bravo.fleet!.clients[0].log().length;
      const update = await api(alpha, 'POST', `${D1}/deployments`, {
        name: 'alpha update',
        artifact_name: release,
        devices: [alpha.menderId, alpha.ddiId],
      });
      assert.equal(update.status, 201, JSON.stringify(update.json));
      const updateId = String(update.headers.get('location')).split('/').pop() as string;
      const state = await api(alpha, 'POST', '/api/kanto/v1/desired-states', {
        name: 'alpha-apps',
        version: '1.0',
        device_types_compatible: [KANTO_TYPE],
        desired_state: compositeApp,
      });
      assert.equal(state.status, 201, JSON.stringify(state.json));
      const apps = await api(alpha, 'POST', `${D1}/deployments`, {
        name: 'alpha apps',
        artifact_name: state.json.name,
        devices: [alpha.kantoId],
      });
      assert.equal(apps.status, 201, JSON.stringify(apps.json));
      const appsId = String(apps.headers.get('location')).split('/').pop() as string;

      const statusOf = async (id: string, deviceId: string) =>
        ((await api(alpha, 'GET', `${D1}/deployments/${id}/devices`)).json as { id: string; status: string }[]).find(
          (d) => d.id === deviceId,
        )?.status;
      await waitFor(
        "alpha's three devices to install",
        async () => {
          for (const t of tenants) {
            const client = t.fleet!.clients[0];
            if (client.exited) throw new AbortWait(`${t.name}'s mender exited: ${client.exited}`);
            client.signal('SIGUSR1');
          }
          const mender = await statusOf(updateId, alpha.menderId);
          if (mender === 'failure') throw new AbortWait("alpha's Mender client failed");
          const ddiLog = await api(alpha, 'GET', `${D1}/deployments/${updateId}/devices/${alpha.ddiId}/log`);
          const kanto = await statusOf(appsId, alpha.kantoId);
          return mender === 'success' && String(ddiLog.json).includes('All Chunks Installed') && kanto === 'success'
            ? true
            : undefined;
        },
        { timeoutMs: 180_000, intervalMs: 1000 },
      );
      // Bravo asked all along with the same device types and controller id: nothing came.
      const bravoLog = bravo.fleet!.clients[0].log().slice(bravoMenderFrom);
      assert.match(bravoLog, /update-check \[Sync\] -> check-wait \[Idle\]/, 'bravo checked for updates meanwhile');
      assert.doesNotMatch(bravoLog, /update-fetch|update-store|Downloading/, 'and fetched none');
      assert.doesNotMatch(bravoLog, new RegExp(release));
      assert.doesNotMatch(bravo.swupdate!.log(), /update\.swu|deploymentBase/);
      // Bravo's SWUpdate (polling every second) polls its tenant's path at least twice while alpha's deployment is on.
      await waitFor("bravo's SWUpdate to poll twice", async () => {
        const polls =
          bravo
            .swupdate!.log()
            .slice(bravoSwuFrom)
            .match(/No pending action on server/g) ?? [];
        return polls.length >= 2 || undefined;
      });
      assert.match(bravo.swupdate!.log(), /\/BRAVO\/controller\/v1\/gateway-1/);
      assert.ok(!bravo.kanto!.commands.some((c) => c.topic.includes('apply')), "bravo's thing got no desired state");
      assert.ok(
        alpha.kanto!.commands.some((c) => c.topic.includes('apply')),
        "alpha's thing got its desired state",
      );
      assert.deepEqual((await api(bravo, 'GET', `${D1}/deployments`)).json, []);
      for (const id of [bravo.menderId, bravo.ddiId, bravo.kantoId]) {
        assert.deepEqual((await api(bravo, 'GET', `${D1}/deployments/devices/${id}`)).json, [], id);
      }
      // Alpha's deployments, artifacts and logs are not bravo's to see.
      for (const path of [
        `${D1}/deployments/${updateId}`,
        `${D1}/deployments/${updateId}/devices/${alpha.ddiId}/log`,
        `${D1}/deployments/${updateId}/devices/${alpha.menderId}/log`,
        `${DEVAUTH}/devices/${alpha.menderId}`,
        `/api/kanto/v1/devices/${alpha.kantoId}`,
        `/api/management/v2/deployments/deployments/releases/${release}`,
      ]) {
        const res = await api(bravo, 'GET', path);
        assert.equal(res.status, 404, `${path}: ${res.status}`);
      }
      assert.deepEqual((await api(bravo, 'GET', `${D1}/artifacts`)).json, []);
    });

    step("one tenant's credentials are refused at the other's", async () => {
      const [alpha, bravo] = tenants;
      const poll = (tenant: string, token: string) =>
        fetch(`${server!.url}/${tenant}/controller/v1/${CONTROLLER}`, {
          headers: { authorization: `TargetToken ${token}`, accept: 'application/json' },
        });
      assert.equal((await poll('ALPHA', alpha.targetToken)).status, 200);
      assert.equal((await poll('BRAVO', alpha.targetToken)).status, 401);
      assert.equal((await poll(bravo.id, alpha.targetToken)).status, 401);
      const crossed = new KantoDeviceSimulator({
        url: mqttUrl,
        tenantId: bravo.id,
        thingId: 'flotilla.e2e:crossed',
        topics: 'hono',
        username: `${alpha.kantoUser.authId}@BRAVO`,
        password: alpha.kantoUser.password,
      });
      await assert.rejects(crossed.connect(), /Bad username or password|Connection refused/);
      await crossed.close();
      // A user token is no operator token, and the operator API is not a tenant's.
      assert.equal((await callApi(server!.url, alpha.token, 'GET', '/api/admin/v1/tenants')).status, 401);
    });

    step("an upload past bravo's storage limit is refused and leaves nothing behind", async () => {
      const [, bravo] = tenants;
      const limited = await callApi(server!.url, OPERATOR_TOKEN, 'PUT', '/api/admin/v1/tenants/bravo/limits', {
        storage_limit: 1000,
      });
      assert.equal(limited.status, 200);
      const blobs = join(server!.dataDir, 'blobs');
      const files = () =>
        readdirSync(blobs, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath, e.name))
          .sort();
      const before = files();
      const body = multipart(
        { name: 'too-big', device_types_compatible: DDI_TYPE, type: 'single_file', args: '{}' },
        { field: 'file', filename: 'big.bin', content: randomBytes(4000) },
      );
      const refused = await fetch(`${server!.url}${D1}/artifacts/generate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bravo.token}`, ...body.headers },
        body: new Uint8Array(body.payload),
      });
      assert.equal(refused.status, 400, await refused.text());
      assert.deepEqual(files(), before, 'no blob, no temporary blob');
      assert.deepEqual(
        readdirSync(server!.dataDir).filter((name) => name.startsWith('tmp-')),
        [],
        'no work folder',
      );
      assert.deepEqual((await api(bravo, 'GET', `${D1}/artifacts`)).json, []);
    });
  });
