// Personal access tokens: long-lived user JWTs whose user_tokens row has kind `pat` and a name unique per user.
// Mender's limits apply: ten live tokens per user, a lifetime of at most one year (0 = never expires). A PAT made
// with a PAT (Mender's useradm allows it) is that PAT's child: it expires no later and is revoked with it, so a
// leaked PAT cannot mint itself a successor that outlives its revocation.
import { randomUUID } from 'node:crypto';
import { recordAudit } from '../audit/service.js';
import type { CoreDeps } from '../core.js';
import { Conflict, Unauthorized, Unprocessable } from '../errors.js';
import { now } from '../store/db.js';
import { checkTokenRequest, MAX_TOKENS_PER_USER, type TokenRequest } from './rules.js';
import { isForeignKeyViolation, isUniqueViolation, TokenStore } from './store.js';

/** Expiry written for tokens that never expire; the wire shows no expiration date for them. */
export const NEVER_EXPIRES = '9999-12-31T23:59:59.000Z';

/** A PAT as listed: never its secret. */
export interface PersonalAccessToken {
  id: string;
  name: string;
  last_used?: string;
  expiration_date?: string;
  created_ts: string;
}

export interface TokenOwner {
  tenantId: string;
  userId: string;
  /** The token the request came with (for `issue`: a PAT becomes the parent of the new one). */
  tokenId?: string;
}

export class AccessTokenService {
  constructor(private readonly deps: CoreDeps) {}

  /** Creates a PAT for the owner and returns its JWT: the only time the secret is shown. */
  async issue(owner: TokenOwner, request: TokenRequest): Promise<string> {
    checkTokenRequest(request);
    const expiresIn = request.expires_in ?? 0;
    const ts = now();
    const id = randomUUID();
    let expiresTs = expiresIn > 0 ? new Date(Date.parse(ts) + expiresIn * 1000).toISOString() : NEVER_EXPIRES;
    try {
      await this.deps.store.transaction(async (trx) => {
        const tokens = new TokenStore(trx, owner.tenantId);
        const caller = owner.tokenId ? await tokens.byId(owner.tokenId) : undefined;
        // The caller's token row goes with its revocation; a request that raced it must not leave a child behind
        // (the foreign key refuses the insert then; the guard answered 401 to anything later).
        const parent = caller?.kind === 'pat' ? caller : undefined;
        if (parent && parent.expires_ts < expiresTs) expiresTs = parent.expires_ts;
        // Expired tokens neither count against the limit nor hold on to their names.
        await tokens.removeExpired(owner.userId, ts);
        if ((await tokens.countPersonalTokens(owner.userId, ts)) >= MAX_TOKENS_PER_USER) {
          throw new Unprocessable('maximum number of personal acess tokens reached for this user');
        }
        await tokens.insert({
          id,
          user_id: owner.userId,
          kind: 'pat',
          name: request.name as string,
          created_ts: ts,
          expires_ts: expiresTs,
          last_used_ts: null,
          parent_id: parent?.id ?? null,
        });
        await recordAudit(trx, owner.tenantId, {
          actor: owner,
          action: 'create',
          object: { type: 'personal_access_token', id },
          change: `personal access token "${request.name}" created`,
        });
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new Conflict('Personal Access Token with a given name already exists');
      // The parent PAT was revoked between the guard's check and the insert.
      if (isForeignKeyViolation(error)) throw new Unauthorized('the token used for this request was revoked');
      throw error;
    }
    return this.deps.tokens.sign('user', owner.tenantId, owner.userId, new Date(expiresTs), id);
  }

  async list(owner: TokenOwner): Promise<PersonalAccessToken[]> {
    const rows = await new TokenStore(this.deps.store.db, owner.tenantId).personalTokens(owner.userId, now());
    return rows.map((row) => ({
      id: row.id,
      name: row.name ?? '',
      ...(row.last_used_ts ? { last_used: row.last_used_ts } : {}),
      ...(row.expires_ts !== NEVER_EXPIRES ? { expiration_date: row.expires_ts } : {}),
      created_ts: row.created_ts,
    }));
  }

  /** Revokes one of the owner's tokens; an unknown id, or someone else's token, is silently left alone. */
  async revoke(owner: TokenOwner, id: string): Promise<void> {
    await this.deps.tokens.revocations.transaction(async (trx, revoke) => {
      const removed = await new TokenStore(trx, owner.tenantId, revoke).remove(owner.userId, id);
      if (removed > 0) {
        await recordAudit(trx, owner.tenantId, {
          actor: owner,
          action: 'revoke',
          object: { type: 'personal_access_token', id },
        });
      }
    });
  }
}
