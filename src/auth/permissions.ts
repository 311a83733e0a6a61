// The one table of which permission each user route needs (keyed by method and route template), and the check the
// auth guard runs with it once the principal is known. A user route missing here is refused to everyone but the
// admin and fails src/auth/permissions.test.ts, so a new route cannot silently be open to every role.
// Scopes (device groups, release tags) are checked where a route names the device, group or release in its path;
// the inventory's device list and search narrow their answer to the scope's groups (the inventory domain does, given
// `deviceGroups`); a user whose grant is scoped only is refused every other route that names none.
import type { FastifyRequest } from 'fastify';
import { Forbidden } from '../errors.js';
import { type Access, type Permission, RBAC_FORBIDDEN } from '../users/permission-sets.js';
import type { UserPrincipal } from './principal.js';

export interface RouteAccess {
  /** `self`: any user of the tenant (own account, settings, tokens; Mender's Basic permission set). */
  permission: Permission | 'self';
  /** Path parameter naming a user: `me` or the caller's own id needs no permission. */
  self?: string;
  /** Path parameter holding a device id, checked against a DeviceGroups scope. */
  device?: string;
  /** Path parameter holding a group name, checked against a DeviceGroups scope. */
  group?: string;
  /** Path parameter holding a release name, checked against a ReleaseTags scope. */
  release?: string;
  /** The route lists devices and narrows its answer to `UserPrincipal.deviceGroups` for a scoped grant. */
  listsDevices?: true;
}

const M1 = '/api/management/v1';
const M2 = '/api/management/v2';
const self: RouteAccess = { permission: 'self' };
const need = (permission: Permission, scope: Omit<RouteAccess, 'permission'> = {}): RouteAccess => ({
  permission,
  ...scope,
});

