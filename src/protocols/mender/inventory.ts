// Mender inventory routes (devices v1, management v1, v2, v2alpha1 and Enterprise saved filters): thin
// translation between the wire shapes of ../shared/specs/mender and the inventory domain.
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { setPageHeaders } from '../../api/paging.js';
import { type OpenQuery, openQuery } from '../../api/schemas.js';
import { deviceOf, userOf } from '../../auth/guard.js';
import { Invalid } from '../../errors.js';
import { sortParamOf } from '../../inventory/predicates.js';
import type { DeviceListQuery, Page } from '../../inventory/service.js';
import type { Services } from '../../services.js';

const V1 = '/api/management/v1/inventory';
const V2 = '/api/management/v2/inventory';

const DeviceParams = Type.Object({ id: Type.String() });
const GroupParams = Type.Object({ name: Type.String() });
const DeviceGroupParams = Type.Object({ id: Type.String(), name: Type.String() });

/** Query parameters of the v1 device list that are not attribute filters (any other name filters by attribute). */
const LIST_PARAMS = ['page', 'per_page', 'sort', 'has_group', 'group'];
const DevicesQuery = openQuery(LIST_PARAMS);
const GroupsQuery = openQuery(['status']);
const PageQuery = openQuery(['page', 'per_page']);

