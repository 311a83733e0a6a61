// Devices and their Mender authentication sets. A device's status is derived from its auth sets
// (accepted > preauthorized > pending > rejected) and stored on the device row for filtering.
export type DeviceStatus = 'pending' | 'accepted' | 'rejected' | 'preauthorized' | 'noauth';
export type AuthSetStatus = 'pending' | 'accepted' | 'rejected' | 'preauthorized';

export interface DeviceTable {
  tenant_id: string;
  id: string;
  status: DeviceStatus;
  /** Canonical JSON (sorted keys) of the identity data. */
  identity_json: string;
  /** sha256 hex of identity_json; unique per tenant. */
  identity_hash: string;
  decommissioning: number;
  created_ts: string;
  /** Moves only when the status changes, as in Mender. */
  updated_ts: string;
  /** When the device last authenticated or used its token (to the minute); null before it ever did. */
  check_in_ts: string | null;
}

export interface AuthSetTable {
  tenant_id: string;
  id: string;
  device_id: string;
  identity_json: string;
  /** PEM (SPKI) as the device sent it, normalised. */
  pubkey: string;
  status: AuthSetStatus;
  created_ts: string;
}

/** An issued device JWT; the JWT's `jti` is the row id. Deleting the row revokes the token at once. */
export interface DeviceTokenTable {
  tenant_id: string;
  id: string;
  device_id: string;
  auth_set_id: string;
  created_ts: string;
  expires_ts: string;
}

declare module '../store/schema.js' {
  interface Tables {
    devices: DeviceTable;
    auth_sets: AuthSetTable;
    device_tokens: DeviceTokenTable;
  }
}
