// Deployment creation made safe to retry: a client that lost the answer to a create (a timeout, a dropped
// connection) sends the request again with the same `Idempotency-Key` header (IETF draft-ietf-httpapi-idempotency-
// key-header) and gets the deployment the first request made, not a second one. A key rather than "same name,
// artifact and devices within a window": Mender lets an operator deploy one artifact to the same devices twice on
// purpose, so only the client can say that two requests are one. Keys live 24 hours, per tenant.
import { createHash } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { UserPrincipal } from '../auth/principal.js';
import { Invalid, Unprocessable } from '../errors.js';
import { isUniqueViolation } from '../store/constraints.js';
import { now, type Store } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import type { DeploymentService, DeploymentTargetInput, NewDeployment } from './service.js';

export const IDEMPOTENCY_KEY_TTL_MS = 24 * 60 * 60 * 1000;

/** Printable ASCII, as the draft's examples; long enough for a UUID or a client's own scheme. */
const KEY = /^[\x21-\x7e]{1,255}$/;

export class IdempotentCreation {
  constructor(
    private readonly store: Store,
    private readonly deployments: Pick<DeploymentService, 'create'>,
  ) {}

  /** Creates the deployment, or answers the one an earlier request with this key made; no key: always creates. */
  async create(
    tenantId: string,
    key: string | undefined,
    body: NewDeployment,
    target: DeploymentTargetInput,
    actor?: UserPrincipal,
  ): Promise<string> {
    if (key === undefined) return this.deployments.create(tenantId, body, target, actor);
    if (!KEY.test(key)) throw new Invalid('Idempotency-Key: 1 to 255 printable ASCII characters');
    const hash = createHash('sha256')
      .update(JSON.stringify([target, body]))
      .digest('hex');
    const earlier = await this.earlier(tenantId, key, hash);
    if (earlier) return earlier;
    try {
      return await this.deployments.create(tenantId, body, target, actor, (trx, id) =>
        this.claim(trx, tenantId, key, hash, id),
      );
    } catch (error) {
      // A request with the same key committed first (the claim waited for it): answer what it made.
      if (!isUniqueViolation(error)) throw error;
      const winner = await this.earlier(tenantId, key, hash);
      if (!winner) throw error;
      return winner;
    }
  }

  /** The deployment an unexpired earlier request with `key` made; a different request under the key is refused. */
  private async earlier(tenantId: string, key: string, hash: string): Promise<string | undefined> {
    const row = await this.store.db
      .selectFrom('deployment_requests')
      .select(['request_hash', 'deployment_id'])
      .where('tenant_id', '=', tenantId)
      .where('idempotency_key', '=', key)
      .where('created_ts', '>', cutoff())
      .executeTakeFirst();
    if (!row) return undefined;
    if (row.request_hash !== hash) {
      throw new Unprocessable('Idempotency-Key was already used for a different deployment request');
    }
    return row.deployment_id;
  }

  /** Records the key with the deployment, in its transaction; an expired row under the key gives way. */
  private async claim(trx: Transaction<Tables>, tenantId: string, key: string, hash: string, id: string) {
    await trx
      .deleteFrom('deployment_requests')
      .where('tenant_id', '=', tenantId)
      .where('idempotency_key', '=', key)
      .where('created_ts', '<=', cutoff())
      .execute();
    await trx
      .insertInto('deployment_requests')
      .values({ tenant_id: tenantId, idempotency_key: key, request_hash: hash, deployment_id: id, created_ts: now() })
      .execute();
  }
}

function cutoff(): string {
  return new Date(Date.now() - IDEMPOTENCY_KEY_TTL_MS).toISOString();
}