export async function inventoryRoutes(app: FastifyInstance, opts: { services: Services }): Promise<void> {
  const inventory = opts.services.inventory;
  const tenant = (request: FastifyRequest) => userOf(request).tenantId;

  // mender-client 3.4 wants 200 for both (204 counts as an error; a 405 on PUT makes it retry with PATCH).
  for (const method of ['PATCH', 'PUT'] as const) {
    app.route({
      method,
      url: '/api/devices/v1/inventory/device/attributes',
      handler: async (request, reply) => {
        const device = deviceOf(request);
        await inventory.reportInventory(
          device.tenantId,
          device.deviceId,
          request.body,
          method === 'PATCH' ? 'merge' : 'replace',
        );
        return reply.code(200).send();
      },
    });
  }

  app.get<{ Querystring: OpenQuery }>(
    `${V1}/devices`,
    { schema: { querystring: DevicesQuery } },
    async (request, reply) => {
      const query = request.query;
      const page = pageOf(query, 10);
      const list: DeviceListQuery = { filters: [], sort: [] };
      for (const [param, value] of Object.entries(query)) {
        if (LIST_PARAMS.includes(param)) continue;
        list.filters.push({ param, value: first(value) ?? '' });
      }
      const sort = first(query.sort);
      if (sort) list.sort = sortParamOf(sort);
      const hasGroup = first(query.has_group);
      if (hasGroup !== undefined && hasGroup !== '') list.hasGroup = boolOf('has_group', hasGroup);
      list.group = first(query.group);
      const { devices, total } = await inventory.listDevices(tenant(request), list, page, userOf(request).deviceGroups);
      setPageHeaders(request, reply, page, total);
      return reply.send(devices);
    },
  );

  app.get<{ Params: Static<typeof DeviceParams> }>(
    `${V1}/devices/:id`,
    { schema: { params: DeviceParams } },
    async (request, reply) => {
      const { device, etag } = await inventory.device(tenant(request), request.params.id);
      if (etag) reply.header('ETag', etag);
      return reply.send(device);
    },
  );

  app.delete<{ Params: Static<typeof DeviceParams> }>(
    `${V1}/devices/:id`,
    { schema: { params: DeviceParams } },
    async (request, reply) => {
      await inventory.clearInventory(tenant(request), request.params.id);
      return reply.code(204).send();
    },
  );

  for (const method of ['PATCH', 'PUT'] as const) {
    app.route<{ Params: Static<typeof DeviceParams> }>({
      method,
      url: `${V1}/devices/:id/tags`,
      schema: { params: DeviceParams },
      handler: async (request, reply) => {
        const ifMatch = request.headers['if-match'];
        await inventory.setTags(
          tenant(request),
          request.params.id,
          request.body,
          method === 'PATCH' ? 'merge' : 'replace',
          typeof ifMatch === 'string' ? ifMatch : undefined,
        );
        return reply.code(200).send();
      },
    });
  }

  app.get<{ Params: Static<typeof DeviceParams> }>(
    `${V1}/devices/:id/group`,
    { schema: { params: DeviceParams } },
    async (request, reply) => reply.send({ group: await inventory.deviceGroup(tenant(request), request.params.id) }),
  );

  app.put<{ Params: Static<typeof DeviceParams> }>(
    `${V1}/devices/:id/group`,
    { schema: { params: DeviceParams } },
    async (request, reply) => {
      await inventory.setDeviceGroup(tenant(request), request.params.id, request.body);
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: Static<typeof DeviceGroupParams> }>(
    `${V1}/devices/:id/group/:name`,
    { schema: { params: DeviceGroupParams } },
    async (request, reply) => {
      await inventory.removeDeviceFromGroup(tenant(request), request.params.id, request.params.name);
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: OpenQuery }>(
    `${V1}/groups`,
    { schema: { querystring: GroupsQuery } },
    async (request, reply) => {
      const status = first(request.query.status);
      return reply.send(await inventory.groups(tenant(request), status));
    },
  );

  app.delete<{ Params: Static<typeof GroupParams> }>(
    `${V1}/groups/:name`,
    { schema: { params: GroupParams } },
    async (request, reply) =>
      reply.send({ updated_count: await inventory.deleteGroup(tenant(request), request.params.name) }),
  );

  app.get<{ Params: Static<typeof GroupParams>; Querystring: OpenQuery }>(
    `${V1}/groups/:name/devices`,
    { schema: { params: GroupParams, querystring: PageQuery } },
    async (request, reply) => {
      const page = pageOf(request.query, 10);
      const { ids, total } = await inventory.groupDevices(tenant(request), request.params.name, page);
      setPageHeaders(request, reply, page, total);
      return reply.send(ids);
    },
  );

  app.patch<{ Params: Static<typeof GroupParams> }>(
    `${V1}/groups/:name/devices`,
    { schema: { params: GroupParams } },
    async (request, reply) => {
      const { matched, updated } = await inventory.addToGroup(tenant(request), request.params.name, request.body);
      return reply.send({ updated_count: updated, matched_count: matched });
    },
  );

  app.delete<{ Params: Static<typeof GroupParams> }>(
    `${V1}/groups/:name/devices`,
    { schema: { params: GroupParams } },
    async (request, reply) => {
      const updated = await inventory.removeFromGroup(tenant(request), request.params.name, request.body);
      return reply.send({ updated_count: updated });
    },
  );

  app.get(`${V2}/filters/attributes`, async (request, reply) =>
    reply.send(await inventory.filterAttributes(tenant(request))),
  );

  app.post(`${V2}/filters/search`, async (request, reply) => {
    const { result, page } = await inventory.searchDevices(tenant(request), request.body, userOf(request).deviceGroups);
    setPageHeaders(request, reply, page, result.total);
    return reply.send(result.devices);
  });

  app.get(`${V2}/statistics`, async (request, reply) => reply.send(await inventory.statistics(tenant(request))));

  // Saved filters (Mender Enterprise; shapes from seed 001 "Filter" and docs.mender.io "create-filter",
  // "list-filters", "execute-filter"): POST answers 201 with Location and no body, 409 on a taken name.
  app.post(`${V2}/filters`, async (request, reply) => {
    const filter = await inventory.createFilter(tenant(request), request.body);
    return reply.code(201).header('Location', `${V2}/filters/${filter.id}`).send();
  });

  app.get<{ Querystring: OpenQuery }>(
    `${V2}/filters`,
    { schema: { querystring: PageQuery } },
    async (request, reply) => {
      const page = pageOf(request.query, 20);
      const { filters, total } = await inventory.listFilters(tenant(request), page);
      setPageHeaders(request, reply, page, total);
      return reply.send(filters);
    },
  );

  app.get<{ Params: Static<typeof DeviceParams> }>(
    `${V2}/filters/:id`,
    { schema: { params: DeviceParams } },
    async (request, reply) => reply.send(await inventory.filter(tenant(request), request.params.id)),
  );

  app.delete<{ Params: Static<typeof DeviceParams> }>(
    `${V2}/filters/:id`,
    { schema: { params: DeviceParams } },
    async (request, reply) => {
      await inventory.deleteFilter(tenant(request), request.params.id);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: Static<typeof DeviceParams>; Querystring: OpenQuery }>(
    `${V2}/filters/:id/search`,
    { schema: { params: DeviceParams, querystring: PageQuery } },
    async (request, reply) => {
      const page = pageOf(request.query, 20);
      const { devices, total } = await inventory.searchByFilter(tenant(request), request.params.id, page);
      setPageHeaders(request, reply, page, total);
      return reply.send(devices);
    },
  );

  app.post('/api/management/v2alpha1/inventory/identities/search', async (request, reply) => {
    const { result, page } = await inventory.searchByIdentity(tenant(request), request.body);
    setPageHeaders(request, reply, page, result.total);
    return reply.send(result.devices);
  });
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Go's strconv.ParseBool, which Mender uses for boolean query parameters. */
function boolOf(name: string, value: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new Invalid(`invalid ${name} query: "${value}"`);
}

/** `page` (default 1) and `per_page` (default as the spec says, at most 500) with Mender's messages. */
function pageOf(query: OpenQuery, defaultPerPage: number): Page {
  const parse = (name: string, fallback: number) => {
    const text = first(query[name]);
    if (text === undefined || text === '') return fallback;
    if (!/^[+-]?\d+$/.test(text)) throw new Invalid(`invalid ${name} query: "${text}"`);
    const n = Number(text);
    if (n < 1) throw new Invalid(`invalid ${name} query: value must be a non-zero positive integer`);
    return n;
  };
  const page = parse('page', 1);
  const perPage = parse('per_page', defaultPerPage);
  if (perPage > 500) throw new Invalid('parameter "per_page" above limit (max: 500)');
  return { page, perPage };
}
