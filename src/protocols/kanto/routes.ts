// Management routes for Kanto: desired states (stored as artifacts, deployed like any other), Kanto device
// registration (thing id, device type, embedded-broker password) and an on-demand refresh of a device's current
// state. All under /api/kanto/v1, for which the auth guard asks for a user token.
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { createDesiredStateArtifact, desiredStateOf, type NewDesiredState } from '../../artifacts/desired-state.js';
import { userOf } from '../../auth/guard.js';
import { NotFound } from '../../errors.js';
import type { Services } from '../../services.js';
import { viewOf } from './devices.js';
import type { Kanto } from './service.js';

// Not under /api/management/, which holds Mender's API only (the contract tests check it route by route).
export const KANTO_PREFIX = '/api/kanto/v1';
const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export async function kantoRoutes(app: FastifyInstance, options: { services: Services; kanto: Kanto }) {
  const { services, kanto } = options;

  app.post(`${KANTO_PREFIX}/desired-states`, async (request, reply) => {
    const tenantId = userOf(request).tenantId;
    const body = (request.body ?? {}) as NewDesiredState;
    if (typeof body !== 'object' || Array.isArray(body)) {
      return reply.status(400).send({ error: 'the body must be a JSON object', request_id: request.id });
    }
    const artifact = await createDesiredStateArtifact(services.artifacts, tenantId, body, services.config.dataDir);
    reply.header('Location', `/api/management/v1/deployments/artifacts/${artifact.id}`);
    return reply.status(201).send(artifact);
  });

  app.get(`${KANTO_PREFIX}/desired-states/:id`, { schema: { params: Id } }, async (request) => {
    const tenantId = userOf(request).tenantId;
    const { id } = request.params as Static<typeof Id>;
    const row = await services.artifacts.row(tenantId, id);
    const desiredState = desiredStateOf(row);
    if (!desiredState) throw new NotFound('desired state not found');
    const provides = JSON.parse(row.provides_json) as Record<string, string>;
    return {
      id: row.id,
      artifact_name: row.name,
      name: provides['kanto.desired_state.name'],
      version: provides['kanto.desired_state.version'],
      description: row.description,
      desired_state: desiredState,
    };
  });

  app.post(`${KANTO_PREFIX}/devices`, async (request, reply) => {
    const tenantId = userOf(request).tenantId;
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return reply.status(400).send({ error: 'the body must be a JSON object', request_id: request.id });
    }
    const device = await kanto.devices.register(tenantId, body as Record<string, unknown>);
    reply.header('Location', `${KANTO_PREFIX}/devices/${device.device_id}`);
    return reply.status(201).send(device);
  });

  app.get(`${KANTO_PREFIX}/devices/:id`, { schema: { params: Id } }, async (request) => {
    const tenantId = userOf(request).tenantId;
    const row = await kanto.devices.get(tenantId, (request.params as Static<typeof Id>).id);
    return {
      ...viewOf(row),
      connected: kanto.broker?.isConnected({ tenantId, deviceId: row.thing_id }) ?? null,
    };
  });

  app.post(`${KANTO_PREFIX}/devices/:id/refresh`, { schema: { params: Id } }, async (request, reply) => {
    const tenantId = userOf(request).tenantId;
    const { id } = request.params as Static<typeof Id>;
    await kanto.devices.get(tenantId, id);
    const answer = await kanto.running().refresh(tenantId, id);
    return reply.status(202).send(answer);
  });
}
