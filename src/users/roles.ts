// Roles of a tenant as Mender's useradm (Enterprise) has them: the built-in ones (permission-sets.ts) and custom
// roles made of permission sets, each optionally scoped to device groups or release tags. Changes are audited in
// their transaction; a change that alters what users may do drops their cached access on every process through
// the revocation feed (a `user` entry: only caches forget, the tokens stay valid), so a role change applies within
// the feed's bound (src/auth/revocations.ts, 2 s; at once on this process).
import type { Transaction } from 'kysely';
import { recordAudit } from '../audit/service.js';
import type { Revoke } from '../auth/revocations.js';
import type { CoreDeps } from '../core.js';
import { Conflict, Invalid, NotFound } from '../errors.js';
import { now } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import {
  BUILT_IN_ROLES,
  builtInRoleByName,
  permissionSetByName,
  type RoleDefinition,
  type ScopedPermissionSet,
} from './permission-sets.js';
import { type RoleRow, RoleStore } from './role-store.js';
import type { Caller } from './service.js';
import { isUniqueViolation } from './store.js';

const ROLE_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$/;
const MAX_DESCRIPTION = 1024;
const MAX_SCOPE_VALUES = 100;

/** A role as a client sends it (v1 or v2 body). */
export interface RoleInput {
  name?: string;
  description?: string;
  permission_sets_with_scope?: { name: string; scope?: { type: string; value: string[] } }[];
  /** Mender's older raw permissions (action + object); Flotilla takes only permission sets. */
  permissions?: unknown[];
}

/** Validates a role body; `name` is the path's name on update. Pure: the rules of a role's shape. */
export function checkRole(input: RoleInput, name = input.name): RoleDefinition {
  if (!name || !ROLE_NAME.test(name)) {
    throw new Invalid(
      'name: must be 1 to 100 letters, digits, spaces, "_", "." or "-", starting with a letter or digit',
    );
  }
  if (input.name !== undefined && input.name !== name) throw new Invalid('name: a role cannot be renamed');
  if (input.permissions && input.permissions.length > 0) {
    throw new Invalid('permissions: not supported, give permission_sets_with_scope');
  }
  const description = input.description ?? '';
  if (description.length > MAX_DESCRIPTION) throw new Invalid(`description: at most ${MAX_DESCRIPTION} characters`);
  const sets: ScopedPermissionSet[] = [];
  for (const entry of input.permission_sets_with_scope ?? []) {
    const definition = permissionSetByName.get(entry.name);
    if (!definition) throw new Invalid(`permission_sets_with_scope: unknown permission set: ${entry.name}`);
    if (!entry.scope) {
      sets.push({ name: entry.name });
      continue;
    }
    const { type, value } = entry.scope;
    if (!definition.scopeTypes.includes(type as never)) {
      throw new Invalid(`permission_sets_with_scope: ${entry.name} cannot be scoped by ${type}`);
    }
    // Release tags are kept in lower case (src/artifacts), so a tag scope is too.
    const values = [...new Set(type === 'ReleaseTags' ? value.map((v) => v.toLowerCase()) : value)];
    if (values.length === 0 || values.length > MAX_SCOPE_VALUES || values.some((v) => v.trim() === '')) {
      throw new Invalid(`permission_sets_with_scope: a scope has 1 to ${MAX_SCOPE_VALUES} non-empty values`);
    }
    sets.push({ name: entry.name, scope: { type: type as 'DeviceGroups' | 'ReleaseTags', value: values } });
  }
  return { name, description, permission_sets_with_scope: sets };
}

function toRole(row: RoleRow): RoleDefinition {
  return {
    name: row.name,
    description: row.description,
    permission_sets_with_scope: JSON.parse(row.permission_sets) as ScopedPermissionSet[],
  };
}

export class RoleService {
  constructor(private readonly deps: CoreDeps) {}

  /** Built-in roles first, then the tenant's own by name. */
  async list(tenantId: string): Promise<RoleDefinition[]> {
    const custom = await new RoleStore(this.deps.store.db, tenantId).list();
    return [...BUILT_IN_ROLES, ...custom.map(toRole)];
  }

