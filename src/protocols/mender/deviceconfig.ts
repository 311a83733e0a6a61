// Mender deviceconfig (deviceconfig-devices-v1.yml, deviceconfig-management-v1.yml): the device reads its configured
// map and reports what it applied; operators set a device's configuration and deploy it. Thin: the rules are in
// src/configuration.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { deviceOf, userOf } from '../../auth/guard.js';
import type { Services } from '../../services.js';

const DEVICE = '/api/devices/v1/deviceconfig/configuration';
const MGMT = '/api/management/v1/deviceconfig/configurations/device';

const DeviceParams = Type.Object({ deviceId: Type.String() });

export async function deviceconfigRoutes(app: FastifyInstance, { services }: { services: Services }) {
  const configuration = services.configuration;

  app.get(DEVICE, async (request) => {
    const { tenantId, deviceId } = deviceOf(request);
    return configuration.configuredFor(tenantId, deviceId);
  });

  app.put(DEVICE, async (request, reply) => {
    const { tenantId, deviceId } = deviceOf(request);
    await configuration.report(tenantId, deviceId, request.body);
    return reply.code(204).send();
  });

  app.get<{ Params: { deviceId: string } }>(`${MGMT}/:deviceId`, { schema: { params: DeviceParams } }, (request) =>
    configuration.get(userOf(request).tenantId, request.params.deviceId),
  );

  app.put<{ Params: { deviceId: string } }>(
    `${MGMT}/:deviceId`,
    { schema: { params: DeviceParams } },
    async (request, reply) => {
      const user = userOf(request);
      await configuration.set(user.tenantId, request.params.deviceId, request.body, user);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { deviceId: string } }>(
    `${MGMT}/:deviceId/deploy`,
    { schema: { params: DeviceParams } },
    async (request) => {
      const user = userOf(request);
      const deploymentId = await configuration.deploy(user.tenantId, request.params.deviceId, request.body, user);
      return { deployment_id: deploymentId };
    },
  );
}
