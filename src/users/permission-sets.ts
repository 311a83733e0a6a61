// Mender's RBAC vocabulary: the permission sets (names, scope types and what they grant, after the Mender GUI's
// userConstants and docs.mender.io "Role-Based Access Control"), the five built-in roles, and `accessOf`, which
// turns the roles a user holds into the permissions the auth guard checks (src/auth/permissions.ts).

/** What a route may need. `tenant:admin` is what only the admin (SuperUser) has: integrations, DDI settings. */
export type Permission =
  | 'users:read'
  | 'users:manage'
  | 'auditlog:read'
  | 'releases:read'
  | 'releases:upload'
  | 'releases:manage'
  | 'devices:read'
  | 'devices:manage'
  | 'devices:connect'
  | 'devices:configure'
  | 'deployments:read'
  | 'deployments:deploy'
  | 'tenant:admin';

export const PERMISSIONS: readonly Permission[] = [
  'users:read',
  'users:manage',
  'auditlog:read',
  'releases:read',
  'releases:upload',
  'releases:manage',
  'devices:read',
  'devices:manage',
  'devices:connect',
  'devices:configure',
  'deployments:read',
  'deployments:deploy',
  'tenant:admin',
];

export type ScopeType = 'DeviceGroups' | 'ReleaseTags';

export interface PermissionSetDefinition {
  name: string;
  description: string;
  grants: readonly Permission[];
  /** Scope types a role may narrow this set by; none: the set applies to the whole tenant. */
  scopeTypes: readonly ScopeType[];
}

const set = (
  name: string,
  description: string,
  grants: Permission[],
  scopeTypes: ScopeType[] = [],
): PermissionSetDefinition => ({ name, description, grants, scopeTypes });

/** Mender's permission sets; "Basic" (own account, settings and tokens) is what every user has anyway. */
export const PERMISSION_SETS: readonly PermissionSetDefinition[] = [
  set('Basic', 'Own user account, settings and personal access tokens.', []),
  set('SuperUser', 'Full access.', [...PERMISSIONS]),
  set('ReadUsers', 'List users and roles.', ['users:read']),
  set('ManageUsers', 'Create, change and remove users and roles.', ['users:read', 'users:manage']),
  set('ReadAuditLogs', 'Read the audit log.', ['auditlog:read']),
  set('ReadReleases', 'List and download releases and artifacts.', ['releases:read'], ['ReleaseTags']),
  set('UploadArtifacts', 'Upload artifacts.', ['releases:read', 'releases:upload']),
  set(
    'ManageReleases',
    'Edit releases, their tags and notes; remove artifacts.',
    ['releases:read', 'releases:manage'],
    ['ReleaseTags'],
  ),
  // Reading devices includes their deployments: Mender's read-only role sees deployment reports with it.
  set(
    'ReadDevices',
    'View devices, their inventory, state and deployments.',
    ['devices:read', 'deployments:read'],
    ['DeviceGroups'],
  ),
  set(
    'ManageDevices',
    'Accept, reject and remove devices; edit groups and tags.',
    ['devices:read', 'devices:manage'],
    ['DeviceGroups'],
  ),
  set(
    'ConnectToDevices',
    'Remote terminal, file transfer and port forwarding.',
    ['devices:read', 'devices:connect'],
    ['DeviceGroups'],
  ),
  set(
    'ConfigureDevices',
    'Set and deploy device configuration.',
    ['devices:read', 'devices:configure', 'deployments:read', 'deployments:deploy'],
    ['DeviceGroups'],
  ),
  set(
    'DeployToDevices',
    'Create and abort deployments.',
    ['devices:read', 'deployments:read', 'deployments:deploy'],
    ['DeviceGroups'],
  ),
];

export const permissionSetByName = new Map(PERMISSION_SETS.map((s) => [s.name, s]));

export interface ScopedPermissionSet {
  name: string;
  scope?: { type: ScopeType; value: string[] };
}

export interface RoleDefinition {
  name: string;
  description: string;
  permission_sets_with_scope: ScopedPermissionSet[];
}

export const ADMIN_ROLE = 'RBAC_ROLE_PERMIT_ALL';

/** Mender's 403 text for a request the caller's roles do not allow (seeds 001 and 003). */
export const RBAC_FORBIDDEN = 'forbidden for the current user by Role-based Access Control (RBAC) settings';

const builtIn = (name: string, description: string, sets: string[]): RoleDefinition => ({
  name,
  description,
  permission_sets_with_scope: sets.map((s) => ({ name: s })),
});

/** Mender's built-in roles (the GUI's staticRolesByName), with the permission sets Mender's GUI shows for them. */
export const BUILT_IN_ROLES: readonly RoleDefinition[] = [
  builtIn(ADMIN_ROLE, 'Full access', ['SuperUser']),
  builtIn('RBAC_ROLE_OBSERVER', 'Read access: devices, releases, deployments and users, no changes', [
    'ReadDevices',
    'ReadReleases',
    'ReadUsers',
  ]),
  builtIn('RBAC_ROLE_CI', 'Releases manager: upload, edit and remove artifacts and releases', [
    'ReadReleases',
    'UploadArtifacts',
    'ManageReleases',
  ]),
  builtIn('RBAC_ROLE_DEPLOYMENTS_MANAGER', 'Deployments manager: create and abort deployments to all devices', [
    'DeployToDevices',
    'ReadReleases',
  ]),
  builtIn('RBAC_ROLE_REMOTE_TERMINAL', 'Troubleshooting: remote terminal, file transfer, port forwarding', [
    'ConnectToDevices',
  ]),
];

export const builtInRoleByName = new Map(BUILT_IN_ROLES.map((r) => [r.name, r]));

/** Where a permission applies: everywhere in the tenant, or only in these device groups / release tags. */
export type Grant = 'all' | { groups: Set<string>; tags: Set<string> };

/** What a user may do: every permission their roles grant, with its scope. Permissions not in the map: none. */
export type Access = ReadonlyMap<Permission, Grant>;

/** The union of what the roles grant; an unscoped grant of a permission wins over scoped ones. */
export function accessOf(roles: readonly RoleDefinition[]): Access {
  const access = new Map<Permission, Grant>();
  for (const role of roles) {
    for (const { name, scope } of role.permission_sets_with_scope) {
      for (const permission of permissionSetByName.get(name)?.grants ?? []) {
        const current = access.get(permission);
        if (current === 'all') continue;
        if (!scope) {
          access.set(permission, 'all');
          continue;
        }
        const grant = current ?? { groups: new Set<string>(), tags: new Set<string>() };
        for (const value of scope.value) (scope.type === 'DeviceGroups' ? grant.groups : grant.tags).add(value);
        access.set(permission, grant);
      }
    }
  }
  return access;
}
