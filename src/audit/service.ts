// Audit logs: what every audited change writes (`recordAudit`, in the caller's transaction), the list with
// Mender's filters, sort and paging, the CSV export read in keyset pages, and the retention prune.
import type { Transaction } from 'kysely';
import type { CoreDeps } from '../core.js';
import type { Tables } from '../store/schema.js';
import { type AuditCursor, type AuditFilter, AuditStore, insertAuditLog, pruneAuditLogs, userEmail } from './store.js';
import type { AuditLogTable, AuditObjectType } from './tables.js';

/** Mender's action vocabulary (@northern.tech/types), plus `revoke` for personal access tokens. */
export type AuditAction =
  | 'create'
  | 'update'
  | 'delete'
  | 'abort'
  | 'reject'
  | 'accept'
  | 'decommission'
  | 'revoke'
  | 'open_terminal'
  | 'close_terminal'
  | 'open_portforward'
  | 'download_file'
  | 'upload_file'
  | 'set_configuration'
  | 'deploy_configuration'
  | 'upload';

export interface AuditObject {
  type: AuditObjectType;
  id: string;
  user?: { email: string };
  deployment?: { name: string; artifact_name: string };
  artifact?: { name: string };
  device?: { id?: string; identity_data: string };
}

/** Who acted: a user, and the token (login session or personal access token) the request came with. */
export interface AuditActor {
  userId: string;
  tokenId?: string;
}

export interface AuditEntry {
  /** The user (by login session or personal access token) who made the change. */
  actor: AuditActor;
  action: AuditAction;
  object: AuditObject;
  change?: string;
  meta?: Record<string, string[]>;
}

/** The entry as Mender's API shows it. */
export interface AuditLogView {
  actor: { id: string; type: string; email?: string };
  time: string;
  action: string;
  object: AuditObject;
  change?: string;
  meta?: Record<string, string[]>;
}

/**
 * Writes one audit entry in `trx`, the transaction of the change it records: both commit or neither does. The
 * actor's email is read in the same transaction (before a removal, it is still there).
 */
export async function recordAudit(trx: Transaction<Tables>, tenantId: string, entry: AuditEntry): Promise<void> {
  const { type, id, ...descriptors } = entry.object;
  await insertAuditLog(trx, {
    tenant_id: tenantId,
    actor_type: 'user',
    actor_id: entry.actor.userId,
    actor_email: await userEmail(trx, tenantId, entry.actor.userId),
    actor_token_id: entry.actor.tokenId ?? null,
    action: entry.action,
    object_type: type,
    object_id: id,
    object_deployment_name: descriptors.deployment?.name ?? null,
    object_json: Object.keys(descriptors).length > 0 ? JSON.stringify(descriptors) : null,
    change: entry.change ?? null,
    meta_json: entry.meta ? JSON.stringify(entry.meta) : null,
  });
}

export function viewOf(row: AuditLogTable): AuditLogView {
  const view: AuditLogView = {
    actor: { id: row.actor_id, type: row.actor_type, ...(row.actor_email ? { email: row.actor_email } : {}) },
    time: row.time,
    action: row.action,
    object: { type: row.object_type, id: row.object_id, ...(row.object_json ? JSON.parse(row.object_json) : {}) },
  };
  if (row.change !== null) view.change = row.change;
  if (row.meta_json !== null) view.meta = JSON.parse(row.meta_json);
  return view;
}

/** Rows the export reads per query: memory stays one page, whatever the export's size. */
export const EXPORT_PAGE = 1000;

export class AuditService {
  constructor(private readonly deps: CoreDeps) {}

  private store(tenantId: string): AuditStore {
    return new AuditStore(this.deps.store.db, tenantId);
  }

  async list(
    tenantId: string,
    filter: AuditFilter,
    ascending: boolean,
    paging: { page: number; perPage: number },
  ): Promise<{ logs: AuditLogView[]; total: number }> {
    const { rows, total } = await this.store(tenantId).page(
      filter,
      ascending,
      (paging.page - 1) * paging.perPage,
      paging.perPage,
    );
    return { logs: rows.map(viewOf), total };
  }

  /** Every matching entry (at most `limit`), read page by page as the consumer asks for more. */
  async *entries(tenantId: string, filter: AuditFilter, ascending: boolean, limit?: number) {
    const store = this.store(tenantId);
    let cursor: AuditCursor | undefined;
    let left = limit ?? Number.POSITIVE_INFINITY;
    while (left > 0) {
      const rows = await store.keysetPage(filter, ascending, cursor, Math.min(EXPORT_PAGE, left));
      for (const row of rows) yield row;
      if (rows.length < Math.min(EXPORT_PAGE, left)) return;
      left -= rows.length;
      const last = rows[rows.length - 1];
      cursor = { time: last.time, id: last.id };
    }
  }

  /** Deletes entries older than the retention period, a batch at a time; returns how many went. */
  async prune(now = new Date()): Promise<number> {
    const days = this.deps.config.auditRetentionDays;
    if (days <= 0) return 0;
    const cutoff = new Date(now.getTime() - days * 86_400_000).toISOString();
    let total = 0;
    for (;;) {
      const deleted = await pruneAuditLogs(this.deps.store.db, cutoff, 5000);
      total += deleted;
      if (deleted < 5000) return total;
    }
  }
}
