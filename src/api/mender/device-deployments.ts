// Mender device deployments API (deployments-devices-v1.yml and the enterprise v2 routes of seed 001): /next,
// status and log reports, the update control map, and the configuration download. Thin: the rules are in
// src/deployments.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { deviceOf } from '../../auth/guard.js';
import type { DeviceProvides, NextRequest } from '../../deployments/rules/matching.js';
import { configurationPath, configurationSignedPath } from '../../deployments/service.js';
import { Forbidden, Invalid } from '../../errors.js';
import type { Services } from '../../services.js';

const V1 = '/api/devices/v1/deployments';
const V2 = '/api/devices/v2/deployments';

const Id = Type.Object({ id: Type.String() });

function baseUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/** A flat map of strings (the v1 POST body, v2 device_provides); anything else is a 400. */
function providesOf(value: unknown): DeviceProvides {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Invalid('failed to decode request body: expected an object');
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new Invalid(`failed to decode request body: ${key} must be a string`);
  }
  return value as DeviceProvides;
}

export async function deviceDeploymentRoutes(app: FastifyInstance, { services }: { services: Services }) {
  const deployments = services.deployments;

  const answerNext = async (request: FastifyRequest, reply: FastifyReply, next: NextRequest, full: boolean) => {
    const { tenantId, deviceId } = deviceOf(request);
    const instructions = await deployments.next(tenantId, deviceId, next, baseUrl(request), full);
    if (!instructions) return reply.status(204).send();
    return reply.status(200).send(instructions);
  };

  app.get(
    `${V1}/device/deployments/next`,
    {
      schema: {
        querystring: Type.Object({
          artifact_name: Type.Optional(Type.String()),
          device_type: Type.Optional(Type.String()),
        }),
      },
    },
    async (request, reply) => {
      const q = request.query as { artifact_name?: string; device_type?: string };
      const provides = { artifact_name: q.artifact_name ?? '', device_type: q.device_type ?? '' } as DeviceProvides;
      return answerNext(request, reply, { device_provides: provides }, false);
    },
  );

  app.post(`${V1}/device/deployments/next`, async (request, reply) =>
    answerNext(request, reply, { device_provides: providesOf(request.body) }, true),
  );

  app.post(`${V2}/device/deployments/next`, async (request, reply) => {
    const body = request.body as { device_provides?: unknown; update_control_map?: unknown } | undefined;
    if (typeof body !== 'object' || body === null)
      throw new Invalid('failed to decode request body: expected an object');
    if (body.update_control_map !== undefined && typeof body.update_control_map !== 'boolean') {
      throw new Invalid('failed to decode request body: update_control_map must be a boolean');
    }
    const next: NextRequest = { device_provides: providesOf(body.device_provides) };
    if (body.update_control_map) next.update_control_map = true;
    return answerNext(request, reply, next, true);
  });

  app.put(`${V1}/device/deployments/:id/status`, { schema: { params: Id } }, async (request, reply) => {
    const { tenantId, deviceId } = deviceOf(request);
    await deployments.reportStatus(tenantId, deviceId, (request.params as { id: string }).id, request.body);
    return reply.status(204).send();
  });

  app.put(`${V1}/device/deployments/:id/log`, { schema: { params: Id } }, async (request, reply) => {
    const { tenantId, deviceId } = deviceOf(request);
    await deployments.saveLog(tenantId, deviceId, (request.params as { id: string }).id, request.body);
    return reply.status(204).send();
  });

  app.get(`${V2}/device/deployments/:id/update_control_map`, { schema: { params: Id } }, async (request) => {
    const { tenantId, deviceId } = deviceOf(request);
    const map = await deployments.controlMapForDevice(tenantId, deviceId, (request.params as { id: string }).id);
    return { update_control_map: map };
  });

  // The signed link of a configuration deployment: the link is the credential (the spec's x-men-* query names
  // are Mender's; Flotilla's links carry `expires` and `signature` like its artifact links, plus tenant_id).
  app.get(
    `${V1}/download/configuration/:deployment_id/:device_type/:device_id`,
    {
      schema: {
        params: Type.Object({ deployment_id: Type.String(), device_type: Type.String(), device_id: Type.String() }),
        querystring: Type.Object({
          expires: Type.Optional(Type.String()),
          signature: Type.Optional(Type.String()),
          tenant_id: Type.Optional(Type.String()),
        }),
      },
    },
    async (request, reply) => {
      const p = request.params as { deployment_id: string; device_type: string; device_id: string };
      const q = request.query as { expires?: string; signature?: string; tenant_id?: string };
      const path = configurationPath(p.deployment_id, p.device_type, p.device_id);
      if (!q.tenant_id || !services.links.verify(configurationSignedPath(path, q.tenant_id), q)) {
        throw new Forbidden('the download link has expired or the signature is invalid');
      }
      const artifact = await deployments.configurationArtifact(
        q.tenant_id,
        p.deployment_id,
        p.device_type,
        p.device_id,
      );
      reply.header('Content-Disposition', `attachment; filename="${p.deployment_id}.mender"`);
      return reply.type('application/vnd.mender-artifact').send(artifact);
    },
  );
}
