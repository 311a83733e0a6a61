// Device connect's rules: a device's connected/disconnected state (versioned, so that a stale disconnect never
// marks a reconnected device offline), the per-tenant switches, and the record of terminal and file events.

import { randomUUID } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import { type AuditActor, recordAudit } from '../audit/service.js';
import type { CoreDeps } from '../core.js';
import { now } from '../store/db.js';
import type { Tables } from '../store/schema.js';

export type ConnectFeature = 'terminal' | 'file_transfer' | 'port_forward';
export const FEATURES: ConnectFeature[] = ['terminal', 'file_transfer', 'port_forward'];
export type ConnectSettings = Record<ConnectFeature, boolean>;

export interface ConnectStateView {
  device_id: string;
  status: 'connected' | 'disconnected';
  created_ts: string;
  updated_ts: string;
}

export interface ConnectEvent {
  tenantId: string;
  actorId: string;
  deviceId: string;
  action: 'open_terminal' | 'close_terminal' | 'download_file' | 'upload_file' | 'port_forward';
  sessionId: string;
  detail?: Record<string, unknown>;
}

export class ConnectService {
  constructor(private readonly deps: Pick<CoreDeps, 'store'>) {}

  private get db() {
    return this.deps.store.db;
  }

  /** Marks the device connected; the returned version names this socket in its later `disconnected`. */
  async connected(tenantId: string, deviceId: string, nodeId = ''): Promise<number> {
    const ts = now();
    const row = await this.db
      .insertInto('deviceconnect_states')
      .values({
        tenant_id: tenantId,
        device_id: deviceId,
        status: 'connected',
        version: 1,
        node_id: nodeId,
        created_ts: ts,
        updated_ts: ts,
      })
      .onConflict((oc) =>
        oc.columns(['tenant_id', 'device_id']).doUpdateSet({
          status: 'connected',
          node_id: nodeId,
          version: sql<number>`deviceconnect_states.version + 1`,
          updated_ts: ts,
        }),
      )
      .returning('version')
      .executeTakeFirstOrThrow();
    return Number(row.version);
  }

  /** Marks the device disconnected unless a newer socket has connected since `version`. */
  async disconnected(tenantId: string, deviceId: string, version: number): Promise<boolean> {
    const result = await this.db
      .updateTable('deviceconnect_states')
      .set({ status: 'disconnected', updated_ts: now() })
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .where('version', '=', version)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** The server process holding the device's socket, when it is connected. */
  async ownerOf(tenantId: string, deviceId: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('deviceconnect_states')
      .select(['status', 'node_id'])
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return row?.status === 'connected' ? row.node_id : undefined;
  }

  /** The state of a device the caller knows exists; a device that never connected is `disconnected`. */
  async state(tenantId: string, deviceId: string, deviceCreated: string): Promise<ConnectStateView> {
    const row = await this.db
      .selectFrom('deviceconnect_states')
      .select(['status', 'created_ts', 'updated_ts'])
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    if (!row)
      return { device_id: deviceId, status: 'disconnected', created_ts: deviceCreated, updated_ts: deviceCreated };
    return {
      device_id: deviceId,
      status: row.status === 'connected' ? 'connected' : 'disconnected',
      created_ts: row.created_ts,
      updated_ts: row.updated_ts,
    };
  }

  async settings(tenantId: string): Promise<ConnectSettings> {
    const row = await this.db
      .selectFrom('deviceconnect_settings')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return {
      terminal: row ? Number(row.terminal) === 1 : true,
      file_transfer: row ? Number(row.file_transfer) === 1 : true,
      port_forward: row ? Number(row.port_forward) === 1 : true,
    };
  }

  async setSettings(tenantId: string, settings: ConnectSettings, actor?: AuditActor): Promise<void> {
    const values = {
      terminal: settings.terminal ? 1 : 0,
      file_transfer: settings.file_transfer ? 1 : 0,
      port_forward: settings.port_forward ? 1 : 0,
    };
    await this.deps.store.transaction(async (trx) => {
      await trx
        .insertInto('deviceconnect_settings')
        .values({ tenant_id: tenantId, ...values })
        .onConflict((oc) => oc.column('tenant_id').doUpdateSet(values))
        .execute();
      if (actor) {
        await recordAudit(trx, tenantId, {
          actor,
          action: 'update',
          object: { type: 'tenant', id: tenantId },
          change: JSON.stringify({ deviceconnect_settings: settings }),
        });
      }
    });
  }

  /**
   * Records an operator's session event, and its audit entry (Mender's open_terminal, upload_file, ...; the
   * session id in `meta`, as Mender's GUI reads it) in the same transaction.
   */
  async record(event: ConnectEvent): Promise<void> {
    await this.deps.store.transaction(async (trx) => {
      await this.insertEvent(trx, event);
      await recordAudit(trx, event.tenantId, {
        actor: { userId: event.actorId },
        action: event.action === 'port_forward' ? 'open_portforward' : event.action,
        object: { type: 'device', id: event.deviceId },
        change: event.detail ? JSON.stringify(event.detail) : undefined,
        meta: { session_id: [event.sessionId] },
      });
    });
  }

  private async insertEvent(trx: Transaction<Tables>, event: ConnectEvent): Promise<void> {
    await trx
      .insertInto('deviceconnect_events')
      .values({
        id: randomUUID(),
        tenant_id: event.tenantId,
        actor_id: event.actorId,
        device_id: event.deviceId,
        action: event.action,
        session_id: event.sessionId,
        detail_json: JSON.stringify(event.detail ?? {}),
        ts: now(),
      })
      .execute();
  }

  /** Appends pieces of a terminal session's output, in order. */
  async appendRecording(
    tenantId: string,
    sessionId: string,
    firstSeq: number,
    pieces: { delayMs: number; data: Buffer }[],
  ): Promise<void> {
    if (pieces.length === 0) return;
    const ts = now();
    await this.db
      .insertInto('deviceconnect_recordings')
      .values(
        pieces.map((p, i) => ({
          tenant_id: tenantId,
          session_id: sessionId,
          seq: firstSeq + i,
          delay_ms: p.delayMs,
          data: p.data,
          created_ts: ts,
        })),
      )
      .execute();
  }

  /** A recorded session of the tenant, in order; undefined when there is none. */
  async recording(tenantId: string, sessionId: string): Promise<{ delayMs: number; data: Buffer }[] | undefined> {
    const rows = await this.db
      .selectFrom('deviceconnect_recordings')
      .select(['delay_ms', 'data'])
      .where('tenant_id', '=', tenantId)
      .where('session_id', '=', sessionId)
      .orderBy('seq')
      .execute();
    if (rows.length === 0) return undefined;
    return rows.map((r) => ({ delayMs: Number(r.delay_ms), data: Buffer.from(r.data) }));
  }

  async events(tenantId: string, deviceId?: string) {
    let query = this.db
      .selectFrom('deviceconnect_events')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('ts')
      .orderBy('id');
    if (deviceId) query = query.where('device_id', '=', deviceId);
    return (await query.execute()).map((r) => ({
      id: r.id,
      actor_id: r.actor_id,
      device_id: r.device_id,
      action: r.action,
      session_id: r.session_id,
      detail: JSON.parse(r.detail_json) as Record<string, unknown>,
      ts: r.ts,
    }));
  }
}
