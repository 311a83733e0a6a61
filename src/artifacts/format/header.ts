// Reads the header tarball (`header.tar[.gz|.xz|.zst]`) and the augment header: header-info first, then state
// scripts, then per-update `headers/NNNN/type-info` and `meta-data` (and v2's `files`). The header is small and
// already verified against the manifest when this runs; it is still capped while decompressing.
import { ByteReader } from './bytes.js';
import { type Compression, decompress } from './decompress.js';
import { ArtifactError } from './errors.js';
import { dependsMap, type JsonObject, object, optionalObject, parseJson, stringList, stringMap } from './json.js';
import { safePath } from './manifest.js';
import { TarReader } from './tar.js';

export interface HeaderInfo {
  name: string;
  deviceTypes: string[];
  provides: Record<string, string>;
  depends: Record<string, string[]>;
  /** One per update: the payload type, null for an empty payload. */
  payloadTypes: (string | null)[];
}

export interface TypeInfo {
  type: string | null;
  provides: Record<string, string>;
  depends: Record<string, string | string[]>;
  clearsProvides: string[] | null;
}

export interface UpdateHeader {
  typeInfo: TypeInfo | null;
  metaData: JsonObject | null;
  /** v2: `headers/NNNN/files`, the payload file names. */
  fileNames: string[] | null;
}

export interface Header {
  info: HeaderInfo;
  scripts: string[];
  updates: UpdateHeader[];
}

interface HeaderReadOptions {
  version: 2 | 3;
  augment: boolean;
  maxDecompressed: number;
  what: string;
}

function payloadTypes(list: unknown, what: string): (string | null)[] {
  if (!Array.isArray(list)) throw new ArtifactError(`${what} must be a list`);
  return list.map((item, i) => {
    const entry = object(item, `${what}[${i}]`);
    if (entry.type === null || entry.type === undefined) return null;
    if (typeof entry.type !== 'string') throw new ArtifactError(`${what}[${i}].type must be a string`);
    return entry.type === '' ? null : entry.type;
  });
}

function headerInfo(bytes: Buffer, version: 2 | 3, augment: boolean): HeaderInfo {
  const info = object(parseJson(bytes, 'header-info'), 'header-info');
  if (version === 2) {
    const types = payloadTypes(info.updates, 'header-info updates');
    const name = info.artifact_name;
    if (typeof name !== 'string' || name === '') throw new ArtifactError('header-info has no artifact_name');
    const deviceTypes = stringList(info.device_types_compatible, 'header-info device_types_compatible');
    if (deviceTypes.length === 0) throw new ArtifactError('header-info has no compatible device types');
    return {
      name,
      deviceTypes,
      provides: { artifact_name: name },
      depends: { device_type: deviceTypes },
      payloadTypes: types,
    };
  }
  const types = payloadTypes(info.payloads, 'header-info payloads');
  const providesIn = optionalObject(info.artifact_provides, 'header-info artifact_provides');
  const dependsIn = optionalObject(info.artifact_depends, 'header-info artifact_depends');
  const provides: Record<string, string> = {};
  for (const key of ['artifact_name', 'artifact_group']) {
    const value = providesIn[key];
    if (value === undefined || value === null || value === '') continue;
    if (typeof value !== 'string') throw new ArtifactError(`header-info artifact_provides.${key} must be a string`);
    provides[key] = value;
  }
  const depends: Record<string, string[]> = {};
  for (const key of ['artifact_name', 'device_type', 'artifact_group']) {
    const value = dependsIn[key];
    if (value === undefined || value === null) continue;
    const list = stringList(value, `header-info artifact_depends.${key}`);
    if (list.length) depends[key] = list;
  }
  const name = provides.artifact_name ?? '';
  const deviceTypes = depends.device_type ?? [];
  if (!augment && name === '') throw new ArtifactError('header-info has no artifact_provides.artifact_name');
  if (!augment && deviceTypes.length === 0) throw new ArtifactError('header-info has no artifact_depends.device_type');
  return { name, deviceTypes, provides, depends, payloadTypes: types };
}

