// Users, their tokens (login sessions and PATs) and settings documents.
import type { Generated } from 'kysely';

export interface UserTable {
  tenant_id: string;
  id: string;
  /** Kept in lower case; unique across all tenants. */
  email: string;
  /** scrypt$N$r$p$salt$hash, all base64url. */
  password_hash: string;
  /** JSON array of role names (built-in or of `roles`); read at every request through the token cache. */
  roles: Generated<string>;
  created_ts: string;
  updated_ts: string;
  login_ts: string | null;
}

/** A user's login session or personal access token; the JWT's `jti` is the row id. Deleting the row revokes it. */
export interface UserTokenTable {
  tenant_id: string;
  id: string;
  user_id: string;
  kind: 'login' | 'pat';
  /** The PAT's name; null for login sessions. */
  name: string | null;
  created_ts: string;
  expires_ts: string;
  last_used_ts: string | null;
  /** The PAT whose holder created this PAT; it dies with that one and never outlives its expiry. */
  parent_id: string | null;
}

/** A settings document (useradm `settings` or `settings/me`): the JSON text as stored, and its ETag. */
export interface SettingsColumns {
  tenant_id: string;
  /** A fresh UUID on every write; compared with If-Match. */
  etag: string;
  /** The JSON object as text. */
  document: string;
  updated_ts: string;
}

export type TenantSettingsTable = SettingsColumns;

export interface UserSettingsTable extends SettingsColumns {
  user_id: string;
}

/** A custom role of a tenant (built-in roles live in code, permission-sets.ts). */
export interface RoleTable {
  tenant_id: string;
  name: string;
  description: string;
  /** JSON array of {name, scope?: {type, value}}: Mender's permission_sets_with_scope. */
  permission_sets: string;
  created_ts: string;
  updated_ts: string;
}

declare module '../store/schema.js' {
  interface Tables {
    roles: RoleTable;
    users: UserTable;
    user_tokens: UserTokenTable;
    tenant_settings: TenantSettingsTable;
    user_settings: UserSettingsTable;
  }
}
