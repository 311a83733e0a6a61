// useradm's plans and plan binding (Mender's full API, shapes from @northern.tech/types: Plan, PlanBindingDetails),
// answered truthfully for an open edition: one plan, Mender's `os`, whose features are the ones this server has, and
// the caller's tenant's limits as the operator set them (`flotilla tenant set-limits`). Billing is no matter here.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { userOf } from '../../auth/guard.js';
import type { Services } from '../../services.js';

const V1 = '/api/management/v1/useradm';
const TAGS = ['useradm'];

/**
 * The one plan. Each feature is a route family this server serves: role-based access (issue 15), audit logs,
 * dynamic groups (saved filters), remote terminal and file transfer (device connect), device configuration and
 * monitoring. `reporting` (Mender's device search service) it does not have.
 */
export const OPEN_PLAN = {
  name: 'os',
  display_name: 'Flotilla open edition',
  features: {
    rbac: true,
    audit_logs: true,
    dynamic_groups: true,
    terminal: true,
    file_transfer: true,
    configuration: true,
    monitoring: true,
    reporting: false,
  },
};

const Features = Type.Object(Object.fromEntries(Object.keys(OPEN_PLAN.features).map((k) => [k, Type.Boolean()])));
const Plan = Type.Object({ name: Type.String(), display_name: Type.String(), features: Features });
const PlanLimits = Type.Object({
  devices: Type.Optional(Type.Integer({ description: 'accepted devices allowed; absent: no limit' })),
  users: Type.Optional(Type.Integer()),
  audit_logs_days: Type.Optional(Type.Integer({ description: 'days audit entries are kept; absent: for ever' })),
});
const Paging = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, default: 1 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 20 })),
});

export async function planRoutes(fastify: FastifyInstance, { services }: { services: Services }) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get(
    `${V1}/plans`,
    {
      schema: {
        tags: TAGS,
        summary: 'List available plans',
        querystring: Paging,
        response: { 200: Type.Array(Plan) },
      },
    },
    async (request) => ((request.query.page ?? 1) === 1 ? [OPEN_PLAN] : []),
  );

  app.get(
    `${V1}/plan_binding`,
    {
      schema: {
        tags: TAGS,
        summary: "The tenant's plan and limits",
        response: { 200: Type.Object({ plan: Plan, limits: PlanLimits }) },
      },
    },
    async (request) => {
      const maxDevices = await services.devices.maxDevices(userOf(request).tenantId);
      const days = services.config.auditRetentionDays;
      return {
        plan: OPEN_PLAN,
        limits: { ...(maxDevices > 0 ? { devices: maxDevices } : {}), ...(days > 0 ? { audit_logs_days: days } : {}) },
      };
    },
  );
}
