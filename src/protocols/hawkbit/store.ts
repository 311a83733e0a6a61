// The SQL of the DDI adapter (targets, settings, actions, modules, file hashes), scoped to one tenant.
import type { Store } from '../../store/db.js';
import type { DdiActionRow, DdiFileTable, DdiSettingsTable, DdiTargetTable } from './tables.js';

type Db = Store['db'];

export class DdiStore {
  constructor(
    private readonly db: Db,
    readonly tenantId: string,
  ) {}

  target(controllerId: string): Promise<DdiTargetTable | undefined> {
    return this.db
      .selectFrom('ddi_targets')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('controller_id', '=', controllerId)
      .executeTakeFirst();
  }

  async insertTarget(row: DdiTargetTable): Promise<boolean> {
    const result = await this.db
      .insertInto('ddi_targets')
      .values(row)
      .onConflict((oc) => oc.columns(['tenant_id', 'controller_id']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async updateTarget(controllerId: string, changes: Partial<DdiTargetTable>): Promise<void> {
    await this.db
      .updateTable('ddi_targets')
      .set(changes)
      .where('tenant_id', '=', this.tenantId)
      .where('controller_id', '=', controllerId)
      .execute();
  }

  async deleteTarget(controllerId: string): Promise<void> {
    await this.db
      .deleteFrom('ddi_targets')
      .where('tenant_id', '=', this.tenantId)
      .where('controller_id', '=', controllerId)
      .execute();
  }

  settings(): Promise<DdiSettingsTable | undefined> {
    return this.db.selectFrom('ddi_settings').selectAll().where('tenant_id', '=', this.tenantId).executeTakeFirst();
  }

  async saveSettings(row: DdiSettingsTable): Promise<void> {
    await this.db
      .insertInto('ddi_settings')
      .values(row)
      .onConflict((oc) =>
        oc.column('tenant_id').doUpdateSet({
          gateway_token_hash: row.gateway_token_hash,
          anonymous: row.anonymous,
          auto_accept: row.auto_accept,
          default_device_type: row.default_device_type,
          polling_sleep: row.polling_sleep,
          auto_confirm: row.auto_confirm,
        }),
      )
      .execute();
  }

  /** The device's newest action (its current attempt's, if it has one). */
  latestAction(deviceId: string): Promise<DdiActionRow | undefined> {
    return this.db
      .selectFrom('ddi_actions')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  action(id: number): Promise<DdiActionRow | undefined> {
    return this.db
      .selectFrom('ddi_actions')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** One action per device deployment attempt, also when two polls race (the unique index decides). */
  async actionFor(row: Omit<DdiActionRow, 'id'>): Promise<DdiActionRow> {
    await this.db
      .insertInto('ddi_actions')
      .values(row)
      .onConflict((oc) => oc.columns(['tenant_id', 'deployment_id', 'device_id', 'attempt']).doNothing())
      .execute();
    return this.db
      .selectFrom('ddi_actions')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('deployment_id', '=', row.deployment_id)
      .where('device_id', '=', row.device_id)
      .where('attempt', '=', row.attempt)
      .executeTakeFirstOrThrow();
  }

  async acknowledgeCancel(id: number, ts: string): Promise<void> {
    await this.db
      .updateTable('ddi_actions')
      .set({ cancel_acknowledged_ts: ts, updated_ts: ts })
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .where('cancel_acknowledged_ts', 'is', null)
      .execute();
  }

  /** Confirms the device's actions still unconfirmed (one, or all of them when auto-confirmation starts). */
  async confirm(deviceId: string, ts: string, actionId?: number): Promise<void> {
    let update = this.db
      .updateTable('ddi_actions')
      .set({ confirmed_ts: ts, updated_ts: ts })
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .where('confirmed_ts', 'is', null);
    if (actionId !== undefined) update = update.where('id', '=', actionId);
    await update.execute();
  }

  /** Targets of a decommissioned device go with it (called in the decommissioning transaction). */
  async deleteTargetsOf(deviceId: string): Promise<void> {
    await this.db
      .deleteFrom('ddi_targets')
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .execute();
  }

  /** The target with the tenant's settings and its device's admission status, in one statement (every request). */
  async targetForRequest(controllerId: string) {
    return this.db
      .selectFrom('ddi_targets as t')
      .leftJoin('devices as d', (join) =>
        join.onRef('d.id', '=', 't.device_id').onRef('d.tenant_id', '=', 't.tenant_id'),
      )
      .selectAll('t')
      .select('d.status as device_status')
      .where('t.tenant_id', '=', this.tenantId)
      .where('t.controller_id', '=', controllerId)
      .executeTakeFirst();
  }

  async moduleId(artifactId: string, updateIndex: number): Promise<number> {
    await this.db
      .insertInto('ddi_modules')
      .values({ tenant_id: this.tenantId, artifact_id: artifactId, update_index: updateIndex })
      .onConflict((oc) => oc.columns(['tenant_id', 'artifact_id', 'update_index']).doNothing())
      .execute();
    const row = await this.db
      .selectFrom('ddi_modules')
      .select('id')
      .where('tenant_id', '=', this.tenantId)
      .where('artifact_id', '=', artifactId)
      .where('update_index', '=', updateIndex)
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  module(id: number) {
    return this.db
      .selectFrom('ddi_modules')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  files(artifactId: string, updateIndex: number): Promise<DdiFileTable[]> {
    return this.db
      .selectFrom('ddi_files')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('artifact_id', '=', artifactId)
      .where('update_index', '=', updateIndex)
      .execute();
  }

  async saveFile(row: DdiFileTable): Promise<void> {
    await this.db
      .insertInto('ddi_files')
      .values(row)
      .onConflict((oc) => oc.columns(['tenant_id', 'artifact_id', 'update_index', 'file_name']).doNothing())
      .execute();
  }

  /** True when the device was ever given an action for this artifact (what lets it download the artifact's files). */
  async assigned(deviceId: string, artifactId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('ddi_actions')
      .select('id')
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .where('artifact_id', '=', artifactId)
      .executeTakeFirst();
    return row !== undefined;
  }
}
