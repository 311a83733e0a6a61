// Management routes for Kanto: desired states (stored as artifacts, deployed like any other), Kanto device
// registration (thing id, device type, embedded-broker password), an on-demand refresh of a device's current
// state, and owner consent decisions per deployment. All under /api/kanto/v1, for which the auth guard asks for a
// user token.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { isJsonObject } from '../../api/schemas.js';
import { createDesiredStateArtifact, desiredStateOf } from '../../artifacts/desired-state.js';
import { userOf } from '../../auth/guard.js';
import { NotFound } from '../../errors.js';
import type { Services } from '../../services.js';
import { viewOf } from './devices.js';
import type { Kanto } from './service.js';

// Not under /api/management/, which holds Mender's API only (the contract tests check it route by route).
export const KANTO_PREFIX = '/api/kanto/v1';
const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
// The bodies are checked by the domain (desired-state.ts, devices.ts), which names the field at fault; their shapes
// are written down here for the OpenAPI document only.
const NewDesiredStateBody = Type.Unknown({
  description: '{name, version, description?, device_types_compatible: string[], desired_state: Kanto desired state}',
});
const NewDeviceBody = Type.Unknown({
  description: '{thing_id, device_type?, password?, generate_password?: boolean}',
});

const ConsentBody = Type.Object(
  {
    decision: Type.Union([Type.Literal('approved'), Type.Literal('denied')], {
      description: "the owner's answer to every consent request of the deployment's Kanto devices",
    }),
  },
  { additionalProperties: false },
);

export async function kantoRoutes(fastify: FastifyInstance, options: { services: Services; kanto: Kanto }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { services, kanto } = options;

  app.post(`${KANTO_PREFIX}/desired-states`, { schema: { body: NewDesiredStateBody } }, async (request, reply) => {
    const tenantId = userOf(request).tenantId;
    const body = request.body ?? {};
    if (!isJsonObject(body)) {
      return reply.status(400).send({ error: 'the body must be a JSON object', request_id: request.id });
    }
    const artifact = await createDesiredStateArtifact(services.artifacts, tenantId, body, services.config.dataDir);
    reply.header('Location', `/api/management/v1/deployments/artifacts/${artifact.id}`);
    return reply.status(201).send(artifact);
  });

  app.get(`${KANTO_PREFIX}/desired-states/:id`, { schema: { params: Id } }, async (request) => {
    const tenantId = userOf(request).tenantId;
    const row = await services.artifacts.row(tenantId, request.params.id);
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

  app.post(`${KANTO_PREFIX}/devices`, { schema: { body: NewDeviceBody } }, async (request, reply) => {
    const tenantId = userOf(request).tenantId;
    const body = request.body;
    if (!isJsonObject(body)) {
      return reply.status(400).send({ error: 'the body must be a JSON object', request_id: request.id });
    }
    const device = await kanto.devices.register(tenantId, body);
    reply.header('Location', `${KANTO_PREFIX}/devices/${device.device_id}`);
    return reply.status(201).send(device);
  });

  app.get(`${KANTO_PREFIX}/devices/:id`, { schema: { params: Id } }, async (request) => {
    const tenantId = userOf(request).tenantId;
    const row = await kanto.devices.get(tenantId, request.params.id);
    return {
      ...viewOf(row),
      // The device's connector (suite-connector, or the update manager itself) is connected and subscribed to its
      // commands; that says nothing of the update manager behind a connector, whose last message is `last_seen`.
      // Null on an external broker, which does not say who is connected.
      connector_connected: kanto.broker?.isListening({ tenantId, deviceId: row.thing_id }) ?? null,
    };
  });

  // Owner consent, per deployment: what the operator decided for every device of it, and the devices' requests.
  app.get(`${KANTO_PREFIX}/deployments/:id/consent`, { schema: { params: Id } }, async (request) => {
    return kanto.running().consents.view(userOf(request).tenantId, request.params.id);
  });

  app.put(`${KANTO_PREFIX}/deployments/:id/consent`, { schema: { params: Id, body: ConsentBody } }, async (request) => {
    const { decision } = request.body;
    return kanto.running().consents.decide(userOf(request).tenantId, request.params.id, decision);
  });

  app.post(`${KANTO_PREFIX}/devices/:id/refresh`, { schema: { params: Id } }, async (request, reply) => {
    const tenantId = userOf(request).tenantId;
    const { id } = request.params;
    await kanto.devices.get(tenantId, id);
    const answer = await kanto.running().refresh(tenantId, id);
    return reply.status(202).send(answer);
  });
}
