// SQL for devices, auth sets and device tokens, bound to one tenant at construction. Every statement that deletes
// live tokens reports them through `revoke`, so that no process keeps honouring them (src/auth/revocations.ts).
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Revoke } from '../auth/revocations.js';
import { NotFound } from '../errors.js';
import { dialectOf } from '../store/migration.js';
import { runPrepared } from '../store/prepared.js';
import type { Tables } from '../store/schema.js';
import type { AuthSetStatus, AuthSetTable, DeviceStatus, DeviceTable } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface DeviceQuery {
  statuses?: DeviceStatus[];
  ids?: string[];
}

/** For stores that must not delete tokens: deleting one without telling the feed would leave it alive in caches. */
const notInRevocationTransaction: Revoke = () => {
  throw new Error('device tokens may only be deleted inside RevocationFeed.transaction');
};

export class DeviceStore {
  constructor(
    private readonly db: Db,
    readonly tenantId: string,
    private readonly revoke: Revoke = notInRevocationTransaction,
  ) {}

  private get postgres(): boolean {
    return dialectOf(this.db as unknown as Kysely<unknown>) === 'postgres';
  }

  private revokeTokens(rows: { id: string }[]): void {
    for (const row of rows) this.revoke({ kind: 'device-token', tenantId: this.tenantId, id: row.id });
  }

  /**
   * `forUpdate`: the device row stays locked until the transaction ends, so that decisions on one device (its auth
   * sets, its status) queue up instead of each reading what the other is about to change (PostgreSQL; SQLite has
   * one writer at a time, and its transactions here run one after another).
   */
  byId(id: string, forUpdate = false): Promise<DeviceTable | undefined> {
    const query = this.db.selectFrom('devices').selectAll().where('tenant_id', '=', this.tenantId).where('id', '=', id);
    return (forUpdate && this.postgres ? query.forUpdate() : query).executeTakeFirst();
  }

  byIdentityHash(hash: string, forUpdate = false): Promise<DeviceTable | undefined> {
    const query = this.db
      .selectFrom('devices')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('identity_hash', '=', hash);
    return (forUpdate && this.postgres ? query.forUpdate() : query).executeTakeFirst();
  }

  async insertDevice(row: Omit<DeviceTable, 'tenant_id' | 'check_in_ts'>): Promise<void> {
    await this.db
      .insertInto('devices')
      .values({ ...row, tenant_id: this.tenantId, check_in_ts: null })
      .execute();
  }

  async setDeviceStatus(id: string, status: DeviceStatus, updatedTs: string): Promise<void> {
    await this.db
      .updateTable('devices')
      .set({ status, updated_ts: updatedTs })
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .execute();
  }

  /** Deletes a device with its auth sets and tokens; its inventory rows go by their foreign keys' cascade. */
  async deleteDevice(id: string): Promise<void> {
    this.revoke({ kind: 'device', tenantId: this.tenantId, id });
    await this.db
      .deleteFrom('device_tokens')
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', id)
      .execute();
    await this.db.deleteFrom('auth_sets').where('tenant_id', '=', this.tenantId).where('device_id', '=', id).execute();
    await this.db.deleteFrom('devices').where('tenant_id', '=', this.tenantId).where('id', '=', id).execute();
  }

  private query(q: DeviceQuery) {
    let query = this.db.selectFrom('devices').where('tenant_id', '=', this.tenantId);
    if (q.statuses?.length) query = query.where('status', 'in', q.statuses);
    if (q.ids) query = q.ids.length ? query.where('id', 'in', q.ids) : query.where('id', '=', '');
    return query;
  }

  async list(q: DeviceQuery, page: { page: number; perPage: number }): Promise<DeviceTable[]> {
    return this.query(q)
      .selectAll()
      .orderBy('created_ts')
      .orderBy('id')
      .limit(page.perPage + 1)
      .offset((page.page - 1) * page.perPage)
      .execute();
  }

