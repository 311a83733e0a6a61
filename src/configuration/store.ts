// SQL of device configuration: one row per device, replaced map by map.
import type { Kysely, Transaction } from 'kysely';
import type { Tables } from '../store/schema.js';
import type { DeviceConfigurationTable } from './tables.js';

export class ConfigurationStore {
  constructor(
    private readonly db: Kysely<Tables> | Transaction<Tables>,
    private readonly tenantId: string,
  ) {}

  async get(deviceId: string): Promise<DeviceConfigurationTable | undefined> {
    return this.db
      .selectFrom('device_configurations')
      .selectAll()
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
  }

  /** Makes the device's record when it has none; an existing one (configured before acceptance) stays. */
  async provision(deviceId: string, ts: string): Promise<void> {
    await this.db
      .insertInto('device_configurations')
      .values({
        tenant_id: this.tenantId,
        device_id: deviceId,
        configured_json: '{}',
        reported_json: '{}',
        deployment_id: null,
        updated_ts: ts,
        reported_ts: null,
      })
      .onConflict((oc) => oc.column('device_id').doNothing())
      .execute();
  }

  async setConfigured(deviceId: string, configuredJson: string, ts: string): Promise<void> {
    await this.provision(deviceId, ts);
    await this.update(deviceId, { configured_json: configuredJson, updated_ts: ts });
  }

  async setReported(deviceId: string, reportedJson: string, ts: string): Promise<void> {
    await this.provision(deviceId, ts);
    await this.update(deviceId, { reported_json: reportedJson, reported_ts: ts });
  }

  async setDeployment(deviceId: string, deploymentId: string): Promise<void> {
    await this.update(deviceId, { deployment_id: deploymentId });
  }

  async remove(deviceId: string): Promise<void> {
    await this.db
      .deleteFrom('device_configurations')
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .execute();
  }

  private async update(deviceId: string, changes: Partial<DeviceConfigurationTable>): Promise<void> {
    await this.db
      .updateTable('device_configurations')
      .set(changes)
      .where('tenant_id', '=', this.tenantId)
      .where('device_id', '=', deviceId)
      .execute();
  }
}
