// Mender deployments management API (deployments-management-v1.yml, v2.yml and the enterprise parts of seed 001):
// create for devices / all / group / saved filter, lists, statistics, devices of a deployment, logs, abort,
// control map PATCH, and Flotilla's resume of a rollout paused by a failure threshold. Thin: rules live in
// src/deployments.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { pageOf, pagingQuery, setPageHeaders } from '../../api/paging.js';
import { isJsonObject, literals } from '../../api/schemas.js';
import { userOf } from '../../auth/guard.js';
import { IdempotentCreation } from '../../deployments/idempotency.js';
import { deviceDeploymentStatuses } from '../../deployments/rules/status.js';
import type { NewDeployment } from '../../deployments/service.js';
import type { DeploymentFilter } from '../../deployments/store.js';
import { Invalid } from '../../errors.js';
import type { Services } from '../../services.js';

const V1 = '/api/management/v1/deployments/deployments';
const V2 = '/api/management/v2/deployments/deployments';

const Id = Type.Object({ id: Type.String() });
const Paging = pagingQuery;
const DeploymentStatusQ = Type.Optional(literals(['inprogress', 'finished', 'pending', 'scheduled']));
const TypeQ = Type.Optional(Type.Union([Type.Literal('software'), Type.Literal('configuration')]));
const CreatedQ = { created_before: Type.Optional(Type.Integer()), created_after: Type.Optional(Type.Integer()) };
const SortQ = Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')]));
const DeviceStatus = literals([...deviceDeploymentStatuses, 'pause', 'active', 'finished']);
const DeviceStatusQ = Type.Optional(DeviceStatus);
// The GUI's device drawer asks for a status group as repeated keys (`status=downloading&status=installing…`);
// Mender's server reads only the first of them, Flotilla answers the whole group.
const DeviceStatusesQ = Type.Optional(Type.Union([DeviceStatus, Type.Array(DeviceStatus)]));
const StringOrList = Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())]));

interface ListQuery {
  status?: 'inprogress' | 'finished' | 'pending' | 'scheduled';
  type?: 'software' | 'configuration';
  search?: string;
  id?: string | string[];
  name?: string | string[];
  page?: number;
  per_page?: number;
  created_before?: number;
  created_after?: number;
  sort?: 'asc' | 'desc';
}

function unixToIso(value: number | undefined): string | undefined {
  return value === undefined ? undefined : new Date(value * 1000).toISOString();
}

function listFilter(q: ListQuery): DeploymentFilter {
  const filter: DeploymentFilter = {
    type: q.type,
    search: q.search || undefined,
    createdBefore: unixToIso(q.created_before),
    createdAfter: unixToIso(q.created_after),
  };
  if (q.status === 'scheduled') filter.scheduled = true;
  else if (q.status) filter.status = q.status;
  const list = (v: string | string[] | undefined) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
  filter.ids = list(q.id);
  filter.names = list(q.name);
  return filter;
}

function created(reply: FastifyReply, id: string) {
  reply.header('Location', `${V1}/${id}`);
  return reply.status(201).send();
}

