// The one tenantadm call Mender's web GUI makes with Enterprise features on, answered for an open edition: the
// caller's tenant as Mender's tenant descriptor (id, name, tenant_token, status). No plan, trial or addons: the
// GUI compares them with the same claims of its JWT (which has none) and asks the user to log in again when
// they differ.
import type { FastifyInstance } from 'fastify';
import { userOf } from '../../auth/guard.js';
import { NotFound } from '../../errors.js';
import type { Services } from '../../services.js';

export async function tenantadmRoutes(fastify: FastifyInstance, { services }: { services: Services }) {
  fastify.get('/api/management/v1/tenantadm/user/tenant', { schema: { tags: ['tenantadm'] } }, async (request) => {
    const tenant = await services.tenants.byId(userOf(request).tenantId);
    if (!tenant) throw new NotFound('tenant not found');
    return { id: tenant.id, name: tenant.name, tenant_token: tenant.tenant_token, status: 'active' };
  });
}
