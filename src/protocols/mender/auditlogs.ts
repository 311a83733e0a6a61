// Mender auditlogs (Enterprise; no public server spec: the routes, filters and shapes are seed 001's "Audit Logs
// service", the entry fields @northern.tech/types'). Thin: the rules are in src/audit.
// Choices Flotilla made where nothing public fixes them (also in test/contract/deviations.ts):
// - GET /logs: AuditLog[] ({actor: {id, type, email?}, time, action, object: {id, type, user?, deployment?,
//   artifact?, device?}, change?, meta?}), newest first unless sort=asc; page/per_page (20, at most 500) with
//   X-Total-Count and Link; created_before/created_after are Unix seconds, both inclusive.
// - GET /logs/export: text/csv streamed page by page, header line first; columns are the entry's JSON paths
//   (src/audit/csv.ts), `format_separator` joins a path's parts in the header, `ignore` (repeatable or
//   comma-separated) drops columns; `limit` caps the rows (none: all).
// - Bad query values: 400 in Mender's error shape.
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { setPageHeaders } from '../../api/paging.js';
import { type OpenQuery, openQuery } from '../../api/schemas.js';
import { csvLayout } from '../../audit/csv.js';
import type { AuditFilter } from '../../audit/store.js';
import { userOf } from '../../auth/guard.js';
import { Invalid } from '../../errors.js';
import type { Services } from '../../services.js';

const BASE = '/api/management/v1/auditlogs/logs';
/** Object types the export filters on (Mender's list leaves out `tenant` there); the last three are Flotilla's. */
const EXPORTABLE = ['user', 'deployment', 'artifact', 'device', 'personal_access_token', 'release', 'role'];

const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

function positive(query: OpenQuery, name: string): number | undefined {
  const text = first(query[name]);
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,12}$/.test(text) || Number(text) < 1) throw new Invalid(`invalid ${name} query: "${text}"`);
  return Number(text);
}

function oneOf(query: OpenQuery, name: string, values: string[]): string | undefined {
  const text = first(query[name]);
  if (text === undefined || text === '') return undefined;
  if (!values.includes(text)) throw new Invalid(`${name}: must be one of ${values.join(', ')}`);
  return text;
}

function unixSeconds(query: OpenQuery, name: string, endOfSecond: boolean): string | undefined {
  const text = first(query[name]);
  if (text === undefined || text === '') return undefined;
  if (!/^\d{1,11}$/.test(text)) throw new Invalid(`${name}: must be a Unix timestamp in seconds`);
  return new Date(Number(text) * 1000 + (endOfSecond ? 999 : 0)).toISOString();
}

function text(query: OpenQuery, name: string): string | undefined {
  const value = first(query[name]);
  return value === undefined || value === '' ? undefined : value;
}

function filterOf(query: OpenQuery, objectTypes: string[]): AuditFilter {
  return {
    createdAfter: unixSeconds(query, 'created_after', false),
    createdBefore: unixSeconds(query, 'created_before', true),
    actorId: text(query, 'actor_id'),
    actorType: oneOf(query, 'actor_type', ['user', 'device']),
    actorEmail: text(query, 'actor_email'),
    objectId: text(query, 'object_id'),
    objectType: oneOf(query, 'object_type', objectTypes),
    objectDeploymentName: text(query, 'object_deployment_name'),
  };
}

const ascendingOf = (query: OpenQuery) => oneOf(query, 'sort', ['asc', 'desc']) === 'asc';

const FILTERS = [
  'created_after',
  'created_before',
  'actor_id',
  'actor_type',
  'actor_email',
  'object_id',
  'object_type',
  'object_deployment_name',
];
const ListQuery = openQuery(['page', 'per_page', 'sort', ...FILTERS]);
const ExportQuery = openQuery(['limit', 'sort', 'format_separator', 'ignore', ...FILTERS]);

export async function auditlogRoutes(app: FastifyInstance, { services }: { services: Services }) {
  const audit = services.audit;

  app.get<{ Querystring: OpenQuery }>(BASE, { schema: { querystring: ListQuery } }, async (request, reply) => {
    const query = request.query;
    const paging = { page: positive(query, 'page') ?? 1, perPage: positive(query, 'per_page') ?? 20 };
    if (paging.perPage > 500) throw new Invalid('parameter "per_page" above limit (max: 500)');
    const filter = filterOf(query, ['tenant', ...EXPORTABLE]);
    const { logs, total } = await audit.list(userOf(request).tenantId, filter, ascendingOf(query), paging);
    setPageHeaders(request, reply, paging, total);
    return reply.send(logs);
  });

  app.get<{ Querystring: OpenQuery }>(
    `${BASE}/export`,
    { schema: { querystring: ExportQuery } },
    async (request, reply) => {
      const query = request.query;
      const filter = filterOf(query, EXPORTABLE);
      const ignored = [query.ignore ?? []].flat().flatMap((value) => value.split(',').filter(Boolean));
      const layout = csvLayout(first(query.format_separator) || '.', ignored);
      const rows = audit.entries(userOf(request).tenantId, filter, ascendingOf(query), positive(query, 'limit'));
      async function* lines() {
        yield layout.header;
        for await (const row of rows) yield layout.line(row);
      }
      return reply
        .type('text/csv; charset=utf-8')
        .header('Content-Disposition', 'attachment; filename="auditlogs.csv"')
        .send(Readable.from(lines()));
    },
  );
}
