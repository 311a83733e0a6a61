// Artifacts and releases. An artifact is stored whole as one blob; its metadata is kept here as the wire shapes
// the Mender API returns, plus one row per compatible device type so that a device's artifact is an indexed look-up.
import type { Generated } from 'kysely';

export type ArtifactKind = 'mender' | 'file';

export interface ArtifactTable {
  tenant_id: string;
  id: string;
  name: string;
  description: string;
  kind: ArtifactKind;
  format: string;
  format_version: number;
  signed: number;
  /** JSON: [{ type_info: { type }, files: [{ name, checksum, size, date }], meta_data }] */
  updates_json: string;
  /** JSON objects: provides { key: value }, depends { key: [values] }, clears_provides [patterns]. */
  provides_json: string;
  depends_json: string;
  clears_provides_json: string;
  /** JSON: where each payload file's bytes sit in the blob when they can be served without unpacking. */
  payloads_json: string;
  size: number;
  blob_key: string;
  created_ts: string;
  modified: string;
}

export interface ArtifactDeviceTypeTable {
  tenant_id: string;
  artifact_id: string;
  device_type: string;
  /** The artifact's name and depends, hashed (uniqueness.ts): unique per tenant and device type. */
  uniqueness_key: string | null;
}

export interface ReleaseTable {
  tenant_id: string;
  name: string;
  notes: string;
  /** JSON array of tag strings. */
  tags_json: string;
  modified: string;
}

/**
 * A direct upload (Mender's on-premise "directupload"): an operator asked for a link, PUTs the artifact's bytes
 * to it, then says it is complete; the artifact then gets the upload's id.
 */
export interface ArtifactUploadTable {
  tenant_id: string;
  id: string;
  /** pending: link handed out; uploaded: bytes stored under blob_key; the row goes when the upload completes. */
  status: 'pending' | 'uploaded';
  blob_key: string | null;
  /** Bytes under blob_key (0 before any): counted in the tenant's storage use until completed or abandoned. */
  size: Generated<number>;
  created_ts: string;
  expires_ts: string;
}

declare module '../store/schema.js' {
  interface Tables {
    artifact_uploads: ArtifactUploadTable;
    artifacts: ArtifactTable;
    artifact_device_types: ArtifactDeviceTypeTable;
    releases: ReleaseTable;
  }
}
