// Mender devicemonitor (Enterprise; no public server spec: the request shapes are seed 001's "Device monitor", the
// management routes and answers @northern.tech/types 0.5.0's). Thin: the rules are in src/monitor.
// Answers Flotilla chose, where nothing public fixes them:
// - POST /alert, POST /config: 204; 400 in Mender's error shape for any fault, nothing stored (an empty alert list
//   is a fault; an empty check list clears the device's checks).
// - GET devices/{id}/alerts: Alert[] ({name, level, subject: {name, type, status, details?}, timestamp}), newest
//   first unless sort_ascending=true; timestamps as RFC 3339 UTC with milliseconds; issued_before/issued_after
//   are exclusive; page/per_page (20, at most 500) with X-Total-Count and Link.
// - GET devices/{id}/alerts/latest: the latest Alert of each check (a check is name + subject.name), oldest first;
//   level_from=CRITICAL keeps the open ones; same paging.
// - GET devices/{id}/config: the device's checks as it posted them, [] before it posted any.
// - All three answer 404 for a device the tenant does not have.
// - GET devices (Flotilla's): MonitorDevice[] ({id, alerts_open_count, alerts_total_count, alerts: latest alert of
//   each check}) of devices that sent alerts, the most recent first; filters id (repeatable), level_from
//   (CRITICAL: devices with an open check, and only their open alerts) and issued_before/issued_after (on the
//   checks' latest alerts); same paging.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { setPageHeaders } from '../../api/paging.js';
import { type OpenQuery, openQuery } from '../../api/schemas.js';
import { deviceOf, userOf } from '../../auth/guard.js';
import { Invalid } from '../../errors.js';
import { type TimeRange, timeOf } from '../../monitor/rules.js';
import type { Paging } from '../../monitor/service.js';
import type { AlertLevel } from '../../monitor/tables.js';
import type { Services } from '../../services.js';

const DEVICE = '/api/devices/v1/devicemonitor';
const MGMT = '/api/management/v1/devicemonitor';

const DeviceParams = Type.Object({ id: Type.String() });

const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

function pagingOf(query: OpenQuery): Paging {
  const parse = (name: string, fallback: number) => {
    const text = first(query[name]);
    if (text === undefined || text === '') return fallback;
    if (!/^\d+$/.test(text) || Number(text) < 1) throw new Invalid(`invalid ${name} query: "${text}"`);
    return Number(text);
  };
  const paging = { page: parse('page', 1), perPage: parse('per_page', 20) };
  if (paging.perPage > 500) throw new Invalid('parameter "per_page" above limit (max: 500)');
  return paging;
}

function rangeOf(query: OpenQuery): TimeRange {
  const range: TimeRange = {};
  const before = first(query.issued_before);
  const after = first(query.issued_after);
  if (before) range.issuedBefore = timeOf(before, 'issued_before');
  if (after) range.issuedAfter = timeOf(after, 'issued_after');
  return range;
}

function levelOf(query: OpenQuery): AlertLevel {
  const level = first(query.level_from) ?? 'OK';
  if (level !== 'OK' && level !== 'CRITICAL') throw new Invalid('level_from: must be one of OK, CRITICAL');
  return level;
}

function paged(request: FastifyRequest, reply: FastifyReply, paging: Paging, total: number, items: unknown[]) {
  setPageHeaders(request, reply, paging, total);
  return reply.send(items);
}

const AlertsQuery = openQuery(['page', 'per_page', 'sort_ascending', 'issued_after', 'issued_before']);
const LatestAlertsQuery = openQuery(['page', 'per_page', 'level_from', 'issued_after', 'issued_before']);
const DevicesQuery = openQuery(['page', 'per_page', 'id', 'level_from', 'issued_after', 'issued_before']);

export async function devicemonitorRoutes(app: FastifyInstance, { services }: { services: Services }) {
  const monitor = services.monitor;

  app.post(`${DEVICE}/alert`, async (request, reply) => {
    const { tenantId, deviceId } = deviceOf(request);
    await monitor.receiveAlerts(tenantId, deviceId, request.body);
    return reply.code(204).send();
  });

  app.post(`${DEVICE}/config`, async (request, reply) => {
    const { tenantId, deviceId } = deviceOf(request);
    await monitor.receiveChecks(tenantId, deviceId, request.body);
    return reply.code(204).send();
  });

  app.get<{ Params: { id: string }; Querystring: OpenQuery }>(
    `${MGMT}/devices/:id/alerts`,
    { schema: { params: DeviceParams, querystring: AlertsQuery } },
    async (request, reply) => {
      const query = request.query;
      const paging = pagingOf(query);
      const sort = first(query.sort_ascending);
      if (sort !== undefined && sort !== 'true' && sort !== 'false') {
        throw new Invalid('sort_ascending: must be true or false');
      }
      const { alerts, total } = await monitor.alerts(
        userOf(request).tenantId,
        request.params.id,
        rangeOf(query),
        sort === 'true',
        paging,
      );
      return paged(request, reply, paging, total, alerts);
    },
  );

  app.get<{ Params: { id: string }; Querystring: OpenQuery }>(
    `${MGMT}/devices/:id/alerts/latest`,
    { schema: { params: DeviceParams, querystring: LatestAlertsQuery } },
    async (request, reply) => {
      const query = request.query;
      const paging = pagingOf(query);
      const { alerts, total } = await monitor.latestAlerts(
        userOf(request).tenantId,
        request.params.id,
        levelOf(query),
        rangeOf(query),
        paging,
      );
      return paged(request, reply, paging, total, alerts);
    },
  );

  app.get<{ Params: { id: string } }>(`${MGMT}/devices/:id/config`, { schema: { params: DeviceParams } }, (request) =>
    monitor.checks(userOf(request).tenantId, request.params.id),
  );

  app.get<{ Querystring: OpenQuery }>(
    `${MGMT}/devices`,
    { schema: { querystring: DevicesQuery } },
    async (request, reply) => {
      const query = request.query;
      const paging = pagingOf(query);
      const ids = query.id === undefined ? undefined : ([] as string[]).concat(query.id);
      const { devices, total } = await monitor.devices(
        userOf(request).tenantId,
        { ...(ids ? { deviceIds: ids } : {}), levelFrom: levelOf(query), ...rangeOf(query) },
        paging,
      );
      return paged(request, reply, paging, total, devices);
    },
  );
}
