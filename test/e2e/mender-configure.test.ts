// End to end with a real mender-client 3.4 and device configuration, on SQLite and on PostgreSQL: without a
// mender-configure update module the client fails a configuration deployment and its log says why; with the
// project's module and inventory script (contrib/mender-configure) it installs the generated artifact (meta-data →
// the configuration file, apply scripts run) and reports the file back through its local proxy, the token and the
// proxy's URL coming from the client over its D-Bus API; the management GET then shows reported == configured. An
// apply script that fails makes the client roll back: the module restores and re-applies the previous file.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dialects } from '../support/app.js';
import {
  installScript,
  MARKER,
  type MenderFleet,
  requireMender,
  startMenderClients,
} from '../support/mender-client.js';
import { callApi, type FlotillaServer, startFlotilla } from './flotilla-server.js';
import { AbortWait, waitFor } from './process.js';

const CONTRIB = resolve(import.meta.dirname, '../../contrib/mender-configure');
const MODULE_PATH = '/usr/share/mender/modules/v3/mender-configure';
const INVENTORY_PATH = '/usr/share/mender/inventory/mender-inventory-mender-configure';
const CFG = '/api/management/v1/deviceconfig/configurations/device';
const D1 = '/api/management/v1/deployments/deployments';

/** The project's script with the marker that lets these tests replace or remove it at a system path. */
function contribScript(name: string): string {
  const text = readFileSync(join(CONTRIB, name), 'utf8');
  const [shebang, ...rest] = text.split('\n');
  return [
    shebang,
    `# ${MARKER} (test/e2e/mender-configure.test.ts) from contrib/mender-configure/${name}.`,
    ...rest,
  ].join('\n');
}

/** Takes our module away (the negative case); refuses to touch one these tests did not install. */
function removeModule(): void {
  if (!existsSync(MODULE_PATH)) return;
  if (!readFileSync(MODULE_PATH, 'utf8').includes(MARKER)) {
    throw new Error(`${MODULE_PATH} was not installed by these tests; move it away to run this test`);
  }
  rmSync(MODULE_PATH);
}