/** `METHOD /template` → what it needs. HEAD is checked as its GET. */
export const ROUTE_PERMISSIONS: Readonly<Record<string, RouteAccess>> = {
  // useradm: own account and session for everyone; users and roles for user managers.
  [`POST ${M1}/useradm/auth/logout`]: self,
  [`GET ${M1}/useradm/users`]: need('users:read'),
  [`POST ${M1}/useradm/users`]: need('users:manage'),
  [`GET ${M1}/useradm/users/:id`]: need('users:read', { self: 'id' }),
  [`PUT ${M1}/useradm/users/:id`]: need('users:manage', { self: 'id' }),
  [`DELETE ${M1}/useradm/users/:id`]: need('users:manage'),
  [`PUT ${M2}/useradm/users/me`]: self,
  [`GET ${M1}/useradm/settings`]: self,
  [`POST ${M1}/useradm/settings`]: need('users:manage'),
  [`GET ${M1}/useradm/settings/me`]: self,
  [`POST ${M1}/useradm/settings/me`]: self,
  [`GET ${M1}/useradm/settings/tokens`]: self,
  [`POST ${M1}/useradm/settings/tokens`]: self,
  [`DELETE ${M1}/useradm/settings/tokens/:id`]: self,
  [`GET ${M1}/useradm/plans`]: self,
  [`GET ${M1}/useradm/plan_binding`]: self,
  [`GET ${M1}/useradm/roles`]: need('users:read'),
  [`POST ${M1}/useradm/roles`]: need('users:manage'),
  [`GET ${M1}/useradm/roles/:id`]: need('users:read'),
  [`PUT ${M1}/useradm/roles/:id`]: need('users:manage'),
  [`DELETE ${M1}/useradm/roles/:id`]: need('users:manage'),
  [`GET ${M2}/useradm/roles`]: need('users:read'),
  [`POST ${M2}/useradm/roles`]: need('users:manage'),
  [`GET ${M2}/useradm/roles/:id`]: need('users:read'),
  [`PUT ${M2}/useradm/roles/:id`]: need('users:manage'),
  [`DELETE ${M2}/useradm/roles/:id`]: need('users:manage'),
  [`GET ${M2}/useradm/permission_sets`]: need('users:read'),
  [`GET ${M2}/useradm/permission_sets/:id`]: need('users:read'),
  [`GET ${M1}/tenantadm/user/tenant`]: self,
  [`GET ${M1}/auditlogs/logs`]: need('auditlog:read'),
  [`GET ${M1}/auditlogs/logs/export`]: need('auditlog:read'),

  // Devices: inventory, authentication, monitoring.
  [`GET ${M1}/inventory/devices`]: need('devices:read', { listsDevices: true }),
  [`GET ${M1}/inventory/devices/:id`]: need('devices:read', { device: 'id' }),
  [`DELETE ${M1}/inventory/devices/:id`]: need('devices:manage', { device: 'id' }),
  [`PATCH ${M1}/inventory/devices/:id/tags`]: need('devices:manage', { device: 'id' }),
  [`PUT ${M1}/inventory/devices/:id/tags`]: need('devices:manage', { device: 'id' }),
  [`GET ${M1}/inventory/devices/:id/group`]: need('devices:read', { device: 'id' }),
  // Moving a device between groups needs management of the whole fleet: a scope cannot say where it may go.
  [`PUT ${M1}/inventory/devices/:id/group`]: need('devices:manage'),
  [`DELETE ${M1}/inventory/devices/:id/group/:name`]: need('devices:manage'),
  [`GET ${M1}/inventory/groups`]: need('devices:read'),
  [`DELETE ${M1}/inventory/groups/:name`]: need('devices:manage'),
  [`GET ${M1}/inventory/groups/:name/devices`]: need('devices:read', { group: 'name' }),
  [`PATCH ${M1}/inventory/groups/:name/devices`]: need('devices:manage'),
  [`DELETE ${M1}/inventory/groups/:name/devices`]: need('devices:manage'),
  [`POST ${M2}/inventory/filters`]: need('devices:manage'),
  [`GET ${M2}/inventory/filters`]: need('devices:read'),
  [`GET ${M2}/inventory/filters/attributes`]: need('devices:read'),
  [`POST ${M2}/inventory/filters/search`]: need('devices:read', { listsDevices: true }),
  [`GET ${M2}/inventory/filters/:id`]: need('devices:read'),
  [`DELETE ${M2}/inventory/filters/:id`]: need('devices:manage'),
  [`GET ${M2}/inventory/filters/:id/search`]: need('devices:read'),
  [`GET ${M2}/inventory/statistics`]: need('devices:read'),
  'POST /api/management/v2alpha1/inventory/identities/search': need('devices:read'),
  [`GET ${M2}/devauth/devices`]: need('devices:read'),
  [`POST ${M2}/devauth/devices`]: need('devices:manage'),
  [`POST ${M2}/devauth/devices/search`]: need('devices:read'),
  [`GET ${M2}/devauth/devices/count`]: need('devices:read'),
  [`GET ${M2}/devauth/devices/:id`]: need('devices:read', { device: 'id' }),
  [`DELETE ${M2}/devauth/devices/:id`]: need('devices:manage', { device: 'id' }),
  [`DELETE ${M2}/devauth/devices/:id/auth/:aid`]: need('devices:manage', { device: 'id' }),
  [`GET ${M2}/devauth/devices/:id/auth/:aid/status`]: need('devices:read', { device: 'id' }),
  [`PUT ${M2}/devauth/devices/:id/auth/:aid/status`]: need('devices:manage', { device: 'id' }),
  [`DELETE ${M2}/devauth/tokens/:id`]: need('devices:manage'),
  [`GET ${M2}/devauth/limits/max_devices`]: need('devices:read'),
  [`GET ${M1}/devicemonitor/devices`]: need('devices:read'),
  [`GET ${M1}/devicemonitor/devices/:id/alerts`]: need('devices:read', { device: 'id' }),
  [`GET ${M1}/devicemonitor/devices/:id/alerts/latest`]: need('devices:read', { device: 'id' }),
  [`GET ${M1}/devicemonitor/devices/:id/config`]: need('devices:read', { device: 'id' }),
  [`GET ${M1}/deviceconfig/configurations/device/:deviceId`]: need('devices:read', { device: 'deviceId' }),
  [`PUT ${M1}/deviceconfig/configurations/device/:deviceId`]: need('devices:configure', { device: 'deviceId' }),
  [`POST ${M1}/deviceconfig/configurations/device/:deviceId/deploy`]: need('devices:configure', {
    device: 'deviceId',
  }),
  [`GET ${M1}/deviceconnect/devices/:id`]: need('devices:read', { device: 'id' }),
  [`GET ${M1}/deviceconnect/devices/:id/connect`]: need('devices:connect', { device: 'id' }),
  [`POST ${M1}/deviceconnect/devices/:id/check-update`]: need('devices:connect', { device: 'id' }),
  [`POST ${M1}/deviceconnect/devices/:id/send-inventory`]: need('devices:connect', { device: 'id' }),
  [`GET ${M1}/deviceconnect/devices/:id/download`]: need('devices:connect', { device: 'id' }),
  [`PUT ${M1}/deviceconnect/devices/:id/upload`]: need('devices:connect', { device: 'id' }),
  [`GET ${M1}/deviceconnect/settings`]: need('devices:read'),
  [`PUT ${M1}/deviceconnect/settings`]: need('tenant:admin'),
  // Session recordings are part of the audit trail in Mender's GUI.
  [`GET ${M1}/deviceconnect/sessions/:session_id/playback`]: need('auditlog:read'),
  [`GET ${M1}/iot-manager/integrations`]: need('tenant:admin'),
  [`POST ${M1}/iot-manager/integrations`]: need('tenant:admin'),
  [`GET ${M1}/iot-manager/integrations/:id`]: need('tenant:admin'),
  [`DELETE ${M1}/iot-manager/integrations/:id`]: need('tenant:admin'),
  [`PUT ${M1}/iot-manager/integrations/:id/credentials`]: need('tenant:admin'),
  [`GET ${M1}/iot-manager/devices/:id/state`]: need('devices:read', { device: 'id' }),
  [`GET ${M1}/iot-manager/devices/:id/state/:integrationId`]: need('devices:read', { device: 'id' }),
  [`PUT ${M1}/iot-manager/devices/:id/state/:integrationId`]: need('devices:manage', { device: 'id' }),
  [`GET ${M1}/iot-manager/events`]: need('tenant:admin'),

  // Releases and artifacts.
  [`GET ${M1}/deployments/artifacts`]: need('releases:read'),
  [`POST ${M1}/deployments/artifacts`]: need('releases:upload'),
  [`GET ${M1}/deployments/artifacts/list`]: need('releases:read'),
  [`POST ${M1}/deployments/artifacts/directupload`]: need('releases:upload'),
  [`POST ${M1}/deployments/artifacts/directupload/:id/complete`]: need('releases:upload'),
  [`POST ${M1}/deployments/artifacts/generate`]: need('releases:upload'),
  [`GET ${M1}/deployments/artifacts/:id`]: need('releases:read'),
  [`PUT ${M1}/deployments/artifacts/:id`]: need('releases:manage'),
  [`DELETE ${M1}/deployments/artifacts/:id`]: need('releases:manage'),
  [`GET ${M1}/deployments/artifacts/:id/download`]: need('releases:read'),
  [`GET ${M1}/deployments/limits/storage`]: need('releases:read'),
  [`GET ${M1}/deployments/deployments/releases`]: need('releases:read'),
  [`GET ${M1}/deployments/deployments/releases/list`]: need('releases:read'),
  [`GET ${M2}/deployments/artifacts`]: need('releases:read'),
  [`GET ${M2}/deployments/deployments/releases`]: need('releases:read'),
  [`DELETE ${M2}/deployments/deployments/releases`]: need('releases:manage'),
  [`GET ${M2}/deployments/deployments/releases/:release_name`]: need('releases:read', { release: 'release_name' }),
  [`PATCH ${M2}/deployments/deployments/releases/:release_name`]: need('releases:manage', {
    release: 'release_name',
  }),
  [`PUT ${M2}/deployments/deployments/releases/:release_name/tags`]: need('releases:manage', {
    release: 'release_name',
  }),
  [`GET ${M2}/deployments/releases/all/tags`]: need('releases:read'),
  [`GET ${M2}/deployments/releases/all/types`]: need('releases:read'),

  // Deployments.
  [`GET ${M1}/deployments/deployments`]: need('deployments:read'),
  [`POST ${M1}/deployments/deployments`]: need('deployments:deploy'),
  [`POST ${M1}/deployments/deployments/group/:name`]: need('deployments:deploy', { group: 'name' }),
  [`POST ${M1}/deployments/deployments/statistics/list`]: need('deployments:read'),
  [`GET ${M1}/deployments/deployments/devices/:id`]: need('deployments:read', { device: 'id' }),
  [`DELETE ${M1}/deployments/deployments/devices/:id`]: need('deployments:deploy', { device: 'id' }),
  [`DELETE ${M1}/deployments/deployments/devices/:id/history`]: need('deployments:deploy', { device: 'id' }),
  [`GET ${M1}/deployments/deployments/:id`]: need('deployments:read'),
  [`PATCH ${M1}/deployments/deployments/:id`]: need('deployments:deploy'),
  [`PUT ${M1}/deployments/deployments/:id/status`]: need('deployments:deploy'),
  [`GET ${M1}/deployments/deployments/:id/statistics`]: need('deployments:read'),
  [`GET ${M1}/deployments/deployments/:id/devices`]: need('deployments:read'),
  [`GET ${M1}/deployments/deployments/:id/devices/list`]: need('deployments:read'),
  [`GET ${M1}/deployments/deployments/:id/devices/:device_id/log`]: need('deployments:read', {
    device: 'device_id',
  }),
  [`GET ${M1}/deployments/deployments/:id/device_list`]: need('deployments:read'),
  [`GET ${M2}/deployments/deployments`]: need('deployments:read'),
  [`POST ${M2}/deployments/deployments`]: need('deployments:deploy'),

  // hawkBit management (targets, settings with the gateway token, artifact upload).
  'GET /api/ddi/v1/settings': need('tenant:admin'),
  'PUT /api/ddi/v1/settings': need('tenant:admin'),
  'POST /api/ddi/v1/targets': need('devices:manage'),
  'GET /api/ddi/v1/targets/:controllerId': need('devices:read'),
  'POST /api/ddi/v1/artifacts': need('releases:upload'),

  // Kanto management (things, desired states, update consent).
  'POST /api/kanto/v1/desired-states': need('deployments:deploy'),
  'GET /api/kanto/v1/desired-states/:id': need('deployments:read'),
  'POST /api/kanto/v1/devices': need('devices:manage'),
  // (Kanto's :id is a thing id, not a device id: no scope check, so scoped-only grants are refused here.)
  'GET /api/kanto/v1/devices/:id': need('devices:read'),
  'POST /api/kanto/v1/devices/:id/refresh': need('devices:manage'),
  'GET /api/kanto/v1/deployments/:id/consent': need('deployments:read'),
  'PUT /api/kanto/v1/deployments/:id/consent': need('deployments:deploy'),
};