export async function deploymentRoutes(fastify: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const deployments = services.deployments;
  const creation = new IdempotentCreation(services.store, deployments);
  const keyOf = (request: FastifyRequest) => request.headers['idempotency-key'] as string | undefined;

  const list = async (request: FastifyRequest, reply: FastifyReply, q: ListQuery) => {
    const page = pageOf(q);
    const { deployments: rows, total } = await deployments.list(
      userOf(request).tenantId,
      listFilter(q),
      q.sort === 'asc',
      page,
    );
    setPageHeaders(request, reply, page, total);
    return rows;
  };

  app.get(
    V1,
    {
      schema: {
        querystring: Type.Object({
          status: DeploymentStatusQ,
          type: TypeQ,
          search: Type.Optional(Type.String()),
          sort: SortQ,
          ...Paging,
          ...CreatedQ,
        }),
      },
    },
    async (request, reply) => list(request, reply, request.query),
  );

  app.get(
    V2,
    {
      schema: {
        querystring: Type.Object({
          id: StringOrList,
          name: StringOrList,
          status: DeploymentStatusQ,
          type: TypeQ,
          sort: SortQ,
          ...Paging,
          ...CreatedQ,
        }),
      },
    },
    async (request, reply) => list(request, reply, request.query),
  );

  app.post(V1, async (request, reply) => {
    const id = await creation.create(
      userOf(request).tenantId,
      keyOf(request),
      bodyOf(request),
      { kind: 'devices' },
      userOf(request),
    );
    return created(reply, id);
  });

  app.post(
    `${V1}/group/:name`,
    { schema: { params: Type.Object({ name: Type.String() }) } },
    async (request, reply) => {
      const body = bodyOf(request);
      const group = request.params.name;
      const id = await creation.create(
        userOf(request).tenantId,
        keyOf(request),
        body,
        { kind: 'group', group },
        userOf(request),
      );
      return created(reply, id);
    },
  );

  app.post(V2, async (request, reply) => {
    const body = bodyOf(request) as NewDeployment & { filter_id?: unknown };
    const id = await creation.create(
      userOf(request).tenantId,
      keyOf(request),
      body,
      {
        kind: 'filter',
        filterId: body.filter_id,
      },
      userOf(request),
    );
    return created(reply, id);
  });

  app.post(`${V1}/statistics/list`, async (request) => {
    const ids = isJsonObject(request.body) ? request.body.deployment_ids : undefined;
    return deployments.statisticsList(userOf(request).tenantId, ids);
  });

  app.get(`${V1}/:id`, { schema: { params: Id } }, async (request) =>
    deployments.get(userOf(request).tenantId, request.params.id),
  );

  app.patch(`${V1}/:id`, { schema: { params: Id } }, async (request, reply) => {
    await deployments.setControlMap(userOf(request).tenantId, request.params.id, request.body, userOf(request));
    return reply.status(204).send();
  });

  // {"status":"aborted"} aborts (the spec); {"status":"inprogress"} resumes a rollout paused by a failure threshold
  // (Flotilla).
  app.put(
    `${V1}/:id/status`,
    {
      schema: {
        params: Id,
        body: Type.Object({ status: Type.Union([Type.Literal('aborted'), Type.Literal('inprogress')]) }),
      },
    },
    async (request, reply) => {
      const { tenantId } = userOf(request);
      const id = request.params.id;
      if (request.body.status === 'aborted') await deployments.abort(tenantId, id, userOf(request));
      else await deployments.resume(tenantId, id, userOf(request));
      return reply.status(204).send();
    },
  );

  app.get(`${V1}/:id/statistics`, { schema: { params: Id } }, async (request) =>
    deployments.statistics(userOf(request).tenantId, request.params.id),
  );

  app.get(`${V1}/:id/devices`, { schema: { params: Id } }, async (request) => {
    const { devices } = await deployments.devices(userOf(request).tenantId, request.params.id);
    return devices;
  });

  app.get(
    `${V1}/:id/devices/list`,
    { schema: { params: Id, querystring: Type.Object({ status: DeviceStatusQ, ...Paging }) } },
    async (request, reply) => {
      const q = request.query;
      const page = pageOf(q);
      const { devices, total } = await deployments.devices(userOf(request).tenantId, request.params.id, q.status, page);
      setPageHeaders(request, reply, page, total);
      return devices;
    },
  );

  app.get(`${V1}/:id/device_list`, { schema: { params: Id } }, async (request) =>
    deployments.deviceIds(userOf(request).tenantId, request.params.id),
  );

  app.get(
    `${V1}/:id/devices/:device_id/log`,
    { schema: { params: Type.Object({ id: Type.String(), device_id: Type.String() }) } },
    async (request, reply) => {
      const p = request.params;
      const text = await deployments.logText(userOf(request).tenantId, p.id, p.device_id);
      return reply.type('text/plain; charset=utf-8').send(text);
    },
  );

  app.get(
    `${V1}/devices/:id`,
    { schema: { params: Id, querystring: Type.Object({ status: DeviceStatusesQ, ...Paging }) } },
    async (request, reply) => {
      const q = request.query;
      const page = pageOf(q, 20, 20);
      const { history, total } = await deployments.history(userOf(request).tenantId, request.params.id, q.status, page);
      setPageHeaders(request, reply, page, total);
      return history;
    },
  );

  app.delete(`${V1}/devices/:id/history`, { schema: { params: Id } }, async (request, reply) => {
    await deployments.resetHistory(userOf(request).tenantId, request.params.id, userOf(request));
    return reply.status(204).send();
  });

  app.delete(`${V1}/devices/:id`, { schema: { params: Id } }, async (request, reply) => {
    await deployments.abortForDevice(userOf(request).tenantId, request.params.id, userOf(request));
    return reply.status(204).send();
  });
}

function bodyOf(request: FastifyRequest): NewDeployment {
  const body = request.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new Invalid('failed to decode request body: JSON payload is empty');
  }
  return body as NewDeployment;
}
