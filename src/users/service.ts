// Users and their login sessions (Mender's useradm). PATs live in access-tokens.ts and settings documents in
// settings.ts; both hang off UserService so that the wiring in src/services.ts stays one line. Token liveness is
// answered from memory in the steady state; logout, password changes, user removal and PAT revocation reach every
// process through the revocation feed (src/auth/revocations.ts).

import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { type AuditActor, recordAudit } from '../audit/service.js';
import { LivenessCache } from '../auth/liveness.js';
import type { CoreDeps } from '../core.js';
import { Conflict, Forbidden, NotFound, Unauthorized, Unprocessable } from '../errors.js';
import { now } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import { AccessTokenService, NEVER_EXPIRES } from './access-tokens.js';
import { hashPassword, verifyPassword } from './password.js';
import { type Access, ADMIN_ROLE, accessOf, RBAC_FORBIDDEN } from './permission-sets.js';
import { RoleService } from './roles.js';
import {
  checkNewUser,
  checkUserChange,
  MAX_SESSIONS_PER_USER,
  normalizeEmail,
  type UserChange,
  updateResemblesEmail,
} from './rules.js';
import { SettingsService } from './settings.js';
import {
  isUniqueViolation,
  TokenStore,
  type UserFilter,
  type UserRow,
  UserStore,
  userByEmailInAnyTenant,
} from './store.js';

export { MIN_PASSWORD_LENGTH } from './rules.js';

/** How stale a PAT's `last_used` may get before a request updates it (Mender's default, and the spec's accuracy). */
const LAST_USED_ACCURACY_MS = 5 * 60_000;

export interface User {
  id: string;
  email: string;
  created_ts: string;
  updated_ts: string;
  login_ts?: string;
  /** Role names (Mender Enterprise's `roles`; the GUI reads them to decide what to offer). */
  roles: string[];
}

/** Who is acting: the user and the token of the request, and what their roles let them do. */
export interface Caller {
  tenantId: string;
  userId: string;
  tokenId: string;
  access?: Access;
}

/** The email is taken (by a user of any tenant). The CLI and the first-admin bootstrap rely on the 409. */
export class DuplicateEmail extends Conflict {
  constructor() {
    super('user with a given email already exists');
  }
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    created_ts: row.created_ts,
    updated_ts: row.updated_ts,
    ...(row.login_ts ? { login_ts: row.login_ts } : {}),
    roles: JSON.parse(row.roles) as string[],
  };
}

/** What the auth guard needs of a live user token, and when a PAT's use was last written down. */
interface LiveUserToken {
  userId: string;
  pat: boolean;
  lastUsed: string | null;
  /** What the user's roles allow, read with the token; dropped from the cache when the roles change. */
  access: Access;
}

export class UserService {
  readonly accessTokens: AccessTokenService;
  readonly settings: SettingsService;
  readonly roles: RoleService;
  /** A hash to check passwords of unknown emails against, so that a login takes as long either way. */
  private decoyHash?: Promise<string>;
  private readonly liveTokens: LivenessCache<LiveUserToken>;

  constructor(private readonly deps: CoreDeps) {
    this.accessTokens = new AccessTokenService(deps);
    this.settings = new SettingsService(deps);
    this.roles = new RoleService(deps);
    this.liveTokens = new LivenessCache(deps.tokens.revocations, { token: 'user-token', owner: 'user' });
  }

  private users(tenantId: string): UserStore {
    return new UserStore(this.deps.store.db, tenantId);
  }