  async count(statuses?: DeviceStatus[]): Promise<number> {
    const row = await this.query({ statuses })
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  authSetsOf(deviceIds: string[]): Promise<AuthSetTable[]> {
    if (deviceIds.length === 0) return Promise.resolve([]);
    return this.db
      .selectFrom('auth_sets')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', 'in', deviceIds)
      .orderBy('created_ts')
      .orderBy('id')
      .execute();
  }

  authSet(deviceId: string, id: string): Promise<AuthSetTable | undefined> {
    return this.db
      .selectFrom('auth_sets')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  authSetByKey(deviceId: string, pubkey: string): Promise<AuthSetTable | undefined> {
    return this.db
      .selectFrom('auth_sets')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .where('pubkey', '=', pubkey)
      .executeTakeFirst();
  }

  async insertAuthSet(row: Omit<AuthSetTable, 'tenant_id'>): Promise<void> {
    await this.db
      .insertInto('auth_sets')
      .values({ ...row, tenant_id: this.tenantId })
      .execute();
  }

  /**
   * A move away from accepted revokes the device on every process: protocols that remember a device's standing
   * (Kanto's, src/protocols/kanto/standing.ts) forget it, as token caches forget its tokens.
   */
  async setAuthSetStatus(id: string, status: AuthSetStatus): Promise<void> {
    const set = await this.db
      .updateTable('auth_sets')
      .set({ status })
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .returning('device_id')
      .executeTakeFirst();
    if (set && status !== 'accepted') this.revoke({ kind: 'device', tenantId: this.tenantId, id: set.device_id });
  }

  async deleteAuthSet(id: string): Promise<void> {
    await this.revokeTokensOfAuthSet(id);
    const deleted = await this.db
      .deleteFrom('auth_sets')
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .returning('device_id')
      .executeTakeFirst();
    if (deleted) this.revoke({ kind: 'device', tenantId: this.tenantId, id: deleted.device_id });
  }

  /** Revokes every token issued for an auth set. */
  async revokeTokensOfAuthSet(authSetId: string): Promise<void> {
    const revoked = await this.db
      .deleteFrom('device_tokens')
      .where('tenant_id', '=', this.tenantId)
      .where('auth_set_id', '=', authSetId)
      .returning('id')
      .execute();
    this.revokeTokens(revoked);
  }

  async insertToken(row: {
    id: string;
    device_id: string;
    auth_set_id: string;
    created_ts: string;
    expires_ts: string;
  }) {
    await this.db
      .insertInto('device_tokens')
      .values({ ...row, tenant_id: this.tenantId })
      .execute();
  }

  /** A token of a device that still exists, for the auth guard (a device's first request to a process). */
  async tokenWithDevice(id: string): Promise<{ device_id: string; expires_ts: string } | undefined> {
    const { rows } = await runPrepared(
      this.db,
      'tokenWithDevice',
      (tenant, token) =>
        this.db
          .selectFrom('device_tokens as t')
          .innerJoin('devices as d', (join) =>
            join.onRef('d.id', '=', 't.device_id').onRef('d.tenant_id', '=', 't.tenant_id'),
          )
          .select(['t.device_id', 't.expires_ts'])
          .where('t.tenant_id', '=', tenant)
          .where('t.id', '=', token),
      [this.tenantId, id],
    );
    return rows[0] as { device_id: string; expires_ts: string } | undefined;
  }

  /** The stored check-in times of these devices (those that still exist). */
  checkInsOf(ids: string[]): Promise<{ id: string; check_in_ts: string | null }[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.db
      .selectFrom('devices')
      .select(['id', 'check_in_ts'])
      .where('tenant_id', '=', this.tenantId)
      .where('id', 'in', ids)
      .execute();
  }

  /** Moves the check-in time on from `previous`; false when someone else moved it first (or the device is gone). */
  async touchCheckIn(deviceId: string, previous: string | null, ts: string): Promise<boolean> {
    const result = await this.db
      .updateTable('devices')
      .set({ check_in_ts: ts })
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', deviceId)
      .where((eb) => (previous === null ? eb('check_in_ts', 'is', null) : eb('check_in_ts', '=', previous)))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Moves the check-in times of these devices forward, in one statement. Never back: a time is written only over an
   * earlier one, so processes writing the same device in any order leave the latest (a monotonic max). Times are
   * RFC 3339 texts of one format (`toISOString`), which compare as they sort; collation "C" keeps PostgreSQL's
   * comparison bytewise. Answers how many rows moved.
   */
  async advanceCheckIns(rows: readonly { id: string; ts: string }[]): Promise<number> {
    if (rows.length === 0) return 0;
    const values = sql.join(rows.map((r) => sql`(${r.id}, ${r.ts})`));
    const later = this.postgres
      ? sql`"devices"."check_in_ts" collate "C" < "v"."ts"`
      : sql`"devices"."check_in_ts" < "v"."ts"`;
    const result = await sql`with "v" ("id", "ts") as (values ${values})
      update "devices" set "check_in_ts" = "v"."ts" from "v"
      where "devices"."tenant_id" = ${this.tenantId} and "devices"."id" = "v"."id"
        and ("devices"."check_in_ts" is null or ${later})`.execute(this.db);
    return Number(result.numAffectedRows ?? 0);
  }

  /** Expired tokens: no cache honours them past their expiry, so there is nothing to revoke. */
  async deleteExpiredTokens(deviceId: string, ts: string): Promise<void> {
    await this.db
      .deleteFrom('device_tokens')
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .where('expires_ts', '<=', ts)
      .execute();
  }

  /** Deletes a token; answers the device it was for, or undefined when there was no such token. */
  async deleteToken(id: string): Promise<string | undefined> {
    const revoked = await this.db
      .deleteFrom('device_tokens')
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .returning(['id', 'device_id'])
      .execute();
    this.revokeTokens(revoked);
    return revoked[0]?.device_id;
  }

  /**
   * Devices with an accepted auth set: what counts against the tenant's device limit. On PostgreSQL a
   * transaction-scoped advisory lock per tenant comes first, so that two acceptances at once (different devices,
   * each row locked on its own) cannot both read the count below the limit; SQLite runs one writer at a time.
   */
  async acceptedCountForLimit(): Promise<number> {
    if (this.postgres) {
      await sql`select pg_advisory_xact_lock(hashtextextended(${`device-limit:${this.tenantId}`}, 0))`.execute(this.db);
    }
    return this.count(['accepted']);
  }
}

/** A unique index refused a row: two requests raced to create the same device or auth set. */
/**
 * For other domains that act on a device by id (configuration, monitoring, deployments): the device exists in the
 * tenant, or a 404. Inside the caller's transaction when it passes one.
 */
export async function requireDevice(db: Kysely<Tables>, tenantId: string, deviceId: string): Promise<void> {
  const device = await db
    .selectFrom('devices')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', deviceId)
    .executeTakeFirst();
  if (!device) throw new NotFound('device not found');
}

export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
