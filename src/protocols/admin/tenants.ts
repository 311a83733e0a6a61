// The operator API for tenants (server-wide, not a tenant's user; the guard wants FLOTILLA_ADMIN_TOKEN, see
// src/auth/guard.ts): list, create (with a first admin user), show, set limits. Mender's error shape, as elsewhere.
//   GET  /api/admin/v1/tenants                   every tenant with its limits and usage
//   POST /api/admin/v1/tenants                   {name, max_devices?, storage_limit?, admin_email?, admin_password?}
//   GET  /api/admin/v1/tenants/{tenant}          by id or name
//   PUT  /api/admin/v1/tenants/{tenant}/limits   {max_devices?, storage_limit?} (0: no limit)
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.js';
import { TenantOperator } from '../../tenants/operator.js';

const BASE = '/api/admin/v1/tenants';
const TAGS = ['operator: tenants'];
const SECURITY = [{ OperatorToken: [] }];

const Limit = (description: string) => Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description });
const MaxDevices = Limit('accepted devices allowed; 0: no limit');
const StorageLimit = Limit('bytes of artifact storage allowed; 0: no limit');

const TenantView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  tenant_token: Type.String({ description: 'what Mender clients send as TenantToken' }),
  hawkbit_name: Type.String({ description: 'the {tenant} of DDI paths and of Kanto MQTT usernames' }),
  default: Type.Boolean(),
  max_devices: Type.Integer(),
  storage_limit: Type.Integer(),
  created_ts: Type.String({ format: 'date-time' }),
  accepted_devices: Type.Integer(),
  storage_usage: Type.Integer(),
});
const NewTenantBody = Type.Object(
  {
    name: Type.String({ description: 'letters, digits, ".", "_", "-"; unique ignoring case' }),
    max_devices: Type.Optional(MaxDevices),
    storage_limit: Type.Optional(StorageLimit),
    admin_email: Type.Optional(Type.String({ description: "the tenant's first user, with admin_password" })),
    admin_password: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
const LimitsBody = Type.Object(
  { max_devices: Type.Optional(MaxDevices), storage_limit: Type.Optional(StorageLimit) },
  { additionalProperties: false, minProperties: 1 },
);
const TenantParams = Type.Object({ tenant: Type.String({ description: 'tenant id or name' }) });
const Created = Type.Object({
  tenant: TenantView,
  admin: Type.Optional(Type.Object({ id: Type.String(), email: Type.String() })),
});
const ErrorBody = Type.Object({ error: Type.String(), request_id: Type.Optional(Type.String()) });
const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody };

export async function operatorTenantRoutes(fastify: FastifyInstance, { services }: { services: Services }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const operator = new TenantOperator(services);

  app.get(
    BASE,
    { schema: { tags: TAGS, security: SECURITY, summary: 'List tenants', response: { 200: Type.Array(TenantView) } } },
    async () => operator.list(),
  );

  app.post(
    BASE,
    {
      schema: {
        tags: TAGS,
        security: SECURITY,
        summary: 'Create a tenant (and its first admin user)',
        body: NewTenantBody,
        response: { 201: Created, ...errors, 409: ErrorBody },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const created = await operator.create({
        name: body.name,
        maxDevices: body.max_devices,
        storageLimit: body.storage_limit,
        adminEmail: body.admin_email,
        adminPassword: body.admin_password,
      });
      // Server-level: the server log is its record (a tenant's audit log holds what its own users did).
      request.log.info({ tenant: created.tenant.id, name: created.tenant.name }, 'operator created a tenant');
      return reply.status(201).send(created);
    },
  );

  app.get(
    `${BASE}/:tenant`,
    {
      schema: {
        tags: TAGS,
        security: SECURITY,
        summary: 'Show a tenant',
        params: TenantParams,
        response: { 200: TenantView, ...errors },
      },
    },
    async (request) => operator.show(request.params.tenant),
  );

  app.put(
    `${BASE}/:tenant/limits`,
    {
      schema: {
        tags: TAGS,
        security: SECURITY,
        summary: "Set a tenant's limits",
        params: TenantParams,
        body: LimitsBody,
        response: { 200: TenantView, ...errors },
      },
    },
    async (request) => {
      const body = request.body;
      const tenant = await operator.setLimits(request.params.tenant, {
        maxDevices: body.max_devices,
        storageLimit: body.storage_limit,
      });
      request.log.info(
        { tenant: tenant.id, max_devices: tenant.max_devices, storage_limit: tenant.storage_limit },
        'operator set tenant limits',
      );
      return tenant;
    },
  );
}