function typeInfo(bytes: Buffer, what: string): TypeInfo {
  const info = object(parseJson(bytes, what), what);
  if (info.type !== undefined && info.type !== null && typeof info.type !== 'string')
    throw new ArtifactError(`${what} type must be a string`);
  const clears = info.clears_artifact_provides;
  return {
    type: typeof info.type === 'string' && info.type !== '' ? info.type : null,
    provides: stringMap(info.artifact_provides, `${what} artifact_provides`),
    depends: dependsMap(info.artifact_depends, `${what} artifact_depends`),
    clearsProvides:
      clears === undefined || clears === null ? null : stringList(clears, `${what} clears_artifact_provides`),
  };
}

function metaData(bytes: Buffer, what: string): JsonObject | null {
  if (bytes.toString('utf8').trim() === '') return null;
  return object(parseJson(bytes, what), `${what} (its top level)`);
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return Buffer.concat(parts);
}

export async function readHeader(
  compressed: Buffer,
  compression: Compression,
  options: HeaderReadOptions,
): Promise<Header> {
  const { what, version } = options;
  let total = 0;
  const count = (n: number) => {
    total += n;
    if (total > options.maxDecompressed)
      throw new ArtifactError(`${what} decompresses to more than ${options.maxDecompressed} bytes`);
  };
  const source =
    compression === 'none'
      ? counted(compressed, count)
      : decompress(
          counted(compressed, () => {}),
          compression,
          count,
        );
  const bytes = new ByteReader(source, what);
  const tar = new TarReader(bytes, what);

  let info: HeaderInfo | undefined;
  const scripts: string[] = [];
  const updates = new Map<number, UpdateHeader>();
  const seen = new Set<string>();
  let inUpdates = false;
  try {
    for (let entry = await tar.next(); entry; entry = await tar.next()) {
      const name = safePath(entry.name.replace(/\/$/, ''), what);
      if (entry.kind === 'directory') continue;
      if (entry.kind !== 'file') throw new ArtifactError(`${what} entry ${name} is not a regular file`);
      if (seen.has(name)) throw new ArtifactError(`${what} has ${name} twice`);
      seen.add(name);
      const body = await collect(tar.body());
      if (!info) {
        if (name !== 'header-info') throw new ArtifactError(`${what} must start with header-info, not ${name}`);
        info = headerInfo(body, version, options.augment);
        continue;
      }
      const script = /^scripts\/([^/]+)$/.exec(name);
      if (script) {
        if (options.augment) throw new ArtifactError(`${what} may not carry state scripts`);
        if (inUpdates) throw new ArtifactError(`${what} has state script ${name} after the update headers`);
        scripts.push(script[1]);
        continue;
      }
      const part = /^headers\/(\d{4})\/(.+)$/.exec(name);
      if (!part) throw new ArtifactError(`${what} has an unexpected entry ${name}`);
      inUpdates = true;
      const index = Number(part[1]);
      if (index >= info.payloadTypes.length)
        throw new ArtifactError(`${what} has ${name}, but header-info lists ${info.payloadTypes.length} payload(s)`);
      const update = updates.get(index) ?? { typeInfo: null, metaData: null, fileNames: null };
      updates.set(index, update);
      if (part[2] === 'type-info') update.typeInfo = typeInfo(body, name);
      else if (part[2] === 'meta-data') update.metaData = metaData(body, name);
      else if (version === 2 && part[2] === 'files') {
        const files = object(parseJson(body, name), name);
        update.fileNames = stringList(files.files, `${name} files`);
      } else if (version === 2 && /^(checksums|signatures)\/[^/]+$/.test(part[2])) {
        // v2 kept these for v1 compatibility; the manifest is what counts.
      } else throw new ArtifactError(`${what} has an unexpected entry ${name}`);
    }
    await bytes.rest(options.maxDecompressed);
  } finally {
    await bytes.close();
  }
  if (!info) throw new ArtifactError(`${what} has no header-info`);
  return {
    info,
    scripts,
    updates: info.payloadTypes.map((_, i) => updates.get(i) ?? { typeInfo: null, metaData: null, fileNames: null }),
  };
}

/** Counts an uncompressed source too, so the same cap applies. */
async function* counted(bytes: Buffer, count: (n: number) => void) {
  count(bytes.length);
  yield bytes;
}
