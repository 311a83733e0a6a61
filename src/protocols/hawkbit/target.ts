// Who a DDI request is (a target of a tenant), and what the actions and payloads of a target need to know of it.
import type { Transaction } from 'kysely';
import type { Tables } from '../../store/schema.js';
import type { DdiStore } from './store.js';
import type { DdiSettingsTable, DdiTargetTable } from './tables.js';

export interface Target {
  tenantId: string;
  row: DdiTargetTable;
  /** The device's admission status when the request came (DDI targets are offered work only when accepted). */
  deviceStatus?: string | null;
}

/** What actions.ts needs of the targets part of the adapter (DdiService). */
export interface Targets {
  store(tenantId: string, trx?: Transaction<Tables>): DdiStore;
  settings(tenantId: string): Promise<DdiSettingsTable>;
  deviceType(target: Target): Promise<string>;
  writeInventory(tenantId: string, deviceId: string, row: DdiTargetTable, trx?: Transaction<Tables>): Promise<void>;
}
