// Helpers for Kanto tests: an app with the embedded broker on a free port or connected to the real Mosquitto,
// management calls for things, desired states and deployments, and a simulated device bound to the app.
import { randomBytes } from 'node:crypto';
import { type KantoDeviceOptions, KantoDeviceSimulator } from '../../src/agent/kanto/device.js';
import type { Config } from '../../src/config.js';
import { adminToken, type Dialect, type TestApp, testApp } from '../support/app.js';

export type BrokerKind = 'embedded' | 'mosquitto';
export const MOSQUITTO_URL = process.env.FLOTILLA_TEST_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
export const KANTO = '/api/kanto/v1';
export const DEPLOYMENTS = '/api/management/v1/deployments/deployments';

/** Short command timeouts and a fast push loop, so that timeouts and retries show within a test. */
export async function kantoApp(
  dialect: Dialect,
  broker: BrokerKind,
  overrides: Partial<Config> = {},
): Promise<{ t: TestApp; token: string; url: string }> {
  const t = await testApp(dialect, {
    ...(broker === 'embedded' ? { mqttPort: 0 } : { mqttPort: 'off', mqttUrl: MOSQUITTO_URL }),
    kantoCommandTimeout: 0.5,
    kantoCommandAttempts: 2,
    kantoPushInterval: 0.1,
    ...overrides,
  });
  await t.app.ready();
  if (!t.app.kanto.broker) throw new Error('the Kanto broker did not start');
  const token = await adminToken(t);
  const url = broker === 'embedded' ? t.app.kanto.broker.address() : MOSQUITTO_URL;
  return { t, token, url };
}

export function call(t: TestApp, token: string, method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) {
  return t.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
}

export const uniqueThing = (label = 'device') => `flotilla.test:${label}-${randomBytes(5).toString('hex')}`;

/** The desired state of examples/apply.request.json. */
export const compositeApp = {
  baselines: [
    {
      title: 'composite-app',
      description: 'influxdb and hello-world together',
      components: ['containers:influxdb', 'containers:hello-world'],
    },
  ],
  domains: [
    {
      id: 'containers',
      config: [],
      components: [
        {
          id: 'influxdb',
          version: '2.7.1',
          config: [
            { key: 'image', value: 'docker.io/library/influxdb:2.7.1' },
            { key: 'port', value: '8086:8086' },
          ],
        },
        {
          id: 'hello-world',
          version: 'latest',
          config: [{ key: 'image', value: 'docker.io/library/hello-world:latest' }],
        },
      ],
    },
  ],
};

export async function createDesiredState(
  t: TestApp,
  token: string,
  name: string,
  deviceTypes: string[],
  desiredState: unknown = compositeApp,
): Promise<{ id: string; name: string }> {
  const res = await call(t, token, 'POST', `${KANTO}/desired-states`, {
    name,
    version: '1.0',
    device_types_compatible: deviceTypes,
    desired_state: desiredState,
  });
  if (res.statusCode !== 201) throw new Error(`desired state: ${res.statusCode} ${res.body}`);
  return res.json();
}

export async function registerThing(
  t: TestApp,
  token: string,
  thingId: string,
  deviceType: string,
): Promise<{ device_id: string; username: string; password: string }> {
  const res = await call(t, token, 'POST', `${KANTO}/devices`, { thing_id: thingId, device_type: deviceType });
  if (res.statusCode !== 201) throw new Error(`register: ${res.statusCode} ${res.body}`);
  return res.json();
}

export async function deploy(t: TestApp, token: string, artifactName: string, devices: string[]): Promise<string> {
  const res = await call(t, token, 'POST', DEPLOYMENTS, {
    name: `kanto ${artifactName}`,
    artifact_name: artifactName,
    devices,
  });
  if (res.statusCode !== 201) throw new Error(`deployment: ${res.statusCode} ${res.body}`);
  return String(res.headers.location).split('/').pop() as string;
}

/** The device's status in a deployment, as the management API lists it. */
export async function deviceStatus(t: TestApp, token: string, deploymentId: string, deviceId: string) {
  const res = await call(t, token, 'GET', `${DEPLOYMENTS}/${deploymentId}/devices`);
  const row = (res.json() as { id: string; status: string }[]).find((d) => d.id === deviceId);
  return row?.status;
}

export async function deviceLog(t: TestApp, token: string, deploymentId: string, deviceId: string): Promise<string> {
  const res = await call(t, token, 'GET', `${DEPLOYMENTS}/${deploymentId}/devices/${deviceId}/log`);
  return res.statusCode === 200 ? res.body : '';
}

export async function inventory(t: TestApp, deviceId: string): Promise<Record<string, unknown>> {
  const { device } = await t.services.inventory.device(t.tenant.id, deviceId);
  const out: Record<string, unknown> = {};
  for (const a of (device as { attributes: { name: string; value: unknown; scope: string }[] }).attributes) {
    if (a.scope === 'inventory') out[a.name] = a.value;
  }
  return out;
}

/** Polls until `probe` answers something other than undefined (gives up after a generous while). */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, tries = 200): Promise<T> {
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`gave up waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

/** A simulated device for this app: Hono topics and credentials on the embedded broker, per-device on Mosquitto. */
export function simulator(
  t: TestApp,
  broker: BrokerKind,
  url: string,
  thing: { thingId: string; username?: string; password?: string },
  options: Partial<KantoDeviceOptions> = {},
): KantoDeviceSimulator {
  return new KantoDeviceSimulator({
    url,
    tenantId: t.tenant.id,
    thingId: thing.thingId,
    topics: broker === 'embedded' ? 'hono' : 'generic',
    ...(broker === 'embedded' ? { username: thing.username, password: thing.password } : {}),
    ...options,
  });
}
