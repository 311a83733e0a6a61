// SQL of the audit logs: the one insert every audited change makes in its own transaction, filtered pages in
// (time, id) order for the list and keyset pages for the export, and the retention prune.
import { randomBytes } from 'node:crypto';
import type { ExpressionBuilder, Kysely, SelectQueryBuilder, Transaction } from 'kysely';
import type { Tables } from '../store/schema.js';
import type { AuditLogTable } from './tables.js';

type Db = Kysely<Tables> | Transaction<Tables>;

export interface AuditFilter {
  /** ISO times, both inclusive. */
  createdAfter?: string;
  createdBefore?: string;
  actorId?: string;
  actorType?: string;
  actorEmail?: string;
  objectId?: string;
  objectType?: string;
  objectDeploymentName?: string;
}

/** Where a keyset page starts: after this row in the chosen order. */
export interface AuditCursor {
  time: string;
  id: string;
}

/**
 * A UUIDv7 and its time: the id carries the millisecond and, in its 12 `rand_a` bits, the fraction of it (RFC 9562
 * §6.2 method 3, from the process's monotonic clock), so that entries written within one millisecond still list in
 * the order they were written — list and export order by (time, id).
 */
export function timeOrderedId(): { id: string; time: string } {
  const at = performance.timeOrigin + performance.now();
  const ms = Math.floor(at);
  const fraction = Math.min(4095, Math.floor((at - ms) * 4096));
  const bytes = randomBytes(16);
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | (fraction >> 8);
  bytes[7] = fraction & 0xff;
  bytes[8] = 0x80 | (bytes[8] & 0x3f);
  const hex = bytes.toString('hex');
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { id, time: new Date(ms).toISOString() };
}

export async function insertAuditLog(db: Db, row: Omit<AuditLogTable, 'id' | 'time'>): Promise<void> {
  await db
    .insertInto('audit_logs')
    .values({ ...row, ...timeOrderedId() })
    .execute();
}

/** The email of a user of the tenant (the actor's, shown by Mender beside the id); null once the user is gone. */
export async function userEmail(db: Db, tenantId: string, userId: string): Promise<string | null> {
  const row = await db
    .selectFrom('users')
    .select('email')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', userId)
    .executeTakeFirst();
  return row?.email ?? null;
}

export class AuditStore {
  constructor(
    private readonly db: Db,
    private readonly tenantId: string,
  ) {}

  private filtered(filter: AuditFilter): SelectQueryBuilder<Tables, 'audit_logs', object> {
    let query = this.db.selectFrom('audit_logs').where('tenant_id', '=', this.tenantId);
    if (filter.createdAfter !== undefined) query = query.where('time', '>=', filter.createdAfter);
    if (filter.createdBefore !== undefined) query = query.where('time', '<=', filter.createdBefore);
    if (filter.actorId !== undefined) query = query.where('actor_id', '=', filter.actorId);
    if (filter.actorType !== undefined) query = query.where('actor_type', '=', filter.actorType as never);
    if (filter.actorEmail !== undefined) query = query.where('actor_email', '=', filter.actorEmail);
    if (filter.objectId !== undefined) query = query.where('object_id', '=', filter.objectId);
    if (filter.objectType !== undefined) query = query.where('object_type', '=', filter.objectType as never);
    if (filter.objectDeploymentName !== undefined) {
      query = query.where('object_deployment_name', '=', filter.objectDeploymentName);
    }
    return query;
  }

  async page(
    filter: AuditFilter,
    ascending: boolean,
    offset: number,
    limit: number,
  ): Promise<{ rows: AuditLogTable[]; total: number }> {
    const dir = ascending ? 'asc' : 'desc';
    const rows = await this.filtered(filter)
      .selectAll()
      .orderBy('time', dir)
      .orderBy('id', dir)
      .offset(offset)
      .limit(limit)
      .execute();
    const count = await this.filtered(filter)
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirstOrThrow();
    return { rows, total: Number(count.n) };
  }

  /** One keyset page: the `limit` rows after `cursor` in (time, id) order; an index range, however deep. */
  keysetPage(
    filter: AuditFilter,
    ascending: boolean,
    cursor: AuditCursor | undefined,
    limit: number,
  ): Promise<AuditLogTable[]> {
    const dir = ascending ? 'asc' : 'desc';
    let query = this.filtered(filter);
    if (cursor) {
      query = query.where((eb: ExpressionBuilder<Tables, 'audit_logs'>) =>
        eb(eb.refTuple('time', 'id'), ascending ? '>' : '<', eb.tuple(cursor.time, cursor.id)),
      );
    }
    return query.selectAll().orderBy('time', dir).orderBy('id', dir).limit(limit).execute();
  }
}

/** Deletes up to `limit` entries (of any tenant) older than `cutoff`; returns how many went. */
export async function pruneAuditLogs(db: Db, cutoff: string, limit: number): Promise<number> {
  const result = await db
    .deleteFrom('audit_logs')
    .where('id', 'in', (eb) =>
      eb.selectFrom('audit_logs').select('id').where('time', '<', cutoff).orderBy('time').limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
