// hawkBit DDI tables: which Flotilla devices are DDI targets (controller id, target token hash, what they run),
// the tenant's DDI settings, the numeric action ids hawkBit devices see (one per device deployment attempt), the
// numeric software module ids (one per artifact update) and payload file hashes (md5/sha1 are not in artifacts).
import type { Generated } from 'kysely';

export interface DdiTargetTable {
  tenant_id: string;
  controller_id: string;
  device_id: string;
  /** sha256 (hex) of the target token; null when the target only came in by gateway token or anonymously. */
  token_hash: string | null;
  /** Per-target device type; null: the inventory's device_type (configData) or the tenant default. */
  device_type: string | null;
  /** What the target last installed successfully (its `artifact_name`); null before any. */
  artifact_name: string | null;
  /** 1 once the target sent configData (then the poll stops asking for it). */
  config_sent: number;
  /** The action whose attempt the target last finished in success (installedBase); null before any. */
  installed_action_id: number | null;
  /** The target's own auto-confirmation ({initiator?, remark?, activatedAt}) as JSON; null: not active. */
  auto_confirm_json: string | null;
  created_ts: string;
  updated_ts: string;
}

export interface DdiSettingsTable {
  tenant_id: string;
  /** sha256 (hex) of the tenant's gateway token; null: gateway tokens are off. */
  gateway_token_hash: string | null;
  /** 1: targets may poll without any credential (hawkBit's anonymous mode). Off unless an operator sets it. */
  anonymous: number;
  /** 1: targets registered by gateway token or anonymously are accepted at once; 0: they wait as pending. */
  auto_accept: number;
  default_device_type: string;
  /** config.polling.sleep in seconds. */
  polling_sleep: number;
  /** 1 (default): every action is confirmed at once; 0: a target confirms each one unless it auto-confirms. */
  auto_confirm: number;
}

/** What a DDI device sees of an action; derived from the deployments domain's attempt, never stored. */
export type DdiActionStatus = 'waiting' | 'open' | 'canceling' | 'closed';

export interface DdiActionTable {
  id: Generated<number>;
  tenant_id: string;
  device_id: string;
  deployment_id: string;
  /** The device deployment attempt this action serves (a retry is a new action). */
  attempt: number;
  artifact_id: string;
  artifact_name: string;
  /** When the device acknowledged the cancellation of this action (its attempt was aborted); DDI's own fact. */
  cancel_acknowledged_ts: string | null;
  /** When the action was confirmed (by the target, or automatically); null: it waits for the target's confirmation. */
  confirmed_ts: string | null;
  created_ts: string;
  updated_ts: string;
}

export interface DdiModuleTable {
  id: Generated<number>;
  tenant_id: string;
  artifact_id: string;
  update_index: number;
}

export interface DdiFileTable {
  tenant_id: string;
  artifact_id: string;
  update_index: number;
  file_name: string;
  size: number;
  md5: string;
  sha1: string;
  sha256: string;
}

declare module '../../store/schema.js' {
  interface Tables {
    ddi_targets: DdiTargetTable;
    ddi_settings: DdiSettingsTable;
    ddi_actions: DdiActionTable;
    ddi_modules: DdiModuleTable;
    ddi_files: DdiFileTable;
  }
}

export type DdiActionRow = import('kysely').Selectable<DdiActionTable>;

/** An action as DDI shows it: its row, and its lifecycle read off the attempt it serves. */
export interface DdiAction extends DdiActionRow {
  status: DdiActionStatus;
  /** A closed action's result: success, failure, canceled, or the attempt's final status. */
  result: string | null;
}