  /**
   * Creates a user; with an `actor`, the audit entry is written in the same transaction. Without `roles` the user
   * is an admin (RBAC_ROLE_PERMIT_ALL, as in Mender without RBAC); roles must name roles of the tenant.
   */
  async create(tenantId: string, email: string, password: string, actor?: AuditActor, roles?: string[]): Promise<User> {
    email = normalizeEmail(email);
    checkNewUser({ email, password });
    const db = this.deps.store.db;
    if (await userByEmailInAnyTenant(db, email)) throw new DuplicateEmail();
    const ts = now();
    const row = {
      id: randomUUID(),
      email,
      password_hash: await hashPassword(password),
      created_ts: ts,
      updated_ts: ts,
    };
    let assigned = [ADMIN_ROLE];
    try {
      await this.deps.store.transaction(async (trx) => {
        if (roles) assigned = await this.roles.checkAssignable(trx, tenantId, roles);
        await new UserStore(trx, tenantId).insert({ ...row, roles: JSON.stringify(assigned), login_ts: null });
        if (actor) {
          await recordAudit(trx, tenantId, {
            actor,
            action: 'create',
            object: { type: 'user', id: row.id, user: { email } },
            change: `roles: ${assigned.join(', ')}`,
          });
        }
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new DuplicateEmail();
      throw error;
    }
    return { id: row.id, email, created_ts: ts, updated_ts: ts, roles: assigned };
  }

  /**
   * A new user checked and its password hashed now, written later by the answer inside the caller's transaction:
   * a new tenant and its first admin are one transaction (src/tenants/operator.ts). The email's uniqueness is
   * checked now and again by the index at the write.
   */
  async prepare(
    email: string,
    password: string,
  ): Promise<(trx: Transaction<Tables>, tenantId: string) => Promise<User>> {
    email = normalizeEmail(email);
    checkNewUser({ email, password });
    if (await userByEmailInAnyTenant(this.deps.store.db, email)) throw new DuplicateEmail();
    const passwordHash = await hashPassword(password);
    return async (trx, tenantId) => {
      const ts = now();
      const id = randomUUID();
      try {
        await new UserStore(trx, tenantId).insert({
          id,
          email,
          password_hash: passwordHash,
          created_ts: ts,
          updated_ts: ts,
          roles: JSON.stringify([ADMIN_ROLE]),
          login_ts: null,
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw new DuplicateEmail();
        throw error;
      }
      return { id, email, created_ts: ts, updated_ts: ts, roles: [ADMIN_ROLE] };
    };
  }

  /** Checks the credentials and opens a login session; returns its JWT. */
  async login(email: string, password: string, options: { noExpiry?: boolean } = {}): Promise<string> {
    const { store, tokens, config } = this.deps;
    const user = email ? await userByEmailInAnyTenant(store.db, email) : undefined;
    if (!user) {
      this.decoyHash ??= hashPassword(randomUUID());
      await verifyPassword(password, await this.decoyHash);
      throw new Unauthorized('unauthorized');
    }
    if (!(await verifyPassword(password, user.password_hash))) throw new Unauthorized('unauthorized');
    const ts = now();
    const id = randomUUID();
    const expiresTs = options.noExpiry
      ? NEVER_EXPIRES
      : new Date(Date.now() + config.userTokenTtl * 1000).toISOString();
    await tokens.revocations.transaction(async (trx, revoke) => {
      const sessions = new TokenStore(trx, user.tenant_id, revoke);
      await sessions.removeExpired(user.id, ts);
      await sessions.insert({
        id,
        user_id: user.id,
        kind: 'login',
        name: null,
        created_ts: ts,
        expires_ts: expiresTs,
        last_used_ts: null,
      });
      await sessions.trimSessions(user.id, MAX_SESSIONS_PER_USER);
      await new UserStore(trx, user.tenant_id).update(user.id, { login_ts: ts });
    });
    return tokens.sign('user', user.tenant_id, user.id, new Date(expiresTs), id);
  }

  /** Revokes the token the caller used. */
  async logout(caller: Caller): Promise<void> {
    await this.deps.tokens.revocations.transaction((trx, revoke) =>
      new TokenStore(trx, caller.tenantId, revoke).remove(caller.userId, caller.tokenId),
    );
  }

  async list(tenantId: string, filter: UserFilter): Promise<User[]> {
    return (await this.users(tenantId).list(filter)).map(toUser);
  }

  async get(tenantId: string, id: string): Promise<User> {
    const row = await this.users(tenantId).byId(id);
    if (!row) throw new NotFound('user not found');
    return toUser(row);
  }

  /**
   * Changes a user's email and/or password, as Mender does: only the user may change their own password, and must
   * give the current one to change password or email. Every other token of that user is revoked afterwards; the
   * caller's own token stays. `v1` is the v1 body (email allowed; something must change).
   */
  async update(caller: Caller, id: string, change: UserChange, v1: boolean): Promise<void> {
    if (change.email !== undefined) change = { ...change, email: normalizeEmail(change.email) };
    checkUserChange(change, v1);
    const { store } = this.deps;
    const user = await this.users(caller.tenantId).byId(id);
    if (!user) throw new NotFound('user not found');
    const self = caller.userId === id;
    if (!self && change.password) throw new Unprocessable('password cannot be modified');
    // Roles are assigned by user managers only; anyone may reach their own record (users/me), not their own roles.
    if (change.roles !== undefined && !caller.access?.has('users:manage')) throw new Forbidden(RBAC_FORBIDDEN);
    if (self && (change.password || (change.email && change.email !== user.email))) {
      if (!(await verifyPassword(change.current_password ?? '', user.password_hash))) {
        throw new Unprocessable('current password mismatch');
      }
    }
    if (updateResemblesEmail(user.email, change)) throw new Unprocessable('password is too similar to the email');
    if (change.email && change.email !== user.email) {
      const owner = await userByEmailInAnyTenant(store.db, change.email);
      if (owner && owner.id !== id) throw new Unprocessable(new DuplicateEmail().message);
    }
    const passwordHash = change.password ? await hashPassword(change.password) : undefined;
    try {
      await this.deps.tokens.revocations.transaction(async (trx, revoke) => {
        const roles = change.roles && (await this.roles.checkAssignable(trx, caller.tenantId, change.roles));
        const updated = await new UserStore(trx, caller.tenantId).update(id, {
          updated_ts: now(),
          ...(change.email ? { email: change.email } : {}),
          ...(passwordHash ? { password_hash: passwordHash } : {}),
          ...(roles ? { roles: JSON.stringify(roles) } : {}),
        });
        if (updated === 0) throw new NotFound('user not found');
        // New credentials end the other sessions (as in Mender); new roles only void the cached access, so that
        // the user's tokens, PATs included, carry the new roles from their next request.
        if (change.email || change.password || !roles) {
          await new TokenStore(trx, caller.tenantId, revoke).removeAllOf(id, caller.tokenId);
        }
        if (roles) revoke({ kind: 'user', tenantId: caller.tenantId, id });
        const changed = [
          change.email && change.email !== user.email ? 'email' : '',
          change.password ? 'password' : '',
          roles ? `roles (${roles.join(', ')})` : '',
        ];
        await recordAudit(trx, caller.tenantId, {
          actor: caller,
          action: 'update',
          object: { type: 'user', id, user: { email: change.email ?? user.email } },
          change: `changed: ${changed.filter(Boolean).join(', ') || 'nothing'}`,
        });
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new Unprocessable(new DuplicateEmail().message);
      throw error;
    }
  }

  /** Removes a user; their tokens and settings go with them (foreign keys cascade). Unknown ids are no error. */
  async remove(tenantId: string, id: string, actor?: AuditActor): Promise<void> {
    await this.deps.tokens.revocations.transaction(async (trx, revoke) => {
      const removed = await new UserStore(trx, tenantId).byId(id);
      if (removed && actor) {
        // Before the delete: the actor may be removing themselves, and the entry names them by email.
        await recordAudit(trx, tenantId, {
          actor,
          action: 'delete',
          object: { type: 'user', id, user: { email: removed.email } },
        });
      }
      await new TokenStore(trx, tenantId, revoke).removeAllOf(id);
      await new UserStore(trx, tenantId, revoke).remove(id);
    });
  }

  /**
   * For the auth guard: the user behind a live (not revoked, not expired) token id and what their roles allow
   * (read now, or cached until a role change drops it). Notes when a PAT is used.
   */
  async tokenAlive(tenantId: string, tokenId: string): Promise<{ userId: string; access: Access } | undefined> {
    const tokens = new TokenStore(this.deps.store.db, tenantId);
    const t = Date.now();
    let live = this.liveTokens.get(tenantId, tokenId, t);
    if (!live) {
      const generation = this.liveTokens.generation();
      const row = await tokens.byId(tokenId);
      const expiresAt = row ? Date.parse(row.expires_ts) : 0;
      if (!row || expiresAt <= Date.now()) return undefined;
      const user = await this.users(tenantId).byId(row.user_id);
      if (!user) return undefined;
      const roles = await this.roles.definitions(this.deps.store.db, tenantId, JSON.parse(user.roles) as string[]);
      live = { userId: row.user_id, pat: row.kind === 'pat', lastUsed: row.last_used_ts, access: accessOf(roles) };
      this.liveTokens.set(generation, tenantId, tokenId, row.user_id, expiresAt, live);
    }
    if (live.pat) {
      const stale = new Date(t - LAST_USED_ACCURACY_MS).toISOString();
      if (!live.lastUsed || live.lastUsed < stale) {
        live.lastUsed = new Date(t).toISOString();
        await tokens.touch(tokenId, live.lastUsed);
      }
    }
    return { userId: live.userId, access: live.access };
  }
}
