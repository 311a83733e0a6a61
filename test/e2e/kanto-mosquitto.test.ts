// Kanto end to end against the real `flotilla serve`: with FLOTILLA_MQTT_URL pointing at the real Mosquitto on
// 127.0.0.1:1883 (per-device topics), and with its embedded broker on a free --mqtt-port (Hono topics, device
// credentials), on SQLite and PostgreSQL. Our simulated Kanto device gets a desired state deployed to success,
// fails one with a component failure (feedback in the log), and a refresh updates its inventory.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KantoDeviceSimulator } from '../../src/agent/kanto/device.js';
import { compositeApp, MOSQUITTO_URL, uniqueThing } from '../kanto/support.js';
import { callApi, type FlotillaServer, startFlotilla } from './flotilla-server.js';
import { waitFor } from './process.js';

const KANTO = '/api/kanto/v1';
const DEPLOYMENTS = '/api/management/v1/deployments/deployments';
const dialects = (process.env.FLOTILLA_TEST_DIALECTS ?? 'sqlite,postgres').split(',') as ('sqlite' | 'postgres')[];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

for (const dialect of dialects) {
  for (const broker of ['mosquitto', 'embedded'] as const) {
    describe(`Kanto e2e: flotilla serve with ${broker} broker (${dialect})`, () => {
      let server: FlotillaServer | undefined;
      let token = '';
      let mqttUrl = MOSQUITTO_URL;
      const devices: KantoDeviceSimulator[] = [];

      before(async () => {
        const port = await freePort();
        if (broker === 'embedded') mqttUrl = `mqtt://127.0.0.1:${port}`;
        server = await startFlotilla(dialect, {
          env: {
            ...(broker === 'mosquitto' ? { FLOTILLA_MQTT_URL: MOSQUITTO_URL } : { FLOTILLA_MQTT_PORT: String(port) }),
            FLOTILLA_KANTO_PUSH_INTERVAL: '1',
          },
        });
        const login = await fetch(`${server.url}/api/management/v1/useradm/auth/login`, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${server.adminEmail}:${server.adminPassword}`).toString('base64')}`,
          },
        });
        assert.equal(login.status, 200);
        token = await login.text();
      });
      after(async () => {
        for (const d of devices) await d.close();
        await server?.stop();
      });

      const api = (method: string, path: string, body?: unknown) =>
        callApi((server as FlotillaServer).url, token, method, path, body);

      async function device(deviceType: string, options: Partial<KantoDeviceSimulator['options']> = {}) {
        const thingId = uniqueThing('e2e');
        const registered = await api('POST', `${KANTO}/devices`, { thing_id: thingId, device_type: deviceType });
        assert.equal(registered.status, 201, JSON.stringify(registered.json));
        const { device_id: deviceId, tenant_id: tenantId, username, password } = registered.json;
        const sim = new KantoDeviceSimulator({
          url: mqttUrl,
          tenantId,
          thingId,
          topics: broker === 'mosquitto' ? 'generic' : 'hono',
          ...(broker === 'embedded' ? { username, password } : {}),
          ...options,
        });
        devices.push(sim);
        await sim.connect();
        await waitFor('the device accepted', async () => {
          const res = await api('GET', `/api/management/v2/devauth/devices/${deviceId}`);
          return res.json?.status === 'accepted' ? true : undefined;
        });
        return { sim, deviceId };
      }

      async function deployTo(name: string, deviceType: string, deviceId: string): Promise<string> {
        const state = await api('POST', `${KANTO}/desired-states`, {
          name,
          version: '1.0',
          device_types_compatible: [deviceType],
          desired_state: compositeApp,
        });
        assert.equal(state.status, 201, JSON.stringify(state.json));
        const created = await api('POST', DEPLOYMENTS, { name, artifact_name: state.json.name, devices: [deviceId] });
        assert.equal(created.status, 201, JSON.stringify(created.json));
        return String(created.headers.get('location')).split('/').pop() as string;
      }

      const statusOf = async (deploymentId: string, deviceId: string) => {
        const res = await api('GET', `${DEPLOYMENTS}/${deploymentId}/devices`);
        return (res.json as { id: string; status: string }[]).find((d) => d.id === deviceId)?.status;
      };

      it('deploys a desired state to success and reports the current state to inventory', async () => {
        const { deviceId } = await device('kanto-e2e');
        const deploymentId = await deployTo('e2e-ok', 'kanto-e2e', deviceId);
        await waitFor(
          'success',
          async () => ((await statusOf(deploymentId, deviceId)) === 'success' ? true : undefined),
          {
            timeoutMs: 60_000,
          },
        );
        const log = await api('GET', `${DEPLOYMENTS}/${deploymentId}/devices/${deviceId}/log`);
        assert.match(String(log.json), /desired state COMPLETED/);
        const inventory = await waitFor('inventory', async () => {
          const res = await api('GET', `/api/management/v1/inventory/devices/${deviceId}`);
          const attrs = res.json?.attributes as { name: string; value: unknown }[] | undefined;
          const influx = attrs?.find((a) => a.name === 'kanto.sw.containers:influxdb');
          return influx?.value === '2.7.1' ? attrs : undefined;
        });
        assert.equal(inventory?.find((a) => a.name === 'artifact_name')?.value, 'e2e-ok-1.0');
      });

      it('ends in failure with the component feedback in the log; refresh updates inventory', async () => {
        const { sim, deviceId } = await device('kanto-e2e-fail', {
          failComponent: { id: 'containers:hello-world', phase: 'update', message: 'container did not start' },
        });
        const deploymentId = await deployTo('e2e-fail', 'kanto-e2e-fail', deviceId);
        await waitFor(
          'failure',
          async () => ((await statusOf(deploymentId, deviceId)) === 'failure' ? true : undefined),
          {
            timeoutMs: 60_000,
          },
        );
        const log = await api('GET', `${DEPLOYMENTS}/${deploymentId}/devices/${deviceId}/log`);
        assert.match(String(log.json), /containers:hello-world latest UPDATE_FAILURE: container did not start/);

        sim.options.hardwareNodes = [{ id: 'board', version: 'rev3' }];
        const refresh = await api('POST', `${KANTO}/devices/${deviceId}/refresh`);
        assert.equal(refresh.status, 202);
        await waitFor('refreshed inventory', async () => {
          const res = await api('GET', `/api/management/v1/inventory/devices/${deviceId}`);
          const attrs = res.json?.attributes as { name: string; value: unknown }[] | undefined;
          return attrs?.some((a) => a.name === 'kanto.hw.board' && a.value === 'rev3') ? true : undefined;
        });
      });
    });
  }
}
