// Adapts the streaming Mender artifact reader (./format) to what the artifact service records and the Mender API
// shows: `updates` with type_info, files and both metadata shapes of the spec, the combined provides/depends, and
// where each payload file sits in the stored artifact (for serving payload files one by one).
import type { Readable } from 'node:stream';
import { readArtifact } from './format/reader.js';
import type { ParsedArtifact, WireUpdate } from './service.js';

/** Where a payload file's bytes sit in the stored artifact; offset null when its data tarball is compressed. */
export interface PayloadLocation {
  update: number;
  name: string;
  size: number;
  offset: number | null;
}

export async function parseMenderArtifact(
  source: Readable,
  options: { verifyKeys?: string[] } = {},
): Promise<ParsedArtifact> {
  const info = await readArtifact(source, { verifyKeys: options.verifyKeys });
  const updates: WireUpdate[] = info.updates.map((u) => ({
    type_info: { type: u.type },
    files: u.files.map((f) => ({ name: f.name, checksum: f.checksum, size: f.size, date: f.date })),
    meta_data: u.metaData ? [u.metaData] : [],
    metadata: u.metaData
      ? Object.fromEntries(
          Object.entries(u.metaData).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
        )
      : {},
  }));
  const payloads: PayloadLocation[] = info.updates.flatMap((u) =>
    u.files.map((f) => ({ update: u.index, name: f.name, size: f.size, offset: f.offset })),
  );
  return {
    name: info.name,
    kind: 'mender',
    format: info.format,
    version: info.version,
    signed: info.signed,
    deviceTypes: info.deviceTypes,
    provides: info.combined.provides,
    depends: info.combined.depends,
    clearsProvides: info.combined.clearsProvides,
    updates,
    payloads,
  };
}