for (const dialect of dialects)
  describe(`device configuration on a real mender-client 3.4 (${dialect})`, () => {
    let server: FlotillaServer | undefined;
    let fleet: MenderFleet | undefined;
    let token = '';
    let deviceId = '';
    let failed = false;
    let state = '';
    /** The configuration the device applied last. */
    let applied: Record<string, string> = {};
    const configFile = () => join(state, 'device-config.json');

    const step = (name: string, body: () => Promise<void>) =>
      it(name, async () => {
        assert.ok(!failed, 'an earlier step failed');
        try {
          await body();
        } catch (error) {
          failed = true;
          if (server) process.stderr.write(`--- flotilla log ---\n${server.logTail()}\n`);
          if (fleet) process.stderr.write(`${fleet.logTails(80)}\n`);
          throw error;
        }
      });

    const api = (method: string, path: string, body?: unknown) => callApi(server!.url, token, method, path, body);
    const client = () => fleet!.clients[0];
    const alive = () => {
      if (client().exited) throw new AbortWait(`mender exited (${client().exited})`);
    };

    /** Sets the configuration, deploys it, and pokes the client until the deployment finished for it. */
    async function deployConfiguration(configuration: Record<string, string>): Promise<{ id: string; status: string }> {
      const set = await api('PUT', `${CFG}/${deviceId}`, configuration);
      assert.equal(set.status, 204, JSON.stringify(set.json));
      const deployed = await api('POST', `${CFG}/${deviceId}/deploy`, { retries: 0 });
      assert.equal(deployed.status, 200, JSON.stringify(deployed.json));
      const id = (deployed.json as { deployment_id: string }).deployment_id;
      const status = await waitFor(
        `configuration deployment ${id} to finish on the device`,
        async () => {
          alive();
          client().signal('SIGUSR1');
          const shown = await api('GET', `${D1}/${id}`);
          if ((shown.json as { status: string }).status !== 'finished') return undefined;
          const devices = await api('GET', `${D1}/${id}/devices`);
          return (devices.json as { id: string; status: string }[]).find((d) => d.id === deviceId)?.status;
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      );
      return { id, status };
    }

    before(async () => {
      requireMender();
      removeModule();
      installScript(INVENTORY_PATH, contribScript('mender-inventory-mender-configure'));
      state = mkdtempSync(join(tmpdir(), 'flotilla-e2e-configure-'));
      mkdirSync(join(state, 'apply.d'));
      // An apply script: what a real one would do with the file (here: keep a copy, proving it ran with $1).
      // A configuration with the key "refuse" makes it fail, as a real apply script does with a value it cannot use.
      const applyScript = `#!/bin/sh\ngrep -q '"refuse"' "$1" && exit 3\ncp "$1" "${join(state, 'applied.json')}"\n`;
      writeFileSync(join(state, 'apply.d', '10-copy'), applyScript, {
        mode: 0o755,
      });
      server = await startFlotilla(dialect);
      fleet = await startMenderClients({
        serverUrl: server.url,
        tenantToken: server.tenantToken,
        count: 1,
        privateBus: true,
        env: {
          MENDER_CONFIGURE_FILE: configFile(),
          MENDER_CONFIGURE_CHECKSUM: join(state, 'reported.sha256'),
          MENDER_CONFIGURE_APPLY_DIR: join(state, 'apply.d'),
        },
      });
    });
    after(async () => {
      await fleet?.stop();
      await server?.stop();
      removeModule();
      if (state) rmSync(state, { recursive: true, force: true });
    });

    step('the client is accepted; the configuration service knows its device from then on', async () => {
      const basic = Buffer.from(`${server!.adminEmail}:${server!.adminPassword}`).toString('base64');
      const login = await fetch(`${server!.url}/api/management/v1/useradm/auth/login`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}` },
      });
      token = await login.text();
      assert.equal(login.status, 200);
      const [device] = await waitFor('the client to ask for admission', async () => {
        alive();
        const list = (await api('GET', '/api/management/v2/devauth/devices')).json as {
          id: string;
          auth_sets: { id: string }[];
        }[];
        return list.length === 1 ? list : undefined;
      });
      deviceId = device.id;
      assert.equal((await api('GET', `${CFG}/${deviceId}`)).status, 404, 'unknown while pending');
      const accepted = await api(
        'PUT',
        `/api/management/v2/devauth/devices/${deviceId}/auth/${device.auth_sets[0].id}/status`,
        { status: 'accepted' },
      );
      assert.equal(accepted.status, 204);
      const record = await api('GET', `${CFG}/${deviceId}`);
      assert.equal(record.status, 200);
      assert.deepEqual((record.json as { configured: unknown }).configured, {});
      await waitFor('the client to receive its token', () => {
        alive();
        client().signal('SIGUSR2');
        return /successfully received new authorization data/.test(client().log()) || undefined;
      });
    });

    step('without the mender-configure module the deployment fails, with the client saying why', async () => {
      const { id, status } = await deployConfiguration({ timezone: 'Europe/Oslo' });
      assert.equal(status, 'failure');
      const log = await fetch(`${server!.url}${D1}/${id}/devices/${deviceId}/log`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(log.status, 200);
      assert.match(await log.text(), /Payload type 'mender-configure' is not supported by this Mender Client/);
      assert.ok(!existsSync(configFile()), 'nothing was written');
    });

    step(
      'with the module the configuration is installed, applied and reported back: reported == configured',
      async () => {
        installScript(MODULE_PATH, contribScript('mender-configure'));
        const configuration = { timezone: 'Europe/Oslo', 'ntp.server': 'pool.ntp.org', motd: 'hello "fleet"' };
        const { id, status } = await deployConfiguration(configuration);
        assert.equal(status, 'success', `deployment ${id}`);
        assert.deepEqual(JSON.parse(readFileSync(configFile(), 'utf8')), configuration, 'meta-data → the file');
        assert.deepEqual(JSON.parse(readFileSync(join(state, 'applied.json'), 'utf8')), configuration, 'applied');
        const shown = await waitFor(
          'the device to report its configuration',
          async () => {
            alive();
            client().signal('SIGUSR2');
            const res = await api('GET', `${CFG}/${deviceId}`);
            const body = res.json as { configured: unknown; reported: unknown; deployment_id: string };
            return JSON.stringify(body.reported) === '{}' ? undefined : body;
          },
          { timeoutMs: 60_000, intervalMs: 1000 },
        );
        assert.deepEqual(shown.reported, shown.configured);
        assert.deepEqual(shown.configured, configuration);
        assert.equal(shown.deployment_id, id);
        // The client counts the configuration as its installed artifact, as with Mender's server.
        const inventory = await api('GET', `/api/management/v1/inventory/devices/${deviceId}`);
        const attributes = (inventory.json as { attributes: { name: string; value: unknown }[] }).attributes;
        assert.equal(attributes.find((a) => a.name === 'artifact_name')?.value, `configuration-${id}`);
        // The script knows no server URL but the one the client gives over D-Bus: its local proxy, not the server.
        const reply = execFileSync(
          'dbus-send',
          [
            '--system',
            '--print-reply',
            '--dest=io.mender.AuthenticationManager',
            '/io/mender/AuthenticationManager',
            'io.mender.Authentication1.GetJwtToken',
          ],
          { env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(client().dir, 'bus')}` } },
        ).toString();
        const [, proxyUrl] = [...reply.matchAll(/^\s*string "(.*)"$/gm)].map((m) => m[1]);
        assert.match(proxyUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
        assert.notEqual(new URL(proxyUrl).port, new URL(server!.url).port, 'the report went through the local proxy');
        applied = configuration;
      },
    );

    step('an apply script that fails rolls the configuration back; reported stays what the device has', async () => {
      const refused = { refuse: 'yes' };
      // Only the rollback's re-apply can bring this file back.
      rmSync(join(state, 'applied.json'));
      const { status } = await deployConfiguration(refused);
      assert.equal(status, 'failure');
      assert.deepEqual(JSON.parse(readFileSync(configFile(), 'utf8')), applied, 'the previous file is back');
      assert.deepEqual(
        JSON.parse(readFileSync(join(state, 'applied.json'), 'utf8')),
        applied,
        'and applied again by the rollback',
      );
      client().signal('SIGUSR2');
      const shown = (await api('GET', `${CFG}/${deviceId}`)).json as { configured: unknown; reported: unknown };
      assert.deepEqual(shown.configured, refused);
      assert.deepEqual(shown.reported, applied);
    });
  });
