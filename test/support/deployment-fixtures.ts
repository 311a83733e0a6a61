// Test fixtures for deployments: artifacts inserted directly in the database (no upload), and small helpers for the
// device and management deployment routes through inject.
import { randomUUID } from 'node:crypto';
import { ArtifactStore } from '../../src/artifacts/store.js';
import { uniquenessKey } from '../../src/artifacts/uniqueness.js';
import { now } from '../../src/store/db.js';
import type { TestApp } from './app.js';
import { addDevice, type TestDevice } from './inventory-fixtures.js';

export interface TestArtifact {
  id: string;
  name: string;
}

/** An artifact row of `tenantId` (default tenant), compatible with `deviceTypes`; its blob does not exist. */
export async function addArtifact(
  t: TestApp,
  options: {
    name: string;
    deviceTypes?: string[];
    tenantId?: string;
    depends?: Record<string, string[]>;
    size?: number;
  },
): Promise<TestArtifact> {
  const id = randomUUID();
  const tenantId = options.tenantId ?? t.tenant.id;
  const ts = now();
  await new ArtifactStore(t.services.store.db, tenantId).insert(
    {
      id,
      name: options.name,
      description: '',
      kind: 'mender',
      format: 'mender',
      format_version: 3,
      signed: 0,
      updates_json: JSON.stringify([{ type_info: { type: 'rootfs-image' }, files: [], meta_data: [], metadata: {} }]),
      provides_json: JSON.stringify({ artifact_name: options.name }),
      depends_json: JSON.stringify({ device_type: options.deviceTypes ?? ['qemu'], ...(options.depends ?? {}) }),
      clears_provides_json: '[]',
      payloads_json: 'null',
      size: options.size ?? 1000,
      blob_key: `${tenantId}/artifacts/${id}`,
      created_ts: ts,
      modified: ts,
    },
    options.deviceTypes ?? ['qemu'],
    uniquenessKey(options.name, options.depends ?? {}),
  );
  return { id, name: options.name };
}

const MGMT = '/api/management/v1/deployments/deployments';
const DEV = '/api/devices/v1/deployments/device/deployments';

/** Creates a deployment through the management API; returns its id (from Location). */
export async function createDeployment(t: TestApp, token: string, body: object, path = MGMT): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: path,
    headers: { authorization: `Bearer ${token}` },
    payload: body,
  });
  if (res.statusCode !== 201) throw new Error(`create failed: ${res.statusCode} ${res.body}`);
  return String(res.headers.location).split('/').pop() as string;
}

/** v2 POST next as mender-client 3.4 sends it. */
export function nextV2(t: TestApp, device: TestDevice, provides: Record<string, string>, controlMap = true) {
  return t.app.inject({
    method: 'POST',
    url: '/api/devices/v2/deployments/device/deployments/next',
    headers: { authorization: `Bearer ${device.token}` },
    payload: { device_provides: provides, update_control_map: controlMap },
  });
}

export function report(t: TestApp, device: TestDevice, deploymentId: string, status: string, substate?: string) {
  return t.app.inject({
    method: 'PUT',
    url: `${DEV}/${deploymentId}/status`,
    headers: { authorization: `Bearer ${device.token}` },
    payload: substate === undefined ? { status } : { status, substate },
  });
}

export async function statistics(t: TestApp, token: string, deploymentId: string): Promise<Record<string, number>> {
  const res = await t.app.inject({
    method: 'GET',
    url: `${MGMT}/${deploymentId}/statistics`,
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.statusCode !== 200) throw new Error(`statistics failed: ${res.statusCode} ${res.body}`);
  return res.json();
}

export async function deployment(t: TestApp, token: string, deploymentId: string) {
  const res = await t.app.inject({
    method: 'GET',
    url: `${MGMT}/${deploymentId}`,
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.statusCode !== 200) throw new Error(`show failed: ${res.statusCode} ${res.body}`);
  return res.json();
}

/** A management API call as the holder of a token; both are read at call time (tests set them in `before`). */
export function managementCaller(t: () => TestApp, token: () => string) {
  return (method: 'GET' | 'PUT' | 'PATCH' | 'DELETE' | 'POST', url: string, payload?: object) =>
    t().app.inject({ method, url, headers: { authorization: `Bearer ${token()}` }, ...(payload ? { payload } : {}) });
}

/**
 * A device with an assigned attempt: an artifact `name` for qemu, a deployment of it to one new device, and that
 * device's first v2 poll (200). Returns the deployment id and the device.
 */
export async function assignedAttempt(
  t: TestApp,
  token: string,
  name: string,
  options: { retries?: number } = {},
): Promise<{ id: string; device: TestDevice }> {
  const artifact = await addArtifact(t, { name });
  const device = await addDevice(t);
  const id = await createDeployment(t, token, {
    name,
    artifact_name: artifact.name,
    devices: [device.id],
    ...(options.retries ? { retries: options.retries } : {}),
  });
  const next = await nextV2(t, device, { device_type: 'qemu', artifact_name: 'old' });
  if (next.statusCode !== 200) throw new Error(`next: ${next.statusCode} ${next.body}`);
  return { id, device };
}

/** A hawkBit DDI target created through the operator API (device type `ddi-board`): its device id and token. */
export async function ddiTarget(
  t: TestApp,
  token: string,
  controllerId: string,
): Promise<{ device_id: string; token: string }> {
  const created = await t.app.inject({
    method: 'POST',
    url: '/api/ddi/v1/targets',
    headers: { authorization: `Bearer ${token}` },
    payload: { controller_id: controllerId, device_type: 'ddi-board' },
  });
  if (created.statusCode !== 201) throw new Error(`target: ${created.statusCode} ${created.body}`);
  return created.json() as { device_id: string; token: string };
}