  async get(tenantId: string, name: string): Promise<RoleDefinition> {
    const role = (await this.definitions(this.deps.store.db, tenantId, [name]))[0];
    if (!role) throw new NotFound('role not found');
    return role;
  }

  /** The definitions of the named roles that exist (unknown names are left out). */
  async definitions(
    db: CoreDeps['store']['db'] | Transaction<Tables>,
    tenantId: string,
    names: readonly string[],
  ): Promise<RoleDefinition[]> {
    const builtIn = names.flatMap((n) => builtInRoleByName.get(n) ?? []);
    const custom = await new RoleStore(db, tenantId).byNames(names.filter((n) => !builtInRoleByName.has(n)));
    return [...builtIn, ...custom.map(toRole)];
  }

  /** Refuses role names that name no role of the tenant (a user's roles on create or update). */
  async checkAssignable(trx: Transaction<Tables>, tenantId: string, names: readonly string[]): Promise<string[]> {
    const unique = [...new Set(names)];
    const known = new Set((await this.definitions(trx, tenantId, unique)).map((r) => r.name));
    const unknown = unique.filter((n) => !known.has(n));
    if (unknown.length > 0) throw new Invalid(`roles: no such role: ${unknown.join(', ')}`);
    return unique;
  }

  async create(caller: Caller, input: RoleInput): Promise<RoleDefinition> {
    const role = checkRole(input);
    const ts = now();
    const duplicate = () => new Conflict('role already exists');
    await this.deps.store
      .transaction(async (trx) => {
        const roles = new RoleStore(trx, caller.tenantId);
        if (builtInRoleByName.has(role.name) || (await roles.byNames([role.name])).length > 0) throw duplicate();
        await roles.insert({
          name: role.name,
          description: role.description,
          permission_sets: JSON.stringify(role.permission_sets_with_scope),
          created_ts: ts,
          updated_ts: ts,
        });
        await this.audit(trx, caller, 'create', role);
      })
      .catch((error: unknown) => {
        // Two creations of one name at once: the primary key decides.
        throw isUniqueViolation(error) ? duplicate() : error;
      });
    return role;
  }

  async update(caller: Caller, name: string, input: RoleInput): Promise<RoleDefinition> {
    if (builtInRoleByName.has(name)) throw new Invalid('built-in roles cannot be changed');
    const role = checkRole(input, name);
    await this.deps.tokens.revocations.transaction(async (trx, revoke) => {
      const roles = new RoleStore(trx, caller.tenantId);
      const updated = await roles.update(name, {
        description: role.description,
        permission_sets: JSON.stringify(role.permission_sets_with_scope),
        updated_ts: now(),
      });
      if (updated === 0) throw new NotFound('role not found');
      await this.forgetAccessOfHolders(roles, caller.tenantId, name, revoke);
      await this.audit(trx, caller, 'update', role);
    });
    return role;
  }

  /** Removes a custom role and takes it from every user holding it. An unknown name is no error (Mender: 204). */
  async remove(caller: Caller, name: string): Promise<void> {
    if (builtInRoleByName.has(name)) throw new Invalid('built-in roles cannot be removed');
    await this.deps.tokens.revocations.transaction(async (trx, revoke) => {
      const roles = new RoleStore(trx, caller.tenantId);
      const [row] = await roles.byNames([name]);
      if (!row) return;
      for (const holder of await this.forgetAccessOfHolders(roles, caller.tenantId, name, revoke)) {
        await roles.setUserRoles(
          holder.id,
          holder.roles.filter((r) => r !== name),
        );
      }
      await roles.remove(name);
      await this.audit(trx, caller, 'delete', toRole(row));
    });
  }

  private async forgetAccessOfHolders(roles: RoleStore, tenantId: string, name: string, revoke: Revoke) {
    const holders = await roles.holders(name);
    for (const holder of holders) revoke({ kind: 'user', tenantId, id: holder.id });
    return holders;
  }

  private async audit(
    trx: Transaction<Tables>,
    caller: Caller,
    action: 'create' | 'update' | 'delete',
    role: RoleDefinition,
  ) {
    await recordAudit(trx, caller.tenantId, {
      actor: caller,
      action,
      object: { type: 'role', id: role.name },
      ...(action === 'delete' ? {} : { change: JSON.stringify(role.permission_sets_with_scope) }),
    });
  }
}
