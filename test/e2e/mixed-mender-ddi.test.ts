// End to end: one deployment reaches a real mender-client 3.4 and the real SWUpdate (hawkBit DDI) together, on
// SQLite and on PostgreSQL, and finishes with both in `success`. One release serves both: Flotilla's `generate`
// wraps a signed `.swu` in a single-file Mender artifact compatible with both device types; the Mender client
// installs it with Debian's single-file update module (into a temporary folder), and SWUpdate gets the same payload
// file, `update.swu`, as its chunk artifact (the single-file module's dest_dir/filename/permissions are not shown).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
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
import { callApi, type FlotillaServer, startFlotilla } from './flotilla-server.js';
import { AbortWait, waitFor } from './process.js';

const D1 = '/api/management/v1/deployments';
const DDI_TYPE = 'swu-board';
const RELEASE = 'mixed-e2e-1';

const dialects = (process.env.FLOTILLA_TEST_DIALECTS ?? 'sqlite,postgres')
  .split(',')
  .filter((d): d is 'sqlite' | 'postgres' => d === 'sqlite' || d === 'postgres');

for (const dialect of dialects)
  describe(`one deployment to a real mender-client and the real SWUpdate (${dialect})`, () => {
    let server: FlotillaServer | undefined;
    let fleet: MenderFleet | undefined;
    let kit: SwuKit | undefined;
    let swupdate: SwupdateClient | undefined;
    let destDir = '';
    let token = '';
    let failed = false;
    let menderId = '';
    let ddiId = '';
    let swu: Buffer = Buffer.alloc(0);
    const controllerId = `mixed-${dialect}`;
    const targetToken = `mixed-target-token-${dialect}`;
    const api = (method: string, path: string, body?: unknown) => callApi(server!.url, token, method, path, body);

    const step = (name: string, body: () => Promise<void>) =>
      it(name, async () => {
        assert.ok(!failed, 'an earlier step failed');
        try {
          await body();
        } catch (error) {
          failed = true;
          if (server) process.stderr.write(`--- flotilla log ---\n${server.logTail()}\n`);
          if (fleet) process.stderr.write(`${fleet.logTails()}\n`);
          if (swupdate) process.stderr.write(`--- swupdate log ---\n${swupdate.logTail(60)}\n`);
          throw error;
        }
      });

    before(async () => {
      requireMender();
      requireSwupdate();
      kit = makeKit();
      swu = buildSwu(kit, RELEASE);
      destDir = mkdtempSync(join(tmpdir(), 'flotilla-e2e-mixed-'));
      server = await startFlotilla(dialect);
      fleet = await startMenderClients({ serverUrl: server.url, tenantToken: server.tenantToken, count: 1 });
      const basic = Buffer.from(`${server.adminEmail}:${server.adminPassword}`).toString('base64');
      const login = await fetch(`${server.url}/api/management/v1/useradm/auth/login`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}` },
      });
      token = await login.text();
      assert.equal(login.status, 200);
    });

    after(async () => {
      await swupdate?.stop();
      await fleet?.stop();
      await server?.stop();
      kit?.cleanup();
      if (destDir) rmSync(destDir, { recursive: true, force: true });
    });

    step('the Mender client is accepted and the DDI target pre-created', async () => {
      const pending = await waitFor('the Mender client to ask for admission', async () => {
        const list = (await api('GET', '/api/management/v2/devauth/devices?per_page=500')).json as {
          id: string;
          auth_sets: { id: string }[];
        }[];
        return list.length === 1 ? list[0] : undefined;
      });
      const accepted = await api(
        'PUT',
        `/api/management/v2/devauth/devices/${pending.id}/auth/${pending.auth_sets[0].id}/status`,
        { status: 'accepted' },
      );
      assert.equal(accepted.status, 204);
      menderId = pending.id;
      await waitFor('the Mender client to report its device type', async () => {
        fleet!.clients[0].signal('SIGUSR2');
        const res = await api('GET', `/api/management/v1/inventory/devices/${menderId}`);
        const attrs = (res.json?.attributes ?? []) as { name: string }[];
        return attrs.some((a) => a.name === 'device_type') ? true : undefined;
      });
      assert.equal((await api('PUT', '/api/ddi/v1/settings', { polling_sleep: 1 })).status, 200);
      const created = await api('POST', '/api/ddi/v1/targets', {
        controller_id: controllerId,
        token: targetToken,
        device_type: DDI_TYPE,
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      ddiId = created.json.device_id;
      // Both devices are in the same device list.
      const list = (await api('GET', '/api/management/v2/devauth/devices?per_page=500')).json as { id: string }[];
      assert.deepEqual(list.map((d) => d.id).sort(), [menderId, ddiId].sort());
    });

    step('one single-file artifact holding the .swu serves both device types', async () => {
      const body = multipart(
        {
          name: RELEASE,
          description: 'one release for Mender and hawkBit devices',
          device_types_compatible: `${fleet!.deviceType},${DDI_TYPE}`,
          type: 'single_file',
          args: JSON.stringify({ dest_dir: destDir, filename: 'update.swu' }),
        },
        { field: 'file', filename: 'update.swu', content: swu },
      );
      const gen = await fetch(`${server!.url}${D1}/artifacts/generate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, ...body.headers },
        body: new Uint8Array(body.payload),
      });
      assert.equal(gen.status, 201, await gen.text());
      const artifacts = (await api('GET', `${D1}/artifacts`)).json as {
        name: string;
        device_types_compatible: string[];
      }[];
      const artifact = artifacts.find((a) => a.name === RELEASE);
      assert.deepEqual(artifact?.device_types_compatible.sort(), [fleet!.deviceType, DDI_TYPE].sort());
    });

    step('one deployment to both ends with both devices in success', async () => {
      const created = await api('POST', `${D1}/deployments`, {
        name: 'mixed',
        artifact_name: RELEASE,
        devices: [menderId, ddiId],
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      const id = String(created.headers.get('location')).split('/').pop() as string;
      const statusOf = async (deviceId: string) => {
        const res = await api('GET', `${D1}/deployments/${id}/devices`);
        return (res.json as { id: string; status: string }[]).find((d) => d.id === deviceId)?.status;
      };
      swupdate = startSwupdate(kit!, { serverUrl: server!.url, controllerId, targetToken });
      await waitFor(
        'SWUpdate to install and the Mender client to succeed',
        async () => {
          const client = fleet!.clients[0];
          if (client.exited) throw new AbortWait(`mender exited: ${client.exited}`);
          client.signal('SIGUSR1');
          const log = await api('GET', `${D1}/deployments/${id}/devices/${ddiId}/log`);
          const mender = await statusOf(menderId);
          if (mender === 'failure') throw new AbortWait('the Mender client failed');
          return mender === 'success' && String(log.json).includes('All Chunks Installed') ? true : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      );
      // The DDI chunk is the .swu itself, byte for byte what the Mender client installed.
      assert.match(swupdate.log(), /artifacts\/update\.swu/);
      assert.doesNotMatch(swupdate.log(), /artifacts\/(dest_dir|filename|permissions)/);
      assert.ok(readFileSync(join(destDir, 'update.swu')).equals(swu));
      await swupdate.stop();
      swupdate = startSwupdate(kit!, { serverUrl: server!.url, controllerId, targetToken, confirm: 2 });
      const ddiStatus = await waitFor('the DDI device deployment to end', async () => {
        const s = await statusOf(ddiId);
        return s === 'success' || s === 'failure' ? s : undefined;
      });
      assert.equal(ddiStatus, 'success');
      assert.equal(await statusOf(menderId), 'success');
      const stats = (await api('GET', `${D1}/deployments/${id}/statistics`)).json;
      assert.equal(stats.success, 2);
      assert.equal((await api('GET', `${D1}/deployments/${id}`)).json.status, 'finished');
    });
  });
