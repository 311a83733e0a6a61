// A DDI test bench through inject: an app on one dialect, an operator token, one pre-created target with its token,
// and helpers to upload a raw .swu, deploy it to the target, poll, and read the target's device deployment.
import type { LightMyRequestResponse } from 'fastify';
import { adminToken, type Dialect, type TestApp, testApp } from '../support/app.js';
import { createDeployment } from '../support/deployment-fixtures.js';

export interface DdiBench {
  t: TestApp;
  token: string;
  deviceId: string;
  mgmt(method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown): Promise<LightMyRequestResponse>;
  ddi(method: 'GET' | 'PUT' | 'POST', path: string, payload?: unknown): Promise<LightMyRequestResponse>;
  /** A DDI request with the target's token and the given headers (and raw body). */
  ddiWith(
    method: 'GET' | 'PUT' | 'POST',
    path: string,
    headers: Record<string, string>,
    payload?: Buffer | Uint8Array,
  ): Promise<LightMyRequestResponse>;
  /** Uploads a small .swu named `version` and deploys it to the target with the extra `options`; the deployment id. */
  deploy(version: string, options?: object): Promise<string>;
  /** The action id the base poll links to (deploymentBase, cancelAction or confirmationBase), if any. */
  pollLink(kind: 'deploymentBase' | 'cancelAction' | 'confirmationBase'): Promise<string | undefined>;
  ddStatus(deploymentId: string): Promise<string>;
  close(): Promise<void>;
}

export const feedback = (execution: string, finished = 'none', details: string[] = []) => ({
  status: { execution, result: { finished }, details },
});

export async function ddiBench(dialect: Dialect, controllerId = 'dev-1'): Promise<DdiBench> {
  const t = await testApp(dialect);
  const token = await adminToken(t);
  const mgmt: DdiBench['mgmt'] = (method, url, payload) =>
    t.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
  const created = await mgmt('POST', '/api/ddi/v1/targets', { controller_id: controllerId, device_type: 'ddi-board' });
  if (created.statusCode !== 201) throw new Error(created.body);
  const { token: targetToken, device_id: deviceId } = created.json();
  const ddi: DdiBench['ddi'] = (method, path, payload) =>
    t.app.inject({
      method,
      url: `/DEFAULT/controller/v1/${controllerId}${path}`,
      headers: { authorization: `TargetToken ${targetToken}` },
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
  const ddiWith: DdiBench['ddiWith'] = (method, path, headers, payload) =>
    t.app.inject({
      method,
      url: `/DEFAULT/controller/v1/${controllerId}${path}`,
      headers: { authorization: `TargetToken ${targetToken}`, ...headers },
      ...(payload !== undefined ? { payload: Buffer.from(payload) } : {}),
    });
  return {
    t,
    token,
    deviceId,
    mgmt,
    ddi,
    ddiWith,
    async deploy(version, options = {}) {
      const up = await t.app.inject({
        method: 'POST',
        url: `/api/ddi/v1/artifacts?filename=update.swu&version=${version}&device_type=ddi-board`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
        payload: Buffer.from(`swu ${version}\n`),
      });
      if (up.statusCode !== 201) throw new Error(up.body);
      return createDeployment(t, token, { name: version, artifact_name: version, devices: [deviceId], ...options });
    },
    async pollLink(kind) {
      const poll = await ddi('GET', '');
      if (poll.statusCode !== 200) throw new Error(poll.body);
      const href = poll.json()._links[kind]?.href as string | undefined;
      return href ? new RegExp(`/${kind}/(\\d+)`).exec(href)?.[1] : undefined;
    },
    async ddStatus(deploymentId) {
      const row = await t.services.store.db
        .selectFrom('device_deployments')
        .select('status')
        .where('deployment_id', '=', deploymentId)
        .where('device_id', '=', deviceId)
        .executeTakeFirstOrThrow();
      return row.status;
    },
    close: () => t.close(),
  };
}
