// Mender's iot-manager management API (mender-server backend/services/iot-manager/api/http) as an open edition
// without integrations: Flotilla forwards nothing to Azure IoT Hub, AWS IoT Core or webhooks, so the lists are
// truly empty, creating an integration is refused with a reason, and every integration id is unknown. Mender's
// web GUI reads the list on every full page load and the device state when a device drawer opens.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { pageOf, pagingQuery } from '../../api/paging.js';
import { isJsonObject } from '../../api/schemas.js';
import { userOf } from '../../auth/guard.js';
import { DomainError, Invalid, NotFound } from '../../errors.js';
import type { Services } from '../../services.js';

const BASE = '/api/management/v1/iot-manager';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TAGS = ['iot-manager'];

/** 501: a request Mender's API defines and this server deliberately does not carry out. */
class NotImplemented extends DomainError {
  constructor(message: string) {
    super(message, 501);
  }
}

/** Mender checks the id's form before looking it up: a malformed id is 400, a well-formed one is not found. */
function unknownIntegration(id: string, malformed = 'integration ID must be a valid UUID'): never {
  if (!UUID.test(id)) throw new Invalid(malformed);
  throw new NotFound('integration not found');
}

export async function iotManagerRoutes(fastify: FastifyInstance, { services }: { services: Services }) {
  const app = fastify;
  const IdParams = Type.Object({ id: Type.String() });
  const StateParams = Type.Object({ id: Type.String(), integrationId: Type.String() });

  app.get(`${BASE}/integrations`, { schema: { tags: TAGS } }, async () => []);

  app.post(`${BASE}/integrations`, { schema: { tags: TAGS } }, async (request) => {
    if (!isJsonObject(request.body)) throw new Invalid('malformed request body');
    throw new NotImplemented(
      'Flotilla has no IoT integrations (Azure IoT Hub, AWS IoT Core, webhooks): nothing would be forwarded',
    );
  });

  app.get<{ Params: { id: string } }>(
    `${BASE}/integrations/:id`,
    { schema: { tags: TAGS, params: IdParams } },
    async (r) => unknownIntegration(r.params.id),
  );
  app.put<{ Params: { id: string } }>(
    `${BASE}/integrations/:id/credentials`,
    { schema: { tags: TAGS, params: IdParams } },
    async (r) => unknownIntegration(r.params.id),
  );
  app.delete<{ Params: { id: string } }>(
    `${BASE}/integrations/:id`,
    { schema: { tags: TAGS, params: IdParams } },
    async (r) => unknownIntegration(r.params.id),
  );

  // A device's state in each integration it is part of: none, for a device that exists.
  app.get<{ Params: { id: string } }>(
    `${BASE}/devices/:id/state`,
    { schema: { tags: TAGS, params: IdParams } },
    async (request) => {
      await services.devices.get(userOf(request).tenantId, request.params.id);
      return {};
    },
  );
  app.get<{ Params: { id: string; integrationId: string } }>(
    `${BASE}/devices/:id/state/:integrationId`,
    { schema: { tags: TAGS, params: StateParams } },
    async (r) => unknownIntegration(r.params.integrationId, 'integration ID is not a valid UUID'),
  );
  app.put<{ Params: { id: string; integrationId: string } }>(
    `${BASE}/devices/:id/state/:integrationId`,
    { schema: { tags: TAGS, params: StateParams } },
    async (r) => unknownIntegration(r.params.integrationId, 'integration ID is not a valid UUID'),
  );

  // What the integrations delivered (the GUI's webhook activity): nothing.
  app.get<{ Querystring: { page?: number; per_page?: number } }>(
    `${BASE}/events`,
    {
      schema: {
        tags: TAGS,
        querystring: Type.Object({ ...pagingQuery, integration_id: Type.Optional(Type.String()) }),
      },
    },
    async (request) => {
      pageOf(request.query);
      return [];
    },
  );
}
