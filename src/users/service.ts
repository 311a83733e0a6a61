// Users, login sessions and personal access tokens (Mender's useradm).
import { randomUUID } from 'node:crypto';
import { Conflict, Invalid } from '../errors.js';
import type { CoreDeps } from '../services.js';
import { now } from '../store/db.js';
import { hashPassword } from './password.js';

export const MIN_PASSWORD_LENGTH = 8;

export interface User {
  id: string;
  email: string;
  created_ts: string;
  updated_ts: string;
  login_ts?: string;
}

export class UserService {
  constructor(private readonly deps: CoreDeps) {}

  async create(tenantId: string, email: string, password: string): Promise<User> {
    if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw new Invalid('invalid email address');
    if (password.length < MIN_PASSWORD_LENGTH) {
      throw new Invalid(`password must be at least ${MIN_PASSWORD_LENGTH} characters long`);
    }
    const db = this.deps.store.db;
    const taken = await db
      .selectFrom('users')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('email', '=', email.toLowerCase())
      .executeTakeFirst();
    if (taken) throw new Conflict('user with the same email already exists');
    const ts = now();
    const user = { id: randomUUID(), email: email.toLowerCase(), created_ts: ts, updated_ts: ts };
    await db
      .insertInto('users')
      .values({ ...user, tenant_id: tenantId, password_hash: await hashPassword(password), login_ts: null })
      .execute();
    return user;
  }

  /** For the auth guard: the user behind a live (not revoked, not expired) token id. */
  async tokenAlive(tenantId: string, tokenId: string): Promise<{ userId: string } | undefined> {
    const row = await this.deps.store.db
      .selectFrom('user_tokens')
      .select(['user_id', 'expires_ts'])
      .where('tenant_id', '=', tenantId)
      .where('id', '=', tokenId)
      .executeTakeFirst();
    if (!row || row.expires_ts <= now()) return undefined;
    return { userId: row.user_id };
  }
}
