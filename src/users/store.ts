// SQL for users and their tokens. Every query of UserStore and TokenStore is bound to one tenant at construction;
// the only cross-tenant questions (who owns an email, for login and for uniqueness) are the functions at the top.
// Every statement that deletes live tokens reports them through `revoke` (src/auth/revocations.ts).
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Revoke } from '../auth/revocations.js';
import type { Tables } from '../store/schema.js';
import type { UserTable, UserTokenTable } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

/** A user as read; `roles` is the JSON text of the role names. */
export type UserRow = Omit<UserTable, 'roles'> & { roles: string };
export type TokenRow = UserTokenTable;

/** True for a UNIQUE violation in either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True for a FOREIGN KEY violation in either dialect. */
export function isForeignKeyViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/** For stores that must not delete tokens: deleting one without telling the feed would leave it alive in caches. */
const notInRevocationTransaction: Revoke = () => {
  throw new Error('user tokens may only be deleted inside RevocationFeed.transaction');
};

const userColumns = [
  'tenant_id',
  'id',
  'email',
  'password_hash',
  'roles',
  'created_ts',
  'updated_ts',
  'login_ts',
] as const;

/** The user with this email in any tenant (emails are global): login finds its tenant this way. */
export async function userByEmailInAnyTenant(db: Db, email: string): Promise<UserRow | undefined> {
  return db
    .selectFrom('users')
    .select(userColumns)
    .where(sql<string>`lower(email)`, '=', email.toLowerCase())
    .executeTakeFirst();
}

export interface UserFilter {
  ids?: string[];
  emails?: string[];
  createdAfter?: string;
  createdBefore?: string;
  updatedAfter?: string;
  updatedBefore?: string;
}

export class UserStore {
  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
    private readonly revoke: Revoke = notInRevocationTransaction,
  ) {}

  async insert(user: Omit<UserRow, 'tenant_id'>): Promise<void> {
    await this.db
      .insertInto('users')
      .values({ ...user, tenant_id: this.tenantId })
      .execute();
  }

  async byId(id: string): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .select(userColumns)
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async list(filter: UserFilter): Promise<UserRow[]> {
    let query = this.db.selectFrom('users').select(userColumns).where('tenant_id', '=', this.tenantId);
    if (filter.ids) {
      if (filter.ids.length === 0) return [];
      query = query.where('id', 'in', filter.ids);
    }
    if (filter.emails) {
      if (filter.emails.length === 0) return [];
      query = query.where(
        sql<string>`lower(email)`,
        'in',
        filter.emails.map((e) => e.toLowerCase()),
      );
    }
    if (filter.createdAfter) query = query.where('created_ts', '>', filter.createdAfter);
    if (filter.createdBefore) query = query.where('created_ts', '<', filter.createdBefore);
    if (filter.updatedAfter) query = query.where('updated_ts', '>', filter.updatedAfter);
    if (filter.updatedBefore) query = query.where('updated_ts', '<', filter.updatedBefore);
    return query.orderBy('created_ts').orderBy('id').execute();
  }

  async update(
    id: string,
    change: Partial<Pick<UserRow, 'email' | 'password_hash' | 'updated_ts' | 'login_ts' | 'roles'>>,
  ) {
    const result = await this.db
      .updateTable('users')
      .set(change)
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Removes a user; their tokens go by the foreign key's cascade. */
  async remove(id: string): Promise<number> {
    this.revoke({ kind: 'user', tenantId: this.tenantId, id });
    const result = await this.db
      .deleteFrom('users')
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

export class TokenStore {
  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
    private readonly revoke: Revoke = notInRevocationTransaction,
  ) {}

  private revokeTokens(rows: { id: string }[]): void {
    for (const row of rows) this.revoke({ kind: 'user-token', tenantId: this.tenantId, id: row.id });
  }

  async insert(token: Omit<TokenRow, 'tenant_id' | 'parent_id'> & { parent_id?: string | null }): Promise<void> {
    await this.db
      .insertInto('user_tokens')
      .values({ ...token, tenant_id: this.tenantId })
      .execute();
  }

  async byId(id: string): Promise<TokenRow | undefined> {
    return this.db
      .selectFrom('user_tokens')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async touch(id: string, ts: string): Promise<void> {
    await this.db
      .updateTable('user_tokens')
      .set({ last_used_ts: ts })
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .execute();
  }

  /**
   * Revokes one token of one user and every PAT created with it, their children included; a token of someone else
   * stays. The family is read first: deleting the parent cascades to its children in the database, and every id
   * must still reach the revocation feed (callers run this in one transaction).
   */
  async remove(userId: string, id: string): Promise<number> {
    const { rows: family } = await sql<{ id: string }>`with recursive family(id) as (
        select id from user_tokens where tenant_id = ${this.tenantId} and user_id = ${userId} and id = ${id}
        union all
        select t.id from user_tokens t join family f on t.parent_id = f.id where t.tenant_id = ${this.tenantId}
      )
      select id from family`.execute(this.db);
    if (family.length === 0) return 0;
    await this.db
      .deleteFrom('user_tokens')
      .where('tenant_id', '=', this.tenantId)
      .where(
        'id',
        'in',
        family.map((t) => t.id),
      )
      .execute();
    this.revokeTokens(family);
    return family.length;
  }

  /** Revokes every token of a user, but the one given (the caller's own, when a user changes their password). */
  async removeAllOf(userId: string, exceptId?: string): Promise<void> {
    let query = this.db.deleteFrom('user_tokens').where('tenant_id', '=', this.tenantId).where('user_id', '=', userId);
    if (exceptId) query = query.where('id', '!=', exceptId);
    this.revokeTokens(await query.returning('id').execute());
  }

  /** Expired tokens: no cache honours them past their expiry, so there is nothing to revoke. */
  async removeExpired(userId: string, nowTs: string): Promise<void> {
    await this.db
      .deleteFrom('user_tokens')
      .where('tenant_id', '=', this.tenantId)
      .where('user_id', '=', userId)
      .where('expires_ts', '<=', nowTs)
      .execute();
  }

  /** Keeps the user's `keep` newest login sessions and revokes the older ones. */
  async trimSessions(userId: string, keep: number): Promise<void> {
    const older = await this.db
      .selectFrom('user_tokens')
      .select('id')
      .where('tenant_id', '=', this.tenantId)
      .where('user_id', '=', userId)
      .where('kind', '=', 'login')
      .orderBy('created_ts', 'desc')
      .orderBy('id', 'desc')
      .limit(1000)
      .offset(keep)
      .execute();
    if (older.length === 0) return;
    const revoked = await this.db
      .deleteFrom('user_tokens')
      .where('tenant_id', '=', this.tenantId)
      .where(
        'id',
        'in',
        older.map((t) => t.id),
      )
      .returning('id')
      .execute();
    this.revokeTokens(revoked);
  }

  async personalTokens(userId: string, nowTs: string): Promise<TokenRow[]> {
    return this.db
      .selectFrom('user_tokens')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('user_id', '=', userId)
      .where('kind', '=', 'pat')
      .where('expires_ts', '>', nowTs)
      .orderBy('created_ts')
      .orderBy('id')
      .execute();
  }

  async countPersonalTokens(userId: string, nowTs: string): Promise<number> {
    const row = await this.db
      .selectFrom('user_tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', this.tenantId)
      .where('user_id', '=', userId)
      .where('kind', '=', 'pat')
      .where('expires_ts', '>', nowTs)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
