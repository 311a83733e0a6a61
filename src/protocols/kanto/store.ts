// Kanto's SQL, through Kysely: Kanto devices, activities, and the look at device deployments that finds work due.
import type { Kysely } from 'kysely';
import type { Tables } from '../../store/schema.js';
import {
  type ActivityStatus,
  type ConsentDecision,
  KANTO_FACE,
  type KantoActivityTable,
  type KantoConsentDecisionTable,
  type KantoConsentTable,
  type KantoDeviceTable,
} from './tables.js';

export const OPEN_ACTIVITY: ActivityStatus[] = ['sent', 'acknowledged', 'running'];

export class KantoStore {
  constructor(private readonly db: Kysely<Tables>) {}

  deviceByThing(tenantId: string, thingId: string): Promise<KantoDeviceTable | undefined> {
    return this.db
      .selectFrom('kanto_devices')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('thing_id', '=', thingId)
      .executeTakeFirst();
  }

  /**
   * The thing with where its device stands in admission (does it exist, is it being decommissioned, the status of
   * its Kanto face), in one statement: every message needs both.
   */
  deviceWithStanding(tenantId: string, thingId: string) {
    return this.db
      .selectFrom('kanto_devices as k')
      .leftJoin('devices as d', (join) =>
        join.onRef('d.tenant_id', '=', 'k.tenant_id').onRef('d.id', '=', 'k.device_id'),
      )
      .leftJoin('auth_sets as a', (join) =>
        join
          .onRef('a.tenant_id', '=', 'k.tenant_id')
          .onRef('a.device_id', '=', 'k.device_id')
          .on('a.pubkey', '=', KANTO_FACE),
      )
      .selectAll('k')
      .select(['d.id as standing_device', 'd.decommissioning as standing_decommissioning', 'a.status as face_status'])
      .where('k.tenant_id', '=', tenantId)
      .where('k.thing_id', '=', thingId)
      .executeTakeFirst();
  }

  deviceByAuthId(tenantId: string, authId: string): Promise<KantoDeviceTable | undefined> {
    return this.db
      .selectFrom('kanto_devices')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('auth_id', '=', authId)
      .executeTakeFirst();
  }

  deviceById(tenantId: string, deviceId: string): Promise<KantoDeviceTable | undefined> {
    return this.db
      .selectFrom('kanto_devices')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
  }

  /** Registers a thing or replaces its registration (a new password, device type or device). */
  async upsertDevice(row: KantoDeviceTable): Promise<void> {
    await this.db
      .deleteFrom('kanto_devices')
      .where('tenant_id', '=', row.tenant_id)
      .where((eb) => eb.or([eb('thing_id', '=', row.thing_id), eb('device_id', '=', row.device_id)]))
      .execute();
    await this.db.insertInto('kanto_devices').values(row).execute();
  }

  /** A decommissioned device's thing registration (and broker password) goes with it. */
  async forgetDevice(tenantId: string, deviceId: string): Promise<void> {
    await this.db
      .deleteFrom('kanto_devices')
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .execute();
  }

  async updateDevice(tenantId: string, deviceId: string, changes: Partial<KantoDeviceTable>): Promise<void> {
    await this.db
      .updateTable('kanto_devices')
      .set(changes)
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .execute();
  }

  /** Every Kanto device heard from at least once (the dynamic-deployment poll walks them). */
  seenDevices(): Promise<KantoDeviceTable[]> {
    return this.db.selectFrom('kanto_devices').selectAll().where('last_seen_ts', 'is not', null).execute();
  }

  async insertActivity(row: KantoActivityTable): Promise<void> {
    await this.db.insertInto('kanto_activities').values(row).execute();
  }

