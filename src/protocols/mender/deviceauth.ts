// Mender deviceauth routes: the device's auth request (deviceauth-devices-v1.yml) and the management v2 API
// (deviceauth-management-v2.yml), translated to the device admission service.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { pageOf, pagingQuery, setPageHeaders } from '../../api/paging.js';
import { literals } from '../../api/schemas.js';
import { userOf } from '../../auth/guard.js';
import { RateLimiter } from '../../auth/ratelimit.js';
import { PreauthConflict } from '../../devices/service.js';
import type { Services } from '../../services.js';

const M = '/api/management/v2/devauth';
const DEVICE_STATUSES = ['pending', 'accepted', 'rejected', 'preauthorized', 'noauth'] as const;
const DeviceStatusSchema = literals(DEVICE_STATUSES);
const StringOrList = Type.Union([Type.String(), Type.Array(Type.String())]);
const Id = Type.Object({ id: Type.String() });
const AuthSetParams = Type.Object({ id: Type.String(), aid: Type.String() });
const Paging = pagingQuery;

const list = <T extends string>(v: T | T[] | undefined) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

export async function deviceauthRoutes(fastify: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const devices = services.devices;
  const limiter = new RateLimiter(services.config.rateLimit.max, services.config.rateLimit.windowMs);

  app.post('/api/devices/v1/authentication/auth_requests', async (request, reply) => {
    limiter.hit(`auth:${request.ip}`);
    const token = await devices.authenticate({
      raw: request.rawBody ?? Buffer.alloc(0),
      body: request.body,
      signature: request.headers['x-men-signature'] as string | undefined,
      authorization: request.headers.authorization,
    });
    return reply.status(200).type('application/jwt').send(token);
  });

  app.get(
    `${M}/devices`,
    {
      schema: {
        querystring: Type.Object({
          status: Type.Optional(DeviceStatusSchema),
          id: Type.Optional(StringOrList),
          ...Paging,
        }),
      },
    },
    async (request, reply) => {
      const q = request.query;
      const page = pageOf(q, 20, 500);
      const result = await devices.list(
        userOf(request).tenantId,
        { statuses: q.status ? [q.status] : undefined, ids: list(q.id) },
        page,
      );
      setPageHeaders(request, reply, page, undefined, result.hasMore);
      return result.devices;
    },
  );

  app.post(
    `${M}/devices`,
    {
      schema: {
        body: Type.Object({
          identity_data: Type.Object({}, { additionalProperties: true }),
          pubkey: Type.String(),
          force: Type.Optional(Type.Boolean()),
        }),
      },
    },
    async (request, reply) => {
      try {
        const id = await devices.preauthorize(userOf(request).tenantId, request.body, userOf(request));
        return reply.status(201).header('Location', `${M}/devices/${id}`).send();
      } catch (error) {
        if (error instanceof PreauthConflict) return reply.status(409).send(error.device);
        throw error;
      }
    },
  );

  app.post(
    `${M}/devices/search`,
    {
      schema: {
        querystring: Type.Object(Paging),
        body: Type.Object({
          status: Type.Optional(Type.Union([DeviceStatusSchema, Type.Array(DeviceStatusSchema)])),
          id: Type.Optional(StringOrList),
        }),
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const page = pageOf(request.query, 20, 500);
      const result = await devices.list(
        userOf(request).tenantId,
        { statuses: list(body.status), ids: list(body.id) },
        page,
      );
      setPageHeaders(request, reply, page, undefined, result.hasMore);
      return result.devices;
    },
  );

  app.get(
    `${M}/devices/count`,
    { schema: { querystring: Type.Object({ status: Type.Optional(DeviceStatusSchema) }) } },
    async (request) => {
      const q = request.query;
      return { count: await devices.count(userOf(request).tenantId, q.status) };
    },
  );

  app.get(`${M}/devices/:id`, { schema: { params: Id } }, async (request) => {
    return devices.get(userOf(request).tenantId, request.params.id);
  });

  app.delete(`${M}/devices/:id`, { schema: { params: Id } }, async (request, reply) => {
    await devices.decommission(userOf(request).tenantId, request.params.id, userOf(request));
    return reply.status(204).send();
  });

  app.delete(`${M}/devices/:id/auth/:aid`, { schema: { params: AuthSetParams } }, async (request, reply) => {
    const p = request.params;
    await devices.deleteAuthSet(userOf(request).tenantId, p.id, p.aid, userOf(request));
    return reply.status(204).send();
  });

  app.get(`${M}/devices/:id/auth/:aid/status`, { schema: { params: AuthSetParams } }, async (request) => {
    const p = request.params;
    return { status: await devices.authSetStatus(userOf(request).tenantId, p.id, p.aid) };
  });

  app.put(
    `${M}/devices/:id/auth/:aid/status`,
    { schema: { params: AuthSetParams, body: Type.Object({ status: Type.String() }) } },
    async (request, reply) => {
      const p = request.params;
      await devices.setAuthSetStatus(userOf(request).tenantId, p.id, p.aid, request.body.status, userOf(request));
      return reply.status(204).send();
    },
  );

  app.delete(`${M}/tokens/:id`, { schema: { params: Id } }, async (request, reply) => {
    await devices.revokeToken(userOf(request).tenantId, request.params.id, userOf(request));
    return reply.status(204).send();
  });

  app.get(`${M}/limits/max_devices`, async (request) => ({
    limit: await devices.maxDevices(userOf(request).tenantId),
  }));
}
