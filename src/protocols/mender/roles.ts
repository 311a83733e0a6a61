// Mender useradm (Enterprise) roles and permission sets: /api/management/v1|v2/useradm/roles[/{id}] and
// /api/management/v2/useradm/permission_sets[/{id}], shapes from @northern.tech/types 0.5.0 (RoleV1, Role,
// PermissionSet). A role's id on the wire is its name, as the Mender GUI uses it. Thin: the rules are src/users/roles.ts.
// Choices where nothing public fixes them (also in test/contract/deviations.ts):
// - Both versions take and answer {name, description, permission_sets_with_scope} (what the GUI sends to v2);
//   raw `permissions` (action/object) are refused with 400 unless empty.
// - A permission set's `permissions` list Flotilla's permission names ({action: "any", object: {type:
//   "permission", value: "devices:read"}}), not Mender's HTTP path patterns.
// - Built-in roles are listed and shown; changing or removing one is 400. Removing an unknown role is 204.
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { pageOf, pagingQuery, setPageHeaders } from '../../api/paging.js';
import { userOf } from '../../auth/guard.js';
import { NotFound } from '../../errors.js';
import type { Services } from '../../services.js';
import { PERMISSION_SETS, type PermissionSetDefinition, permissionSetByName } from '../../users/permission-sets.js';
import { requireJson } from './useradm.js';

const V1 = '/api/management/v1/useradm';
const V2 = '/api/management/v2/useradm';
const TAGS = ['useradm'];

const Scope = Type.Object({
  type: Type.String({ description: '`DeviceGroups` or `ReleaseTags`' }),
  value: Type.Array(Type.String()),
});
const ScopedSet = Type.Object({ name: Type.String(), scope: Type.Optional(Scope) });
const RoleBody = Type.Object({
  name: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  permission_sets_with_scope: Type.Optional(Type.Array(ScopedSet)),
  permissions: Type.Optional(Type.Array(Type.Unknown())),
});
const IdParams = Type.Object({ id: Type.String() });
const Paging = Type.Object(pagingQuery);

function permissionSetView(set: PermissionSetDefinition) {
  return {
    name: set.name,
    description: set.description,
    permissions: set.grants.map((value) => ({ action: 'any', object: { type: 'permission', value } })),
    ...(set.scopeTypes.length > 0 ? { supported_scope_types: [...set.scopeTypes] } : {}),
  };
}

export async function roleRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const roles = services.users.roles;

  for (const base of [V1, V2]) {
    const v2 = base === V2;
    app.get<{ Querystring: Static<typeof Paging> }>(
      `${base}/roles`,
      { schema: { tags: TAGS, summary: 'List roles (built-in and custom)', querystring: Paging } },
      async (request, reply) => {
        const all = await roles.list(userOf(request).tenantId);
        if (!v2) return all;
        const paging = pageOf(request.query, 20, 500);
        setPageHeaders(request, reply, paging, all.length);
        return all.slice((paging.page - 1) * paging.perPage, paging.page * paging.perPage);
      },
    );

    app.post<{ Body: Static<typeof RoleBody> }>(
      `${base}/roles`,
      { onRequest: requireJson, schema: { tags: TAGS, summary: 'Create a custom role', body: RoleBody } },
      async (request, reply) => {
        const role = await roles.create(userOf(request), request.body);
        return reply
          .status(201)
          .header('Location', `${base}/roles/${encodeURIComponent(role.name)}`)
          .send();
      },
    );

    app.get<{ Params: Static<typeof IdParams> }>(
      `${base}/roles/:id`,
      { schema: { tags: TAGS, summary: 'Show a role (id: its name)', params: IdParams } },
      async (request) => roles.get(userOf(request).tenantId, request.params.id),
    );

    app.put<{ Params: Static<typeof IdParams>; Body: Static<typeof RoleBody> }>(
      `${base}/roles/:id`,
      {
        onRequest: requireJson,
        schema: { tags: TAGS, summary: 'Update a custom role', params: IdParams, body: RoleBody },
      },
      async (request, reply) => {
        await roles.update(userOf(request), request.params.id, request.body);
        return reply.status(v2 ? 200 : 202).send();
      },
    );

    app.delete<{ Params: Static<typeof IdParams> }>(
      `${base}/roles/:id`,
      { schema: { tags: TAGS, summary: 'Remove a custom role (users holding it lose it)', params: IdParams } },
      async (request, reply) => {
        await roles.remove(userOf(request), request.params.id);
        return reply.status(204).send();
      },
    );
  }

  app.get<{ Querystring: Static<typeof Paging> }>(
    `${V2}/permission_sets`,
    { schema: { tags: TAGS, summary: 'List permission sets', querystring: Paging } },
    async (request, reply) => {
      const paging = pageOf(request.query, 20, 500);
      setPageHeaders(request, reply, paging, PERMISSION_SETS.length);
      return PERMISSION_SETS.slice((paging.page - 1) * paging.perPage, paging.page * paging.perPage).map(
        permissionSetView,
      );
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    `${V2}/permission_sets/:id`,
    { schema: { tags: TAGS, summary: 'Show a permission set (id: its name)', params: IdParams } },
    async (request) => {
      const set = permissionSetByName.get(request.params.id);
      if (!set) throw new NotFound('permission set not found');
      return permissionSetView(set);
    },
  );
}
