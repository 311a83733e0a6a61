// What the artifact reader reports, in the words of the Mender artifact format (header-info, type-info, manifest).
import type { Compression } from './decompress.js';

export type { Compression };

export interface PayloadFile {
  name: string;
  size: number;
  /** sha256, hex, verified against the manifest. */
  checksum: string;
  /** Modification time from the data tarball, ISO 8601. */
  date: string;
  /** Listed in manifest-augment: not covered by the signature. */
  augment: boolean;
  /**
   * Offset of the file's first byte within the artifact when its data tarball is uncompressed (`data/NNNN.tar`):
   * the file can then be served as the byte range [offset, offset + size). Null for compressed data.
   */
  offset: number | null;
}

export interface UpdateInfo {
  index: number;
  /** Payload type (update module name); null for an empty payload (bootstrap artifact). */
  type: string | null;
  compression: Compression;
  /** The update's meta-data object (augment merged in), or null when it has none. */
  metaData: Record<string, unknown> | null;
  /** type-info artifact_provides (augment merged in). */
  provides: Record<string, string>;
  /** type-info artifact_depends (augment merged in); values as written: a string or a list of strings. */
  depends: Record<string, string | string[]>;
  /** type-info clears_artifact_provides. */
  clearsProvides: string[];
  files: PayloadFile[];
}

export interface ArtifactInfo {
  format: 'mender';
  version: 2 | 3;
  name: string;
  /** header-info device types (artifact_depends.device_type in v3, device_types_compatible in v2). */
  deviceTypes: string[];
  /** header-info artifact_provides: artifact_name and, when set, artifact_group. */
  provides: Record<string, string>;
  /** header-info artifact_depends: device_type and, when set, artifact_name and artifact_group. */
  depends: Record<string, string[]>;
  /**
   * The artifact as the Mender management API summarises it: header-level provides/depends merged with every
   * update's, depends values as lists, and the union of the updates' clears_provides.
   */
  combined: {
    provides: Record<string, string>;
    depends: Record<string, string[]>;
    clearsProvides: string[];
  };
  /** Names of the state scripts in the header (`scripts/<name>`). */
  scripts: string[];
  updates: UpdateInfo[];
  /** Carries manifest.sig. */
  signed: boolean;
  /** A key from `verifyKeys` verified the signature (always false when no keys were given). */
  verified: boolean;
  /** Carries manifest-augment and header-augment (unsigned additions). */
  augmented: boolean;
  headerCompression: Compression;
  /** Bytes of the artifact as read. */
  size: number;
}

/** Receives one payload file's bytes while the artifact is read. */
export interface PayloadSink {
  write(chunk: Buffer): void | Promise<void>;
  /** Called once the file's bytes are complete and match the manifest. */
  end(): void | Promise<void>;
  /** Called instead of `end` when reading fails while this file is open (bad checksum, truncation, ...). */
  abort?(error: Error): void | Promise<void>;
}

export interface ReadOptions {
  /** PEM public keys (RSA or ECDSA); when given, the artifact must be signed and one key must verify it. */
  verifyKeys?: string[];
  /** Cap on the stored size of each metadata part (version, manifest(s), signature, header tarballs). Default 1 MiB. */
  maxHeaderBytes?: number;
  /** Cap on the decompressed size of a header tarball. Default 8 MiB. */
  maxHeaderDecompressedBytes?: number;
  /** Cap on the decompressed bytes of all data tarballs together. Default 64 GiB. */
  maxPayloadBytes?: number;
  /**
   * Cap on how much a compressed data tarball may expand (decompressed / compressed size, with a 1 MiB floor).
   * Default 1100, just above gzip's largest possible ratio: only bombs (or near-empty images under xz/zstd) exceed it.
   */
  maxCompressionRatio?: number;
  /** Gets each payload file's bytes as they flow; return undefined to skip a file. */
  payloadSink?: (file: { update: number; name: string; size: number }) => PayloadSink | undefined;
}
