// Device connect's tables: each device's connection state (versioned), per-tenant switches and the record of who
// opened which terminal or moved which file (each also written to the audit log, src/audit, in the same
// transaction).
import type { Generated } from 'kysely';

export interface ConnectStateTable {
  tenant_id: string;
  device_id: string;
  /** `connected` | `disconnected`. */
  status: string;
  /** Raised by every new device socket; a disconnect only counts when it names the current version. */
  version: number;
  /** The server process holding the socket (cluster.ts); empty on a single process. */
  node_id: Generated<string>;
  created_ts: string;
  updated_ts: string;
}

export interface ConnectSettingsTable {
  tenant_id: string;
  /** 1 = allowed; each feature can be switched off per tenant. */
  terminal: Generated<number>;
  file_transfer: Generated<number>;
  port_forward: Generated<number>;
}

export interface ConnectEventTable {
  id: string;
  tenant_id: string;
  /** The user who acted. */
  actor_id: string;
  device_id: string;
  /** `open_terminal` | `close_terminal` | `download_file` | `upload_file` | `port_forward`. */
  action: string;
  session_id: string;
  /** JSON: e.g. the file path. */
  detail_json: string;
  ts: string;
}

export interface ConnectRecordingTable {
  tenant_id: string;
  session_id: string;
  seq: number;
  /** Pause before this piece of output, in milliseconds (Mender records pauses of 1.5 s and more). */
  delay_ms: number;
  data: Buffer;
  created_ts: string;
}

declare module '../store/schema.js' {
  interface Tables {
    deviceconnect_recordings: ConnectRecordingTable;
    deviceconnect_states: ConnectStateTable;
    deviceconnect_settings: ConnectSettingsTable;
    deviceconnect_events: ConnectEventTable;
  }
}
