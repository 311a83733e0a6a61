// SQL for custom roles and for who holds a role (users.roles is a JSON array of role names). Bound to one tenant.
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from '../store/schema.js';
import type { RoleTable } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export type RoleRow = Omit<RoleTable, 'tenant_id'>;

export class RoleStore {
  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
  ) {}

  async list(): Promise<RoleRow[]> {
    return this.db
      .selectFrom('roles')
      .select(['name', 'description', 'permission_sets', 'created_ts', 'updated_ts'])
      .where('tenant_id', '=', this.tenantId)
      .orderBy('name')
      .execute();
  }

  async byNames(names: readonly string[]): Promise<RoleRow[]> {
    if (names.length === 0) return [];
    return this.db
      .selectFrom('roles')
      .select(['name', 'description', 'permission_sets', 'created_ts', 'updated_ts'])
      .where('tenant_id', '=', this.tenantId)
      .where('name', 'in', [...names])
      .execute();
  }

  async insert(row: RoleRow): Promise<void> {
    await this.db
      .insertInto('roles')
      .values({ ...row, tenant_id: this.tenantId })
      .execute();
  }

  async update(name: string, change: Pick<RoleRow, 'description' | 'permission_sets' | 'updated_ts'>) {
    const result = await this.db
      .updateTable('roles')
      .set(change)
      .where('tenant_id', '=', this.tenantId)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async remove(name: string): Promise<number> {
    const result = await this.db
      .deleteFrom('roles')
      .where('tenant_id', '=', this.tenantId)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** The users holding a role, with all their role names. A tenant has few users: the JSON is read here. */
  async holders(name: string): Promise<{ id: string; roles: string[] }[]> {
    const users = await this.db
      .selectFrom('users')
      .select(['id', 'roles'])
      .where('tenant_id', '=', this.tenantId)
      .execute();
    return users
      .map((u) => ({ id: u.id, roles: JSON.parse(u.roles) as string[] }))
      .filter((u) => u.roles.includes(name));
  }

  async setUserRoles(userId: string, roles: readonly string[]): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ roles: JSON.stringify(roles) })
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', userId)
      .execute();
  }
}
