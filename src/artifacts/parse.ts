// Adapts the streaming Mender artifact reader (./reader) to what the artifact service records and the
// Mender API shows: `updates` with type_info, files and both metadata shapes of the spec.
import type { Readable } from 'node:stream';
import { readArtifact } from './reader/reader.js';
import type { ParsedArtifact, WireUpdate } from './service.js';

export async function parseMenderArtifact(
  source: Readable,
  options: { verifyKeys?: string[] } = {},
): Promise<ParsedArtifact> {
  const info = await readArtifact(source, { verifyKeys: options.verifyKeys });
  const updates: WireUpdate[] = info.payloads.map((p) => {
    const meta =
      p.metaData && typeof p.metaData === 'object' && !Array.isArray(p.metaData)
        ? (p.metaData as Record<string, unknown>)
        : undefined;
    return {
      type_info: { type: p.type },
      files: p.files.map((f) => ({ name: f.name, checksum: f.checksum, size: f.size })),
      meta_data: meta ? [meta] : [],
      metadata: meta
        ? Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]))
        : {},
    };
  });
  return {
    name: info.name,
    kind: 'mender',
    format: info.format,
    version: info.version,
    signed: info.signed,
    deviceTypes: info.deviceTypes,
    provides: info.provides,
    depends: info.depends,
    clearsProvides: info.clearsProvides,
    updates,
    payloads: null,
  };
}
