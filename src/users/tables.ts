import type { Generated } from 'kysely';

export interface UserTable {
  tenant_id: string;
  id: string;
  email: string;
  /** scrypt$N$r$p$salt$hash, all base64url. */
  password_hash: string;
  /** JSON array of role names. */
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
}

declare module '../store/schema.js' {
  interface Tables {
    users: UserTable;
    user_tokens: UserTokenTable;
  }
}