  activity(id: string): Promise<KantoActivityTable | undefined> {
    return this.db.selectFrom('kanto_activities').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The device's open activities, newest first. */
  openActivities(tenantId: string, deviceId: string): Promise<KantoActivityTable[]> {
    return this.db
      .selectFrom('kanto_activities')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('device_id', '=', deviceId)
      .where('status', 'in', OPEN_ACTIVITY)
      .orderBy('created_ts', 'desc')
      .execute();
  }

  /**
   * Moves an activity on, only from the state it was read in (and, for feedback, only forward in time), so that a
   * replayed or concurrent message changes nothing. Answers whether it did.
   */
  async advanceActivity(
    row: Pick<KantoActivityTable, 'id' | 'status' | 'feedback_ts' | 'feedback_digest'>,
    changes: Partial<KantoActivityTable>,
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('kanto_activities')
      .set(changes)
      .where('id', '=', row.id)
      .where('status', '=', row.status)
      .where('feedback_ts', '=', row.feedback_ts)
      .where('feedback_digest', '=', row.feedback_digest)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Open activities older than `before` (their device never answered, or the process that sent them died). */
  staleActivities(before: string, limit = 200): Promise<KantoActivityTable[]> {
    return this.db
      .selectFrom('kanto_activities')
      .selectAll()
      .where('status', '=', 'sent')
      .where('updated_ts', '<', before)
      .limit(limit)
      .execute();
  }

  /** Finished refreshes leave nothing worth keeping once the current state is in inventory. */
  async deleteFinishedRefreshes(before: string): Promise<void> {
    await this.db
      .deleteFrom('kanto_activities')
      .where('kind', '=', 'refresh')
      .where('status', 'in', ['completed', 'failed'])
      .where('updated_ts', '<', before)
      .execute();
  }

  /** Whether an apply was ever sent for this attempt. */
  async hasActivityFor(ref: { tenantId: string; deviceId: string; deploymentId: string; attempt: number }) {
    const row = await this.db
      .selectFrom('kanto_activities')
      .select('id')
      .where('tenant_id', '=', ref.tenantId)
      .where('deployment_id', '=', ref.deploymentId)
      .where('device_id', '=', ref.deviceId)
      .where('attempt', '=', ref.attempt)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** A consent request replaces the activity's earlier one (the update manager asks before each phase). */
  async saveConsentRequest(row: KantoConsentTable): Promise<void> {
    await this.db.deleteFrom('kanto_consents').where('activity_id', '=', row.activity_id).execute();
    await this.db.insertInto('kanto_consents').values(row).execute();
  }

  /** Records the answer unless one was recorded already (by another process or message); answers whether it did. */
  async answerConsent(row: KantoConsentTable, answer: ConsentDecision, ts: string): Promise<boolean> {
    const result = await this.db
      .updateTable('kanto_consents')
      .set({ answer, answered_ts: ts })
      .where('activity_id', '=', row.activity_id)
      .where('correlation_id', '=', row.correlation_id)
      .where('answered_ts', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  waitingConsents(tenantId: string, where: { deploymentId?: string; deviceId?: string }) {
    let query = this.db
      .selectFrom('kanto_consents')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('answered_ts', 'is', null);
    if (where.deploymentId) query = query.where('deployment_id', '=', where.deploymentId);
    if (where.deviceId) query = query.where('device_id', '=', where.deviceId);
    return query.execute();
  }

  consentRequests(tenantId: string, deploymentId: string): Promise<KantoConsentTable[]> {
    return this.db
      .selectFrom('kanto_consents')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('deployment_id', '=', deploymentId)
      .orderBy('requested_ts')
      .execute();
  }

  consentDecision(tenantId: string, deploymentId: string): Promise<KantoConsentDecisionTable | undefined> {
    return this.db
      .selectFrom('kanto_consent_decisions')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('deployment_id', '=', deploymentId)
      .executeTakeFirst();
  }

  /** An operator may change the decision; requests already answered keep their answer. */
  async saveConsentDecision(row: KantoConsentDecisionTable): Promise<void> {
    await this.db
      .insertInto('kanto_consent_decisions')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['tenant_id', 'deployment_id']).doUpdateSet({ decision: row.decision, decided_ts: row.decided_ts }),
      )
      .execute();
  }
}
