// Tenants own every other row. The default tenant exists from the first start.
import type { Generated } from 'kysely';

export interface TenantTable {
  id: string;
  name: string;
  /** Sent by Mender devices in auth requests; unique across tenants. */
  tenant_token: string;
  /** The `{tenant}` of hawkBit DDI paths. */
  hawkbit_name: string;
  /** 1 for the tenant created at first start. */
  is_default: number;
  /** 0 means no limit. */
  max_devices: Generated<number>;
  /** Bytes of artifact storage allowed; 0 means no limit. */
  storage_limit: Generated<number>;
  created_ts: string;
  /** JSON array of PEM public keys that uploaded artifacts must be signed with; empty means no check. */
  artifact_keys_json: Generated<string>;
}

export interface SigningKeyTable {
  id: string;
  /** PKCS#8 PEM of the RS256 key that signs user and device JWTs; shared by every server process. */
  private_pem: string;
  created_ts: string;
}

declare module '../store/schema.js' {
  interface Tables {
    tenants: TenantTable;
    signing_keys: SigningKeyTable;
  }
}
