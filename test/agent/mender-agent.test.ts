// The Mender agent against a real server on both dialects: it enrolls through the admission API, and an update
// control map from the deployment pauses it before installing (reported as pause_before_installing) until the
// operator's PATCH lets it continue to success; its new artifact name reaches inventory.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HttpCounter } from '../../src/agent/common.js';
import { UpdateControl } from '../../src/agent/control/index.js';
import { MenderAgent } from '../../src/agent/mender.js';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { multipart } from '../support/multipart.js';

const D = '/api/management/v1/deployments';

for (const dialect of dialects) {
  describe(`Mender agent (${dialect})`, () => {
    let t: TestApp;
    let token = '';
    let server = '';
    const api = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload ? { payload } : {}) });

    before(async () => {
      t = await testApp(dialect);
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const address = t.app.server.address();
      server = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      token = await adminToken(t);
      const body = multipart(
        {
          name: 'agent-2.0',
          device_types_compatible: 'agent-board',
          type: 'single_file',
          args: JSON.stringify({ dest_dir: '/tmp', filename: 'agent.txt' }),
        },
        { field: 'file', filename: 'agent.txt', content: Buffer.from('agent\n') },
      );
      const gen = await t.app.inject({
        method: 'POST',
        url: `${D}/artifacts/generate`,
        headers: { authorization: `Bearer ${token}`, ...body.headers },
        payload: body.payload,
      });
      assert.equal(gen.statusCode, 201, gen.body);
    });
    after(() => t.close());

    it('pauses before installing under the deployment control map until a PATCH continues it', async () => {
      const control = new UpdateControl({ pollIntervalSeconds: 1 });
      const installDir = mkdtempSync(join(tmpdir(), 'flotilla-agent-'));
      const http = new HttpCounter();
      const agent = new MenderAgent(
        {
          server,
          deviceType: 'agent-board',
          artifactName: 'agent-1.0',
          tenantToken: t.tenant.tenant_token,
          mac: '02:a6:00:00:00:01',
          control,
          installDir,
        },
        http,
      );
      assert.equal(await agent.authenticate(true), false, 'pending until accepted');
      const devices = (await api('GET', '/api/management/v2/devauth/devices')).json() as {
        id: string;
        identity_data: { mac: string };
        auth_sets: { id: string }[];
      }[];
      const device = devices.find((d) => d.identity_data.mac === '02:a6:00:00:00:01');
      assert.ok(device);
      const accepted = await api(
        'PUT',
        `/api/management/v2/devauth/devices/${device.id}/auth/${device.auth_sets[0].id}/status`,
        {
          status: 'accepted',
        },
      );
      assert.equal(accepted.statusCode, 204);
      assert.equal(await agent.authenticate(), true);
      await agent.sendInventory();

      const created = await api('POST', `${D}/deployments`, {
        name: 'paused',
        artifact_name: 'agent-2.0',
        devices: [device.id],
        update_control_map: { priority: 0, states: { ArtifactInstall_Enter: { action: 'pause' } } },
      });
      assert.equal(created.statusCode, 201, created.body);
      const id = String(created.headers.location).split('/').pop();
      const running = agent.poll();
      let stats: Record<string, number> = {};
      for (let i = 0; i < 100 && stats.pause_before_installing !== 1; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        stats = (await api('GET', `${D}/deployments/${id}/statistics`)).json();
      }
      assert.equal(stats.pause_before_installing, 1, JSON.stringify(stats));
      const patched = await api('PATCH', `${D}/deployments/${id}`, {
        update_control_map: { priority: 0, states: { ArtifactInstall_Enter: { action: 'continue' } } },
      });
      assert.equal(patched.statusCode, 204);
      assert.equal(await running, 'success');
      const after = (await api('GET', `${D}/deployments/${id}/statistics`)).json();
      assert.equal(after.success, 1, JSON.stringify(after));
      assert.equal(agent.artifactName, 'agent-2.0');
      const inventory = (await api('GET', `/api/management/v1/inventory/devices/${device.id}`)).json() as {
        attributes: { name: string; value: unknown }[];
      };
      assert.equal(inventory.attributes.find((a) => a.name === 'artifact_name')?.value, 'agent-2.0');
      assert.equal(http.errors, 0);
      assert.deepEqual(
        readdirSync(installDir),
        ['agent-2.0.mender'],
        'installed into its directory, nothing half-written',
      );
      rmSync(installDir, { recursive: true, force: true });
      control.close();
    });
  });
}