/** What the guard asks of the domains to check a scope. */
export interface ScopeLookup {
  /** The static group of a device, null when it is in none; undefined when there is no such device. */
  deviceGroup(tenantId: string, deviceId: string): Promise<string | null | undefined>;
  /** The tags of a release; undefined when there is no such release. */
  releaseTags(tenantId: string, name: string): Promise<string[] | undefined>;
}

export function routeAccessOf(method: string, template: string): RouteAccess | undefined {
  return ROUTE_PERMISSIONS[`${method === 'HEAD' ? 'GET' : method} ${template}`];
}

const forbidden = () => new Forbidden(RBAC_FORBIDDEN);

/** Throws Mender's RBAC 403 unless the user's access allows this request of this route. */
export async function checkPermission(
  request: FastifyRequest,
  template: string,
  user: UserPrincipal & { access: Access },
  scopes: ScopeLookup,
): Promise<void> {
  const route = routeAccessOf(request.method, template);
  // Not in the table: only the admin (who holds every permission) may use it; the declaration test fails anyway.
  const permission = route?.permission ?? 'tenant:admin';
  if (permission === 'self') return;
  const params = (request.params ?? {}) as Record<string, string>;
  // (`me` in any case: the useradm update route reads it so.)
  if (route?.self && (params[route.self]?.toLowerCase() === 'me' || params[route.self] === user.userId)) return;
  const grant = user.access.get(permission);
  if (!grant) throw forbidden();
  if (grant === 'all') return;
  if (route?.device) {
    // An unknown device is refused too: a scoped user learns nothing of devices outside the scope.
    const group = await scopes.deviceGroup(user.tenantId, params[route.device]);
    if (group && grant.groups.has(group)) return;
  } else if (route?.group) {
    if (grant.groups.has(params[route.group])) return;
  } else if (route?.listsDevices) {
    user.deviceGroups = [...grant.groups];
    return;
  } else if (route?.release) {
    const tags = await scopes.releaseTags(user.tenantId, params[route.release]);
    if (tags?.some((tag) => grant.tags.has(tag))) return;
  }
  throw forbidden();
}
